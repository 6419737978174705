import { TrainerError } from '../../shared/errors';

/**
 * The value model: what a PyTorch pickle holds, as JavaScript values that round-trip.
 *
 * | Python                         | JavaScript                                                     |
 * |--------------------------------|----------------------------------------------------------------|
 * | `None`                         | `null`                                                         |
 * | `bool`                         | `boolean`                                                      |
 * | `int`                          | `number` (a safe integer) or `bigint` (beyond ±2^53)            |
 * | `float`                        | `PyFloat` on read; on write a `PyFloat`, or a `number` that is  |
 * |                                | not a safe integer (0.001, NaN, -0). `1.0` needs `pyFloat(1)`.  |
 * | `str`                          | `string`                                                       |
 * | `list`                         | `PyValue[]`                                                    |
 * | `tuple`                        | `PyTuple` (`.items`)                                           |
 * | `dict` / `OrderedDict`         | `PyDict` (a `Map`; `.ordered` tells which); keys keep their    |
 * |                                | type, so `0` and `'0'` are different keys as in Python         |
 * | `torch.Tensor`                 | `Tensor` `{dtype, shape, data}`, `data` a contiguous typed array|
 *
 * Reading always gives a `PyFloat` for a Python float, so `lr: 1.0` stays a float when written
 * back; `toPlain` and `num` unwrap for callers who only want numbers. An OrderedDict's
 * attributes (a state dict's `_metadata`) are kept in `PyDict.attributes` and written back with
 * BUILD, so `load_state_dict` sees the same version metadata.
 *
 * Tensor data by dtype: float32 Float32Array, float64 Float64Array, float16 and bfloat16
 * Uint16Array of raw bits (see `halfToFloat32` and friends), int64 BigInt64Array, int32
 * Int32Array, int16 Int16Array, int8 Int8Array, uint8 and bool Uint8Array (bool bytes are kept
 * as stored, normally 0 or 1). A tensor read from a file may be a view into the file's bytes:
 * copy it before mutating the file buffer.
 */
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyTuple | PyValue[] | PyDict | Tensor;

/** Dict keys that survive the trip: str, int and bigint (Python ints beyond 2^53), bool, None. */
export type PyKey = string | number | bigint | boolean | null;

/** A Python float. Reading always yields one; writing accepts it to force a float (`1.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
  toJSON(): number {
    return this.value;
  }
}

/** Shorthand for `new PyFloat(x)`. */
export function pyFloat(x: number): PyFloat {
  return new PyFloat(x);
}

/** A Python tuple (as opposed to a list, which is a plain array). */
export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = items;
  }
  get length(): number {
    return this.items.length;
  }
}

/** Shorthand for `new PyTuple([...])`. */
export function pyTuple(...items: PyValue[]): PyTuple {
  return new PyTuple(items);
}

/** A Python dict (`ordered: false`) or `collections.OrderedDict` (`ordered: true`). */
export class PyDict extends Map<PyKey, PyValue> {
  /** True for `collections.OrderedDict` (a module's state_dict), false for a plain dict. */
  ordered: boolean;
  /** An OrderedDict's instance attributes, e.g. `_metadata` of a state dict; undefined if none. */
  attributes: Map<string, PyValue> | undefined;

  constructor(entries?: Iterable<readonly [PyKey, PyValue]> | null, ordered = false) {
    super(entries ?? undefined);
    this.ordered = ordered;
    this.attributes = undefined;
  }

  /** A plain dict from an object's own string keys, in insertion order. */
  static fromObject(obj: Record<string, PyValue>, ordered = false): PyDict {
    return new PyDict(Object.entries(obj), ordered);
  }
}

export const DTYPES = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
] as const;

export type DType = (typeof DTYPES)[number];

export interface TensorDataByDType {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type TensorData = TensorDataByDType[DType];

/** A tensor: contiguous, row-major `data` of `shape` (`[]` for a 0-d tensor). */
export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: TensorDataByDType[D];
  /** Only set when the file said `requires_grad=True` (an `nn.Parameter`); never written. */
  requiresGrad?: boolean;
}

interface DTypeInfo {
  size: number;
  storage: string;
  make: (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorData;
  ctor: { BYTES_PER_ELEMENT: number; new (length: number): TensorData };
}

export const DTYPE_INFO: Record<DType, DTypeInfo> = {
  float32: { size: 4, storage: 'FloatStorage', make: (b, o, n) => new Float32Array(b, o, n), ctor: Float32Array },
  float64: { size: 8, storage: 'DoubleStorage', make: (b, o, n) => new Float64Array(b, o, n), ctor: Float64Array },
  float16: { size: 2, storage: 'HalfStorage', make: (b, o, n) => new Uint16Array(b, o, n), ctor: Uint16Array },
  bfloat16: { size: 2, storage: 'BFloat16Storage', make: (b, o, n) => new Uint16Array(b, o, n), ctor: Uint16Array },
  int64: { size: 8, storage: 'LongStorage', make: (b, o, n) => new BigInt64Array(b, o, n), ctor: BigInt64Array },
  int32: { size: 4, storage: 'IntStorage', make: (b, o, n) => new Int32Array(b, o, n), ctor: Int32Array },
  int16: { size: 2, storage: 'ShortStorage', make: (b, o, n) => new Int16Array(b, o, n), ctor: Int16Array },
  int8: { size: 1, storage: 'CharStorage', make: (b, o, n) => new Int8Array(b, o, n), ctor: Int8Array },
  uint8: { size: 1, storage: 'ByteStorage', make: (b, o, n) => new Uint8Array(b, o, n), ctor: Uint8Array },
  bool: { size: 1, storage: 'BoolStorage', make: (b, o, n) => new Uint8Array(b, o, n), ctor: Uint8Array },
};

/** `torch <Name>Storage` → dtype. */
export const STORAGE_DTYPE: ReadonlyMap<string, DType> = new Map(
  DTYPES.map((d) => [DTYPE_INFO[d].storage, d] as const),
);

export function isTensor(v: unknown): v is Tensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    !(v instanceof Map) &&
    !Array.isArray(v) &&
    ArrayBuffer.isView((v as { data?: unknown }).data) &&
    typeof (v as { dtype?: unknown }).dtype === 'string' &&
    Array.isArray((v as { shape?: unknown }).shape)
  );
}

