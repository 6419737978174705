import { TrainerError } from '../../shared/errors';
import { OP } from './pickle-opcodes';
import { MAX_NESTING } from './pickle-read';
import {
  DTYPE_INFO,
  type PyValue,
  type Tensor,
  PyDict,
  PyFloat,
  PyTuple,
  checkTensor,
  isTensor,
  shapeSize,
} from './values';

/*
 * Pickles the value model the way Python's pickler (protocol 2) does for a `torch.save`, and
 * with only the opcodes PyTorch 1.13's `weights_only=True` reader knows: no LIST/DICT/
 * SHORT_BINUNICODE/MEMOIZE, containers built empty then filled with APPEND(S)/SETITEM(S) in
 * batches of 1000, as Python does. Floats (BINFLOAT) are the one thing 1.13's restricted reader
 * refuses; PyTorch 2 accepts them.
 */

/** A tensor's storage as it will be written: `data/<key>` holding `bytes`. */
export interface StorageRecord {
  key: string;
  bytes: Uint8Array;
}

const BATCH = 1000;

class ByteSink {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  f64be(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v, false);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const encoder = new TextEncoder();

function writeError(message: string): TrainerError {
  return new TrainerError('CheckpointFormatError', `cannot write: ${message}`);
}

/** Python's `encode_long`: minimal little-endian two's complement. */
function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
    const signBit = out[out.length - 1] & 0x80;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(out);
}

/**
 * Pickles `value` (protocol 2). Returns the pickle and one storage record per distinct tensor
 * object (the same tensor object twice is written once and shared, as tied weights are).
 */
