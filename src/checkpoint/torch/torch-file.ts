import { TrainerError } from '../../shared/errors';
import { OP } from './pickle-opcodes';
import { MAX_OPCODES, type StorageRef, type UnpickleHooks, unpickle } from './pickle-read';
import { pickleTorch } from './pickle-write';
import { DTYPE_INFO, type DType, type PyValue, type Tensor, type TensorData } from './values';
import { type ZipArchive, type ZipInputEntry, readZip, writeZip } from './zip';

/*
 * PyTorch's own file format (`torch.save` since 1.6): a stored zip of `<folder>/data.pkl`,
 * `<folder>/data/<key>` per storage and `<folder>/version`. See values.ts for the value model.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndian(): void {
  // Typed arrays use the host's byte order and PyTorch files are little-endian.
  if (!LITTLE_ENDIAN) throw new TrainerError('CheckpointFormatError', 'big-endian hosts are not supported');
}

function formatError(message: string): TrainerError {
  return new TrainerError('CheckpointFormatError', message);
}

const decoder = new TextDecoder();

/**
 * How much work one read may do, so that a small file cannot ask for a great deal: bytes copied
 * to materialize tensors (strided views, unaligned storages) and pickle opcodes run. Reading the
 * zip needs no limit of its own: each byte is CRC-checked at most once (entries may not overlap).
 */
export interface TorchReadLimits {
  copyBytes: number;
  opcodes: number;
}

/** A read may copy this many bytes per byte of the file ... */
export const COPY_BYTES_PER_FILE_BYTE = 4;
/** ... plus this many, so small files with views still read. */
export const COPY_BYTES_EXTRA = 64 << 20;

/** The limits of a read of a `fileBytes`-byte file, unless the caller gives others. */
export function defaultReadLimits(fileBytes: number): TorchReadLimits {
  return { copyBytes: COPY_BYTES_PER_FILE_BYTE * fileBytes + COPY_BYTES_EXTRA, opcodes: MAX_OPCODES };
}

/** The work a read did, filled in as it goes, so it is there after a refusal too. */
export interface TorchReadStats {
  /** Bytes copied to materialize tensors. */
  copiedBytes: number;
  /** Pickle opcodes run. */
  opcodes: number;
  /** Zip bytes CRC-checked. */
  checkedBytes: number;
}

export interface TorchReadOptions {
  limits?: Partial<TorchReadLimits>;
  stats?: TorchReadStats;
  /**
   * The caller verified these exact bytes against a checksum recorded when they were stored (a
   * checkpoint store's read: XXH64 or SHA-256 of the whole file), so the zip entries' CRC-32 are
   * not computed again (at 240 MB, most of the parse). Bytes from anywhere else: leave it unset.
   */
  checksummed?: boolean;
}

/**
 * Reads a file `torch.save` wrote (or `writeTorchFile`). Tensors come back contiguous: views
 * (storage offsets, transposes, slices) are copied out; a contiguous tensor whose bytes are
 * aligned is a zero-copy view of `bytes`. Tensors that were the same object in Python (tied
 * weights) are the same object here.
 *
 * Throws TrainerError only: CheckpointFormatError (not a torch file, bad structure, sizes out
 * of bounds, more work than `limits` allow: see defaultReadLimits), UnsafePickleError (a global
 * or opcode outside the allow-list), CheckpointCorruptError (CRC-32 mismatch).
 */
export function readTorchFile(bytes: Uint8Array, options: TorchReadOptions = {}): PyValue {
  const stats = options.stats ?? { copiedBytes: 0, opcodes: 0, checkedBytes: 0 };
  try {
    return readTorchFileUnguarded(bytes, options.limits ?? {}, stats, options.checksummed ?? false);
  } catch (e) {
    if (e instanceof TrainerError) throw e;
    // A reader bug must still surface as a named error; the prefix lets tests catch such bugs.
    throw new TrainerError('CheckpointFormatError', `unexpected error while reading: ${String(e)}`, { cause: e });
  }
}

