import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { propertyRuns } from '../../../tools/property';
import { sha256Hex, streamingSha256Hex } from './sha256';

const ref = (chunks: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

describe('sha256', () => {
  it('matches node:crypto for any chunking, streaming (hash-wasm) and native', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), async (chunks) => {
        expect(await streamingSha256Hex(chunks)).toBe(ref(chunks));
        expect(await sha256Hex(chunks)).toBe(ref(chunks));
      }),
      propertyRuns('sha256: any chunking', 300),
    );
  });

  it('hashes big multi-chunk parts by streaming, byte-exact', async () => {
    const a = new Uint8Array(40 * 1024 * 1024).map((_, i) => i * 7);
    const chunks = [a, a.subarray(3), new Uint8Array(0), a.subarray(0, 17)];
    expect(await sha256Hex(chunks)).toBe(ref(chunks));
  });
});