/** The number of elements of a shape (1 for `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Builds a tensor, checking that `data` fits `dtype` and `shape`. */
export function tensor<D extends DType>(dtype: D, shape: number[], data: TensorDataByDType[D]): Tensor<D> {
  const t: Tensor<D> = { dtype, shape, data };
  checkTensor(t);
  return t;
}

export function checkTensor(t: Tensor): void {
  const info = DTYPE_INFO[t.dtype];
  if (!info) throw new TrainerError('CheckpointFormatError', `unknown dtype ${String(t.dtype)}`);
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TrainerError('CheckpointFormatError', `bad tensor shape [${t.shape.join(', ')}]`);
    }
  }
  // The dtype table's constructors differ in signature; instanceof only needs a constructor.
  if (!(t.data instanceof (info.ctor as unknown as new () => TensorData))) {
    throw new TrainerError('CheckpointFormatError', `a ${t.dtype} tensor needs ${info.ctor.name ?? 'a matching'} data`);
  }
  if (t.data.length !== shapeSize(t.shape)) {
    throw new TrainerError(
      'CheckpointFormatError',
      `tensor of shape [${t.shape.join(', ')}] has ${t.data.length} elements of data`,
    );
  }
}

// ---- float16 / bfloat16 ----------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits → number. */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → IEEE half bits, round to nearest even (as PyTorch's `.half()`). */
export function numberToHalfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** float16 raw bits → Float32Array. */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfBitsToNumber(bits[i]);
  return out;
}

/** Float32Array → float16 raw bits (round to nearest even). */
export function float32ToHalf(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToHalfBits(values[i]);
  return out;
}

/** bfloat16 raw bits → Float32Array (exact). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const o32 = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) o32[i] = bits[i] << 16;
  return out;
}

/** Float32Array → bfloat16 raw bits (round to nearest even, NaN kept NaN). */
export function float32ToBfloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const b = u32[0];
    if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) {
      out[i] = (b >>> 16) | 0x40;
      continue;
    }
    out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** Any tensor's data as numbers (float16/bfloat16 decoded, int64 via Number, bool 0/1). */
export function tensorToNumbers(t: Tensor): Float64Array {
  const n = t.data.length;
  const out = new Float64Array(n);
  if (t.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = halfBitsToNumber((t.data as Uint16Array)[i]);
  else if (t.dtype === 'bfloat16') out.set(bfloat16ToFloat32(t.data as Uint16Array));
  else if (t.dtype === 'int64') for (let i = 0; i < n; i++) out[i] = Number((t.data as BigInt64Array)[i]);
  else if (t.dtype === 'bool') for (let i = 0; i < n; i++) out[i] = (t.data as Uint8Array)[i] ? 1 : 0;
  else out.set(t.data as ArrayLike<number>);
  return out;
}

// ---- accessors -------------------------------------------------------------------------------

/** A Python number (int, float, bool) as a JS number; throws on anything else. */
export function num(v: PyValue | undefined): number {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new TrainerError('CheckpointFormatError', `expected a number, got ${describeKind(v)}`);
}

/** `dict[key]` with a clear error when the value is not a dict or the key is missing. */
export function getItem(v: PyValue | undefined, key: PyKey): PyValue {
  if (!(v instanceof PyDict))
    throw new TrainerError('CheckpointFormatError', `expected a dict, got ${describeKind(v)}`);
  if (!v.has(key)) throw new TrainerError('CheckpointFormatError', `missing key ${JSON.stringify(String(key))}`);
  return v.get(key) as PyValue;
}

/** A dict value, or a CheckpointFormatError. */
export function asDict(v: PyValue | undefined): PyDict {
  if (!(v instanceof PyDict))
    throw new TrainerError('CheckpointFormatError', `expected a dict, got ${describeKind(v)}`);
  return v;
}

/** A tensor value, or a CheckpointFormatError. */
export function asTensor(v: PyValue | undefined): Tensor {
  if (!isTensor(v)) throw new TrainerError('CheckpointFormatError', `expected a tensor, got ${describeKind(v)}`);
  return v;
}

/** A dict whose values are all tensors (a state dict) as a `Map<string, Tensor>`. */
export function asStateDict(v: PyValue | undefined): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, t] of asDict(v)) {
    if (typeof k !== 'string')
      throw new TrainerError('CheckpointFormatError', `state dict key ${String(k)} is not a string`);
    out.set(k, asTensor(t));
  }
  return out;
}

export function describeKind(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (Array.isArray(v)) return 'list';
  if (isTensor(v)) return 'tensor';
  return typeof v;
}

/** A plain JS value for display or JSON. */
export type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain } | Tensor;

/**
 * Unwraps the value model into plain JS: floats and ints to numbers (bigint stays exact as a
 * string), tuples to arrays, dicts to objects (keys stringified, as JSON would), tensors kept.
 * Lossy by design: for writing back, keep the PyValue.
 */
export function toPlain(v: PyValue): Plain {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof PyFloat) return v.value;
  if (v instanceof PyTuple) return v.items.map(toPlain);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof PyDict) {
    const o: { [key: string]: Plain } = {};
    for (const [k, x] of v) o[String(k)] = toPlain(x);
    return o;
  }
  return v;
}
