/**
 * Hashed character n-gram features (the "hashing trick"): every n-gram of the normalised text,
 * for n in [min, max], counts towards bucket FNV-1a(n-gram) mod buckets. Values are log(1 + count),
 * scaled to unit length so long and short messages weigh the same. No vocabulary is stored: the
 * hash function and the three numbers are the vocabulary.
 */

/** FNV-1a, 32-bit, over UTF-16 code units. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Lower case, runs of white space as one space. */
export function normaliseText(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

export interface SparseFeatures {
  indices: Int32Array;
  values: Float32Array;
}

export function hashedNgrams(text: string, opts: { min: number; max: number; buckets: number }): SparseFeatures {
  const s = normaliseText(text);
  const counts = new Map<number, number>();
  for (let n = opts.min; n <= opts.max; n++) {
    for (let i = 0; i + n <= s.length; i++) {
      const b = fnv1a(s.slice(i, i + n)) % opts.buckets;
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
  }
  const indices = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
  const values = Float32Array.from(indices, (i) => Math.log1p(counts.get(i)!));
  let norm = 0;
  for (const v of values) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < values.length; i++) values[i] /= norm;
  return { indices, values };
}

/** Rows of sparse features as one dense row-major [rows, buckets] array. */
export function densify(rows: readonly SparseFeatures[], buckets: number): Float32Array {
  const out = new Float32Array(rows.length * buckets);
  rows.forEach((r, i) => {
    for (let k = 0; k < r.indices.length; k++) out[i * buckets + r.indices[k]] = r.values[k];
  });
  return out;
}
