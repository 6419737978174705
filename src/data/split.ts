/** Seeded train / validation / test splits of n examples. */
import { Rng } from './rng';

export interface SplitIndices {
  train: number[];
  val: number[];
  test: number[];
}

/**
 * Shuffles 0..n-1 with the seed, then takes validation and test rows off the front: each
 * `fraction` of n (at least 1 when n allows), at most `cap`. The same seed gives the same split.
 */
export function splitIndices(
  n: number,
  opts: { valFraction: number; testFraction: number; seed: number; cap?: number },
): SplitIndices {
  const order = Array.from({ length: n }, (_, i) => i);
  Rng.fromSeed(opts.seed, 0x5b1e).shuffle(order);
  const cap = opts.cap ?? Infinity;
  const size = (f: number) => (f <= 0 ? 0 : Math.min(cap, Math.max(1, Math.round(n * f))));
  const nVal = Math.min(size(opts.valFraction), Math.max(0, n - 1));
  const nTest = Math.min(size(opts.testFraction), Math.max(0, n - 1 - nVal));
  return { val: order.slice(0, nVal), test: order.slice(nVal, nVal + nTest), train: order.slice(nVal + nTest) };
}