function readTorchFileUnguarded(
  bytes: Uint8Array,
  given: Partial<TorchReadLimits>,
  stats: TorchReadStats,
  checksummed: boolean,
): PyValue {
  requireLittleEndian();
  if (!(bytes instanceof Uint8Array)) throw formatError('readTorchFile needs a Uint8Array');
  if (bytes.length >= 2 && bytes[0] === OP.PROTO && bytes[1] <= 5) {
    throw formatError('legacy (pre-1.6, non-zip) PyTorch files are not supported');
  }
  const limits = { ...defaultReadLimits(bytes.length), ...given };
  const zip = readZip(bytes, checksummed);
  try {
    return unpickleArchive(zip, limits, stats);
  } finally {
    stats.checkedBytes = zip.bytesChecked;
  }
}

function unpickleArchive(zip: ZipArchive, limits: TorchReadLimits, stats: TorchReadStats): PyValue {
  const names = zip.names();
  if (names.length === 0) throw formatError('empty zip archive: not a PyTorch file');
  const slash = names[0].indexOf('/');
  if (slash <= 0) throw formatError('not a PyTorch file: entries are not under one folder');
  const folder = names[0].slice(0, slash);
  const pklName = `${folder}/data.pkl`;
  if (!zip.has(pklName)) throw formatError(`not a PyTorch file: no ${pklName}`);
  const byteorder = `${folder}/byteorder`;
  if (zip.has(byteorder)) {
    const order = decoder.decode(zip.read(byteorder)).trim();
    if (order !== 'little') throw formatError(`byte order ${order} is not supported`);
  }

  const storages = new Map<string, StorageRef>();
  // Copies (strided views, unaligned storages) are bounded in total, so a small pickle cannot
  // ask for the same large storage to be gathered thousands of times.
  const copies: CopyBudget = { limit: limits.copyBytes, stats, aligned: new Map() };
  const hooks: UnpickleHooks = {
    loadStorage(dtype: DType, key: string, numel: number): StorageRef {
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== dtype || known.numel !== numel)
          throw formatError(`storage ${key} used with two types or sizes`);
        return known;
      }
      const recordName = `${folder}/data/${key}`;
      if (key.includes('/') || !zip.has(recordName)) throw formatError(`missing storage record ${recordName}`);
      const record = zip.read(recordName);
      const size = DTYPE_INFO[dtype].size;
      if (!Number.isSafeInteger(numel) || numel > record.length / size) {
        throw formatError(`storage ${key} claims ${numel} ${dtype} elements, its record holds ${record.length} bytes`);
      }
      const ref: StorageRef = { kind: 'storage', dtype, key, numel, bytes: record.subarray(0, numel * size) };
      storages.set(key, ref);
      return ref;
    },
    rebuildTensor: (storage, offset, shape, stride) => materialize(storage, offset, shape, stride, copies),
  };
  return unpickle(zip.read(pklName), hooks, limits.opcodes, stats);
}

interface CopyBudget {
  limit: number;
  stats: TorchReadStats;
  aligned: Map<StorageRef, TensorData>;
}

/** Counts a copy of `n` bytes before it is made; refuses one that would pass the limit. */
function spend(budget: CopyBudget, n: number): void {
  if (budget.stats.copiedBytes + n > budget.limit) {
    throw formatError(`tensor views would copy more than ${budget.limit} bytes (the limit of one read)`);
  }
  budget.stats.copiedBytes += n;
}

/** The storage as a typed array of its dtype (zero-copy when its bytes are aligned). */
function storageArray(s: StorageRef, budget: CopyBudget): TensorData {
  const known = budget.aligned.get(s);
  if (known) return known;
  const info = DTYPE_INFO[s.dtype];
  let b = s.bytes;
  if (b.byteOffset % info.size !== 0) {
    spend(budget, b.length);
    b = b.slice();
  }
  const arr = info.make(b.buffer as ArrayBuffer, b.byteOffset, s.numel);
  budget.aligned.set(s, arr);
  return arr;
}

