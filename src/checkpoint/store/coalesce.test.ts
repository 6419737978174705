import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyRuns } from '../../../tools/property';
import { coalesced } from './opfs-store';

const join = (cs: Uint8Array[]) => {
  const out = new Uint8Array(cs.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of cs) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

/** What a writer takes from coalesced(): each joined view copied as it comes (it is reused after). */
const taken = (chunks: readonly Uint8Array[], limit?: number) => {
  const out: Uint8Array[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for (const c of coalesced(chunks, limit)) {
    if (chunks.includes(c)) out.push(c);
    else {
      buffers.add(c.buffer);
      out.push(c.slice());
    }
  }
  return { out, buffers };
};

describe('coalesced (the OPFS store writes few, large chunks)', () => {
  it('keeps the bytes and their order for any chunking; passes big chunks through uncopied', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 64 }),
        (chunks, limit) => {
          const { out, buffers } = taken(chunks, limit);
          expect(join(out)).toEqual(join(chunks));
          expect(buffers.size).toBeLessThanOrEqual(1); // every joined run in the one reused buffer
          for (const c of chunks) if (c.length >= limit) expect(out).toContain(c);
          // Joined runs stay within the limit.
          for (const o of out) if (!(chunks as Uint8Array[]).includes(o)) expect(o.length).toBeLessThanOrEqual(limit);
          expect(out.every((o) => o.length > 0)).toBe(true);
        },
      ),
      propertyRuns('coalesced: any chunking', 300),
    );
  });

  it("turns a zip part's many small chunks into one write", () => {
    const chunks = Array.from({ length: 52 }, (_, i) => new Uint8Array(100).fill(i));
    const { out } = taken(chunks);
    expect(out).toHaveLength(1);
    expect(join(out)).toEqual(join(chunks));
    const big = new Uint8Array(2 << 20);
    expect(taken([chunks[0], big, chunks[1]]).out.map((c) => c.length)).toEqual([100, 2 << 20, 100]);
  });
});
