import { TrainerError } from '../../shared/errors';

/*
 * A minimal zip reader and writer: stored entries only (method 0), no zip64, no encryption.
 * That is all a PyTorch checkpoint needs, and all an export of checkpoints needs (the tensors
 * do not compress). The writer returns chunks, so a large archive is never concatenated.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- CRC-32 (IEEE), slicing-by-8: it runs over every tensor byte of every checkpoint --------

const CRC_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0][n];
    for (let t = 1; t < 8; t++) {
      c = tables[0][c & 0xff] ^ (c >>> 8);
      tables[t][n] = c >>> 0;
    }
  }
  return tables;
})();

/** Continues a CRC-32 over `data`; start with `crc = 0`. Returns an unsigned 32-bit value. */
export function crc32(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  // Head bytes up to 4-byte alignment, then two aligned 32-bit words per step (little-endian
  // hosts; the byte loop below is the general path).
  while (i < n && (data.byteOffset + i) % 4 !== 0) c = t0[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
  if (LITTLE_ENDIAN && n - i >= 8) {
    const words = new Uint32Array(data.buffer, data.byteOffset + i, (n - i) >>> 2);
    const pairs = words.length >>> 1;
    for (let w = 0; w < pairs * 2; w += 2) {
      const a = words[w] ^ c;
      const b = words[w + 1];
      c =
        t7[a & 0xff] ^
        t6[(a >>> 8) & 0xff] ^
        t5[(a >>> 16) & 0xff] ^
        t4[a >>> 24] ^
        t3[b & 0xff] ^
        t2[(b >>> 8) & 0xff] ^
        t1[(b >>> 16) & 0xff] ^
        t0[b >>> 24];
    }
    i += pairs * 8;
  }
  const end8 = i + (n - i - ((n - i) % 8));
  while (i < end8) {
    const a = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[data[i + 4]] ^
      t2[data[i + 5]] ^
      t1[data[i + 6]] ^
      t0[data[i + 7]];
    i += 8;
  }
  while (i < n) c = t0[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- writer ----------------------------------------------------------------------------------

/** One file of an archive; `data` may be given as several chunks (never concatenated). */
export interface ZipInputEntry {
  name: string;
  data: Uint8Array | readonly Uint8Array[];
}

export interface ZipWriteOptions {
  /**
   * Start each entry's data at a multiple of this many bytes, padding the local header's extra
   * field with an `FB` field as PyTorch does (PyTorch uses 64, so it can memory-map tensors).
   * 0 (the default) writes no extra field.
   */
  align?: number;
  /** Modification time stamped on every entry; default none (DOS date 0, as PyTorch writes). */
  modified?: Date;
}

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const FLAG_UTF8 = 0x0800;
const MAX_U32 = 0xffffffff;

const utf8 = new TextEncoder();

function dosDateTime(d: Date | undefined): [number, number] {
  if (!d || d.getFullYear() < 1980) return [0, 0];
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
  const date = ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  return [time, date];
}

function writeError(message: string): TrainerError {
  return new TrainerError('CheckpointFormatError', message);
}

/**
 * Yields the archive as chunks: small header arrays, and the entries' own chunks as given
 * (zero-copy). Each entry's CRC is computed just before its header is yielded, so entries can
 * be produced lazily by the iterable.
 */
export function* zipChunks(entries: Iterable<ZipInputEntry>, options: ZipWriteOptions = {}): Generator<Uint8Array> {
  const align = options.align ?? 0;
  if (!Number.isInteger(align) || align < 0 || align > 0x8000) throw writeError(`bad zip alignment ${align}`);
  const [time, date] = dosDateTime(options.modified);
  const central: Uint8Array[] = [];
  const names = new Set<string>();
  let offset = 0;
  let count = 0;

  for (const entry of entries) {
    checkEntryName(entry.name, writeError);
    if (names.has(entry.name)) throw writeError(`duplicate zip entry ${entry.name}`);
    names.add(entry.name);
    const chunks: readonly Uint8Array[] = entry.data instanceof Uint8Array ? [entry.data] : entry.data;
    let crc = 0;
    let size = 0;
    for (const c of chunks) {
      crc = crc32(c, crc);
      size += c.length;
    }
    const name = utf8.encode(entry.name);
    if (name.length > 0xffff) throw writeError(`zip entry name too long: ${entry.name}`);
    let extraLen = 0;
    if (align > 0) {
      // Same arithmetic as PyTorch: the FB field is always there, its filler pads to `align`.
      const start = offset + 30 + name.length + 4;
      extraLen = 4 + ((align - (start % align)) % align);
    }
    if (size > MAX_U32 || offset > MAX_U32 || offset + 30 + name.length + extraLen + size > MAX_U32) {
      throw writeError('archive larger than 4 GiB (zip64 is not supported)');
    }

    const local = new Uint8Array(30 + name.length + extraLen);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL_SIG, true);
    lv.setUint16(4, 20, true); // version needed: 2.0
    lv.setUint16(6, FLAG_UTF8, true);
    lv.setUint16(8, 0, true); // stored
    lv.setUint16(10, time, true);
    lv.setUint16(12, date, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, size, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extraLen, true);
    local.set(name, 30);
    if (extraLen > 0) {
      const e = 30 + name.length;
      local[e] = 0x46; // 'F'
      local[e + 1] = 0x42; // 'B'
      lv.setUint16(e + 2, extraLen - 4, true);
      local.fill(0x5a, e + 4); // 'Z'
    }

    const cen = new Uint8Array(46 + name.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, CENTRAL_SIG, true);
    cv.setUint16(4, 20, true); // version made by
    cv.setUint16(6, 20, true); // version needed
    cv.setUint16(8, FLAG_UTF8, true);
    cv.setUint16(10, 0, true);
    cv.setUint16(12, time, true);
    cv.setUint16(14, date, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, size, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    // extra, comment, disk, internal and external attributes: 0
    cv.setUint32(42, offset, true);
    cen.set(name, 46);
    central.push(cen);

    yield local;
    for (const c of chunks) if (c.length > 0) yield c;
    offset += local.length + size;
    count++;
  }
  if (count > 0xfffe) throw writeError('too many zip entries (zip64 is not supported)');

  let cdSize = 0;
  for (const c of central) {
    yield c;
    cdSize += c.length;
  }
  if (offset + cdSize > MAX_U32) throw writeError('archive larger than 4 GiB (zip64 is not supported)');
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, EOCD_SIG, true);
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  yield eocd;
}

/** The whole archive as an array of chunks (see `zipChunks`). */
export function writeZip(entries: Iterable<ZipInputEntry>, options?: ZipWriteOptions): Uint8Array[] {
  return [...zipChunks(entries, options)];
}

/** Concatenates chunks into one new array: for small archives, reads and tests only. */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

// ---- reader ----------------------------------------------------------------------------------

/** An entry found in the central directory; its data is read (and CRC-checked) on demand. */
export interface ZipEntryInfo {
  name: string;
  /** Offset of the entry's data in the archive. */
  dataOffset: number;
  size: number;
  crc32: number;
}

function formatError(message: string): TrainerError {
  return new TrainerError('CheckpointFormatError', message);
}

function checkEntryName(name: string, err: (m: string) => TrainerError): void {
  if (name.length === 0) throw err('empty zip entry name');
  if (name.startsWith('/')) throw err(`absolute zip entry name: ${name}`);
  if (name.includes('\\')) throw err(`zip entry name with a backslash: ${name}`);
  if (name.includes('\0')) throw err(`zip entry name with a NUL: ${JSON.stringify(name)}`);
  if (/^[A-Za-z]:/.test(name)) throw err(`zip entry name with a drive letter: ${name}`);
  if (name.includes('..')) throw err(`zip entry name with "..": ${name}`);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A stored-only zip archive read from memory. Every offset and length is checked against the
 * archive's size before use; zip64, encryption, compression, duplicate or unsafe names, and
 * overlapping entries are refused with CheckpointFormatError. `read` verifies the CRC-32
 * (CheckpointCorruptError) and returns a zero-copy view; `trustCrc`: the caller has verified these
 * exact bytes against a checksum of the whole file (a store's read), so no entry's CRC is computed.
 */
export class ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntryInfo>;
  private readonly bytes: Uint8Array;
  private readonly verified = new Set<string>();
  private checked = 0;

  constructor(
    bytes: Uint8Array,
    private readonly trustCrc = false,
  ) {
    this.bytes = bytes;
    this.entries = parseCentralDirectory(bytes);
  }

  /** Entry names, in central-directory order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * Bytes CRC-checked so far. Entries never overlap and each is checked once, so this never
   * exceeds the archive's size however often entries are read: the bound on a zip bomb's work.
   */
  get bytesChecked(): number {
    return this.checked;
  }

  /** The entry's bytes as a view into the archive, after checking its CRC-32. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw formatError(`zip has no entry ${name}`);
    const data = this.bytes.subarray(e.dataOffset, e.dataOffset + e.size);
    if (!this.trustCrc && !this.verified.has(name)) {
      const crc = crc32(data);
      this.checked += data.length;
      if (crc !== e.crc32) {
        throw new TrainerError(
          'CheckpointCorruptError',
          `CRC-32 mismatch in ${name}: stored ${hex(e.crc32)}, computed ${hex(crc)}`,
        );
      }
      this.verified.add(name);
    }
    return data;
  }
}

/** Parses a stored zip archive (see `ZipArchive`). */
export function readZip(bytes: Uint8Array, trustCrc = false): ZipArchive {
  return new ZipArchive(bytes, trustCrc);
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function parseCentralDirectory(bytes: Uint8Array): Map<string, ZipEntryInfo> {
  const size = bytes.length;
  if (size < 22) throw formatError(`not a zip archive (${size} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  const stop = Math.max(0, size - 22 - 0xffff);
  for (let p = size - 22; p >= stop; p--) {
    if (bytes[p] === 0x50 && view.getUint32(p, true) === EOCD_SIG) {
      const commentLen = view.getUint16(p + 20, true);
      if (p + 22 + commentLen === size) {
        eocd = p;
        break;
      }
    }
  }
  if (eocd < 0) throw formatError('not a zip archive (no end of central directory)');
  // PyTorch (miniz) always adds a zip64 end record and locator before the classic one; they
  // repeat its values, so they are ignored. Only an archive that needs zip64 (a field holding
  // the 0xFFFF... sentinel) is refused.
  const disk = view.getUint16(eocd + 4, true);
  const cdDisk = view.getUint16(eocd + 6, true);
  const countHere = view.getUint16(eocd + 8, true);
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === MAX_U32 || cdOffset === MAX_U32) {
    throw formatError('zip64 archives are not supported');
  }
  if (disk !== 0 || cdDisk !== 0 || countHere !== count) throw formatError('multi-disk zip archives are not supported');
  if (cdOffset + cdSize > eocd) throw formatError('zip central directory out of bounds');
  if (count * 46 > cdSize) throw formatError('zip central directory too small for its entry count');

  const entries = new Map<string, ZipEntryInfo>();
  const spans: [number, number, string][] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd) throw formatError('zip central directory truncated');
    if (view.getUint32(p, true) !== CENTRAL_SIG) throw formatError('bad zip central directory entry');
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    const csize = view.getUint32(p + 20, true);
    const usize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const entryDisk = view.getUint16(p + 34, true);
    const localOffset = view.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) throw formatError('zip central directory entry out of bounds');
    const nameBytes = bytes.subarray(p + 46, p + 46 + nameLen);
    let name: string;
    try {
      name = utf8Decoder.decode(nameBytes);
    } catch {
      throw formatError('zip entry name is not UTF-8');
    }
    if (flags & 0x41) throw formatError(`encrypted zip entry ${name}`);
    if (method !== 0)
      throw formatError(`compressed zip entry ${name} (method ${method}); only stored entries are supported`);
    if (csize === MAX_U32 || usize === MAX_U32 || localOffset === MAX_U32) {
      throw formatError('zip64 archives are not supported');
    }
    if (entryDisk !== 0) throw formatError('multi-disk zip archives are not supported');
    if (csize !== usize) throw formatError(`stored zip entry ${name} has different sizes`);
    checkEntryName(name, formatError);
    if (entries.has(name)) throw formatError(`duplicate zip entry ${name}`);

    // The local header: its own name and extra lengths decide where the data starts.
    if (localOffset + 30 > cdOffset) throw formatError(`zip entry ${name} out of bounds`);
    if (view.getUint32(localOffset, true) !== LOCAL_SIG) throw formatError(`bad zip local header for ${name}`);
    if (view.getUint16(localOffset + 6, true) & 0x41) throw formatError(`encrypted zip entry ${name}`);
    const localNameLen = view.getUint16(localOffset + 26, true);
    const localExtraLen = view.getUint16(localOffset + 28, true);
    const dataOffset = localOffset + 30 + localNameLen + localExtraLen;
    if (dataOffset + csize > cdOffset) throw formatError(`zip entry ${name} out of bounds (declares ${csize} bytes)`);
    if (
      localNameLen !== nameLen ||
      !sameBytes(bytes.subarray(localOffset + 30, localOffset + 30 + nameLen), nameBytes)
    ) {
      throw formatError(`zip local header name differs from the central directory for ${name}`);
    }
    entries.set(name, { name, dataOffset, size: csize, crc32: crc });
    spans.push([localOffset, dataOffset + csize, name]);
    p = next;
  }

  // Overlapping entries are the shape of a zip bomb (one region read many times): refuse.
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw formatError(`zip entries ${spans[i - 1][2]} and ${spans[i][2]} overlap`);
  }
  return entries;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
