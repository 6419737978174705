/** hash-wasm's streaming hashers, each created once and reused. */
import type { IHasher } from 'hash-wasm';

/**
 * A function giving the hex digest of a part's chunks, fed one at a time, from one hasher
 * instance (its WASM module compiled once): hashing is synchronous between init() and digest(),
 * so two calls never interleave on it.
 */
export function streamingHex(create: () => Promise<IHasher>): (chunks: readonly Uint8Array[]) => Promise<string> {
  let hasher: Promise<IHasher> | undefined;
  return async (chunks) => {
    const h = await (hasher ??= create());
    h.init();
    for (const c of chunks) h.update(c);
    return h.digest('hex');
  };
}