export function pickleTorch(value: PyValue): { pickle: Uint8Array; storages: StorageRecord[] } {
  const out = new ByteSink();
  const memo = new Map<unknown, number>();
  const storages: StorageRecord[] = [];
  const active = new Set<object>();

  const put = (key: unknown): void => {
    const i = memo.size;
    memo.set(key, i);
    if (i < 256) {
      out.byte(OP.BINPUT);
      out.byte(i);
    } else {
      out.byte(OP.LONG_BINPUT);
      out.u32(i);
    }
  };
  const get = (key: unknown): boolean => {
    const i = memo.get(key);
    if (i === undefined) return false;
    if (i < 256) {
      out.byte(OP.BINGET);
      out.byte(i);
    } else {
      out.byte(OP.LONG_BINGET);
      out.u32(i);
    }
    return true;
  };
  const global = (module: string, name: string): void => {
    const key = `global:${module} ${name}`;
    if (get(key)) return;
    out.byte(OP.GLOBAL);
    out.bytes(encoder.encode(`${module}\n${name}\n`));
    put(key);
  };
  const str = (s: string, memoize = false): void => {
    const key = `str:${s}`;
    if (memoize && get(key)) return;
    const b = encoder.encode(s);
    out.byte(OP.BINUNICODE);
    out.u32(b.length);
    out.bytes(b);
    if (memoize) put(key);
  };
  const int = (v: number | bigint): void => {
    if (typeof v === 'number' && v >= 0 && v < 256) {
      out.byte(OP.BININT1);
      out.byte(v);
    } else if (typeof v === 'number' && v >= 0 && v < 65536) {
      out.byte(OP.BININT2);
      out.u16(v);
    } else if (v >= -0x80000000 && v <= 0x7fffffff) {
      out.byte(OP.BININT);
      out.i32(Number(v));
    } else {
      const b = encodeLong(BigInt(v));
      if (b.length > 255) throw writeError('int too large');
      out.byte(OP.LONG1);
      out.byte(b.length);
      out.bytes(b);
    }
  };
  const float = (v: number): void => {
    out.byte(OP.BINFLOAT);
    out.f64be(v);
  };
  const tuple = (items: readonly (() => void)[]): void => {
    if (items.length === 0) return void out.byte(OP.EMPTY_TUPLE);
    if (items.length > 3) out.byte(OP.MARK);
    for (const f of items) f();
    out.byte(items.length <= 3 ? OP.TUPLE1 - 1 + items.length : OP.TUPLE);
  };
  const emptyOrderedDict = (): void => {
    global('collections', 'OrderedDict');
    out.byte(OP.EMPTY_TUPLE);
    out.byte(OP.REDUCE);
  };
  const batched = <T>(items: readonly T[], each: (x: T) => void, single: number, many: number): void => {
    for (let i = 0; i < items.length; i += BATCH) {
      const batch = items.slice(i, i + BATCH);
      if (batch.length === 1) {
        each(batch[0]);
        out.byte(single);
      } else {
        out.byte(OP.MARK);
        for (const x of batch) each(x);
        out.byte(many);
      }
    }
  };

  const tensor = (t: Tensor): void => {
    if (get(t)) return;
    checkTensor(t);
    const info = DTYPE_INFO[t.dtype];
    const key = String(storages.length);
    const numel = shapeSize(t.shape);
    storages.push({ key, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, numel * info.size) });
    const stride = new Array<number>(t.shape.length);
    let s = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      stride[i] = s;
      s *= t.shape[i];
    }
    global('torch._utils', '_rebuild_tensor_v2');
    out.byte(OP.MARK);
    tuple([
      () => str('storage', true),
      () => global('torch', info.storage),
      () => str(key),
      () => str('cpu', true),
      () => int(numel),
    ]);
    out.byte(OP.BINPERSID);
    int(0);
    tuple(t.shape.map((d) => () => int(d)));
    tuple(stride.map((d) => () => int(d)));
    out.byte(OP.NEWFALSE); // requires_grad
    emptyOrderedDict(); // backward hooks
    out.byte(OP.TUPLE);
    out.byte(OP.REDUCE);
    put(t);
  };

  const save = (v: PyValue, depth: number): void => {
    if (depth > MAX_NESTING) throw writeError(`nesting deeper than ${MAX_NESTING}`);
    if (v === null) return void out.byte(OP.NONE);
    if (v === true) return void out.byte(OP.NEWTRUE);
    if (v === false) return void out.byte(OP.NEWFALSE);
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return int(v);
      return float(v);
    }
    if (typeof v === 'bigint') return int(v);
    if (typeof v === 'string') return str(v);
    if (v instanceof PyFloat) {
      if (typeof v.value !== 'number') throw writeError('PyFloat without a number');
      return float(v.value);
    }
    if (isTensor(v)) return tensor(v);
    if (typeof v !== 'object') throw writeError(`unsupported value of type ${typeof v}`);
    if (active.has(v)) throw writeError('cyclic structure');
    active.add(v);
    if (v instanceof PyTuple) {
      tuple(v.items.map((x) => () => save(x, depth + 1)));
    } else if (Array.isArray(v)) {
      out.byte(OP.EMPTY_LIST);
      batched(v, (x) => save(x, depth + 1), OP.APPEND, OP.APPENDS);
    } else if (v instanceof PyDict) {
      if (v.ordered) emptyOrderedDict();
      else out.byte(OP.EMPTY_DICT);
      const entries = [...v.entries()];
      batched(
        entries,
        ([k, x]) => {
          if (typeof k === 'number' && !Number.isSafeInteger(k)) throw writeError(`dict key ${k} is not an int`);
          if (k !== null && !['string', 'number', 'bigint', 'boolean'].includes(typeof k)) {
            throw writeError(`unsupported dict key type ${typeof k}`);
          }
          save(k, depth + 1);
          save(x, depth + 1);
        },
        OP.SETITEM,
        OP.SETITEMS,
      );
      if (v.ordered && v.attributes && v.attributes.size > 0) {
        out.byte(OP.EMPTY_DICT); // the instance's __dict__, e.g. {_metadata: ...}
        batched(
          [...v.attributes.entries()],
          ([k, x]) => {
            str(k);
            save(x, depth + 1);
          },
          OP.SETITEM,
          OP.SETITEMS,
        );
        out.byte(OP.BUILD);
      } else if (v.attributes && v.attributes.size > 0) {
        throw writeError('only an OrderedDict can carry attributes');
      }
    } else {
      throw writeError(
        `unsupported value (${Object.prototype.toString.call(v)}); use PyDict, PyTuple, arrays, tensors`,
      );
    }
    active.delete(v);
  };

  out.byte(OP.PROTO);
  out.byte(2);
  save(value, 0);
  out.byte(OP.STOP);
  return { pickle: out.result(), storages };
}
