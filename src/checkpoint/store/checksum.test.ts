import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { propertyRuns } from '../../../tools/property';
import { sameChecksum, verifyPart, xxh64Hex } from './checksum';

const text = (s: string) => new TextEncoder().encode(s);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('part checksums', () => {
  it('XXH64 (seed 0) matches the reference values of xxHash', async () => {
    // From xxHash's own test vectors / `xxhsum -H1`.
    expect(await xxh64Hex([])).toBe('ef46db3751d8e999');
    expect(await xxh64Hex([text('a')])).toBe('d24ec4f1a98c6e5b');
    expect(await xxh64Hex([text('abc')])).toBe('44bc2cf5ad770999');
  });

  it('gives the same XXH64 for any chunking of the same bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), async (chunks) => {
        const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) {
          joined.set(c, at);
          at += c.length;
        }
        expect(await xxh64Hex(chunks)).toBe(await xxh64Hex([joined]));
      }),
      propertyRuns('xxh64: any chunking', 200),
    );
  });

  it('verifies by XXH64, by SHA-256 for records written before XXH64, and fails a record with neither', async () => {
    const bytes = text('a checkpoint part');
    const damaged = text('a checkpoint pArt');
    const xxh64 = await xxh64Hex([bytes]);
    expect(await verifyPart({ xxh64 }, bytes)).toBe(true);
    expect(await verifyPart({ xxh64 }, damaged)).toBe(false);
    expect(await verifyPart({ sha256: sha(bytes) }, bytes)).toBe(true);
    expect(await verifyPart({ sha256: sha(bytes) }, damaged)).toBe(false);
    expect(await verifyPart({}, bytes)).toBe(false);
  });

  it('compares records of the same algorithm, and leaves records of different algorithms undecided', () => {
    expect(sameChecksum({ size: 3, xxh64: 'aa' }, { size: 3, xxh64: 'aa' })).toBe(true);
    expect(sameChecksum({ size: 3, xxh64: 'aa' }, { size: 3, xxh64: 'ab' })).toBe(false);
    expect(sameChecksum({ size: 3, xxh64: 'aa' }, { size: 4, xxh64: 'aa' })).toBe(false);
    expect(sameChecksum({ size: 3, sha256: 'cc' }, { size: 3, sha256: 'cc' })).toBe(true);
    expect(sameChecksum({ size: 3, xxh64: 'aa' }, { size: 3, sha256: 'cc' })).toBeUndefined();
  });
});