/**
 * `_rebuild_tensor_v2`: a contiguous tensor from a (possibly strided) view of a storage. Sizes
 * are checked against the storage before anything is allocated: a tensor never has more
 * elements than its storage (this also refuses broadcast views with stride 0 that would
 * inflate a small storage into a huge array).
 */
function materialize(
  storage: StorageRef,
  offset: number,
  shape: number[],
  stride: number[],
  budget: CopyBudget,
): Tensor {
  const info = DTYPE_INFO[storage.dtype];
  let numel = 1;
  if (shape.includes(0)) numel = 0;
  else {
    for (const d of shape) {
      numel *= d;
      if (numel > storage.numel) {
        throw formatError(
          `tensor of shape [${shape.join(', ')}] is larger than its storage (${storage.numel} elements)`,
        );
      }
    }
  }
  if (numel === 0) {
    if (offset > storage.numel) throw formatError('storage offset beyond its storage');
    return { dtype: storage.dtype, shape, data: new info.ctor(0) };
  }
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    const span = (shape[i] - 1) * stride[i];
    if (span > storage.numel) throw formatError('tensor view reaches beyond its storage');
    last += span;
  }
  if (last >= storage.numel) {
    throw formatError(`tensor view reaches element ${last} of a storage of ${storage.numel}`);
  }
  const src = storageArray(storage, budget);
  let contiguous = true;
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i];
  }
  if (contiguous) {
    return { dtype: storage.dtype, shape, data: src.subarray(offset, offset + numel) };
  }
  // Gather a strided view into a fresh contiguous array, innermost dimension in a tight loop.
  spend(budget, numel * info.size);
  const out = new info.ctor(numel);
  // Both are typed arrays of one dtype (number or bigint elements); an index view copies either.
  const gather = src as unknown as { [i: number]: number | bigint };
  const dst = out as unknown as { [i: number]: number | bigint };
  const nd = shape.length;
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  let o = 0;
  for (;;) {
    for (let j = 0, p = base; j < inner; j++, p += innerStride) dst[o++] = gather[p];
    let d = nd - 2;
    while (d >= 0) {
      idx[d]++;
      base += stride[d];
      if (idx[d] < shape[d]) break;
      base -= stride[d] * shape[d];
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return { dtype: storage.dtype, shape, data: out };
}

/**
 * Writes `value` in PyTorch's format, as chunks (never concatenated: tensor bytes are views of
 * the tensors' own arrays). Tensors are written contiguous, one storage each; a tensor object
 * that appears twice is written once and stays shared. `torch.load(path)` opens the result,
 * and so does `torch.load(path, weights_only=True)` when the value holds no Python float
 * (PyTorch 1.13's restricted reader refuses BINFLOAT; PyTorch 2's accepts it).
 *
 * `archiveName` is the folder inside the zip; PyTorch uses the file name without extension.
 */
export function writeTorchFile(value: PyValue, archiveName = 'archive'): Uint8Array[] {
  requireLittleEndian();
  if (!/^[A-Za-z0-9_.=+-]+$/.test(archiveName) || archiveName.includes('..')) {
    throw formatError(`bad archive name ${JSON.stringify(archiveName)}`);
  }
  const { pickle, storages } = pickleTorch(value);
  const entries: ZipInputEntry[] = [{ name: `${archiveName}/data.pkl`, data: pickle }];
  for (const s of storages) entries.push({ name: `${archiveName}/data/${s.key}`, data: s.bytes });
  entries.push({ name: `${archiveName}/version`, data: new TextEncoder().encode('3\n') });
  return writeZip(entries, { align: 64 });
}

/** A file name's archive folder as PyTorch picks it: the base name without its extension. */
export function archiveNameFor(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const stem = dot > 0 ? base.slice(0, dot) : base;
  const safe = stem.replace(/[^A-Za-z0-9_.=+-]/g, '_').replace(/\.\.+/g, '.');
  return safe.length > 0 ? safe : 'archive';
}
