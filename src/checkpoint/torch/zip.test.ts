import { describe, expect, it } from 'vitest';
import { TrainerError } from '../../shared/errors';
import { concatChunks, crc32, readZip, writeZip, zipChunks } from './zip';

const enc = new TextEncoder();

function errorOf(f: () => unknown): TrainerError {
  try {
    f();
  } catch (e) {
    return e as TrainerError;
  }
  throw new Error('expected an error');
}

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(enc.encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('continues across chunks of any split', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff);
    const whole = crc32(data);
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(whole);
    }
  });

  it('agrees with the bitwise definition at every alignment and length (the table-driven fast path)', () => {
    // The reflected polynomial, one bit at a time: slow, and obviously the definition.
    const reference = (b: Uint8Array): number => {
      let c = 0xffffffff;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    const data = Uint8Array.from({ length: 4096 + 16 }, (_, i) => (i * 2654435761) >>> 24);
    for (let start = 0; start < 8; start++) {
      for (const length of [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1000, 4096]) {
        const slice = data.subarray(start, start + length);
        expect(crc32(slice), `start ${start}, length ${length}`).toBe(reference(slice));
      }
    }
  });
});

describe('zip writer and reader', () => {
  it('round-trips entries given as chunks, keeping tensor chunks zero-copy', () => {
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const parts = [big.subarray(0, 40_000), big.subarray(40_000)];
    const chunks = writeZip([
      { name: 'run/stage/checkpoints/a.th', data: parts },
      { name: 'run/empty.txt', data: new Uint8Array(0) },
    ]);
    expect(chunks).toContain(parts[0]);
    expect(chunks).toContain(parts[1]);
    const zip = readZip(concatChunks(chunks));
    expect(zip.names()).toEqual(['run/stage/checkpoints/a.th', 'run/empty.txt']);
    expect(zip.read('run/stage/checkpoints/a.th')).toEqual(big);
    expect(zip.read('run/empty.txt').length).toBe(0);
  });

  it('is lazy: entries are pulled one at a time', () => {
    let pulled = 0;
    function* entries() {
      for (let i = 0; i < 3; i++) {
        pulled++;
        yield { name: `f${i}`, data: enc.encode(`file ${i}`) };
      }
    }
    const it = zipChunks(entries());
    it.next();
    expect(pulled).toBe(1);
    const rest = [...it];
    expect(pulled).toBe(3);
    expect(rest.length).toBeGreaterThan(3);
  });

  it('aligns data with an FB extra field when asked', () => {
    const zip = readZip(
      concatChunks(
        writeZip(
          [
            { name: 'a/data.pkl', data: enc.encode('x') },
            { name: 'a/data/0', data: enc.encode('yy') },
          ],
          { align: 64 },
        ),
      ),
    );
    for (const e of zip.entries.values()) expect(e.dataOffset % 64).toBe(0);
  });

  it('refuses unsafe or duplicate names when writing', () => {
    for (const name of ['../x', 'a/../b', '/abs', 'a\\b', '', 'C:/x']) {
      expect(errorOf(() => writeZip([{ name, data: new Uint8Array(1) }])).name).toBe('CheckpointFormatError');
    }
    const dup = [
      { name: 'a', data: new Uint8Array(1) },
      { name: 'a', data: new Uint8Array(1) },
    ];
    expect(errorOf(() => writeZip(dup)).name).toBe('CheckpointFormatError');
  });

  it('detects a flipped byte (CRC) only in the entry that is read', () => {
    const bytes = concatChunks(
      writeZip([
        { name: 'a', data: enc.encode('hello') },
        { name: 'b', data: enc.encode('world') },
      ]),
    );
    const zip0 = readZip(bytes);
    const at = zip0.entries.get('a')!.dataOffset;
    bytes[at] ^= 1;
    const zip = readZip(bytes);
    expect(new TextDecoder().decode(zip.read('b'))).toBe('world');
    expect(errorOf(() => zip.read('a')).name).toBe('CheckpointCorruptError');
  });

  it('checks each byte at most once however often entries are read: no more work than the archive has bytes', () => {
    const entries = [0, 1, 2].map((i) => ({ name: `d/${i}`, data: new Uint8Array(10_000 + i).fill(i) }));
    const bytes = concatChunks(writeZip(entries));
    const zip = readZip(bytes);
    for (let round = 0; round < 5; round++) for (const e of entries) zip.read(e.name);
    expect(zip.bytesChecked).toBe(30_003);
    expect(zip.bytesChecked).toBeLessThanOrEqual(bytes.length);
  });

  it('refuses overlapping entries (zip bomb shape) and out-of-bounds sizes', () => {
    const bytes = concatChunks(
      writeZip([
        { name: 'a', data: enc.encode('hello') },
        { name: 'b', data: enc.encode('world') },
      ]),
    );
    const view = new DataView(bytes.buffer);
    const eocd = bytes.length - 22;
    const cd = view.getUint32(eocd + 16, true);
    // point the second central entry's local header at the first
    const second = cd + 46 + 1;
    const overlapping = bytes.slice();
    new DataView(overlapping.buffer).setUint32(second + 42, 0, true);
    expect(errorOf(() => readZip(overlapping)).name).toBe('CheckpointFormatError');
    const huge = bytes.slice();
    new DataView(huge.buffer).setUint32(cd + 20, 0x7fffffff, true);
    new DataView(huge.buffer).setUint32(cd + 24, 0x7fffffff, true);
    expect(errorOf(() => readZip(huge)).message).toMatch(/out of bounds/);
    const zip64 = bytes.slice();
    new DataView(zip64.buffer).setUint32(cd + 20, 0xffffffff, true);
    expect(errorOf(() => readZip(zip64)).message).toMatch(/zip64/);
  });
});
