/**
 * fast-check settings for a property test: a fixed number of runs, never a time limit (a slower
 * machine must check as much as a fast one), and the seed printed, so a failure seen once in CI
 * can be replayed exactly with PROPERTY_SEED=<seed>.
 */
export function propertyRuns(name: string, numRuns: number): { numRuns: number; seed: number } {
  const fromEnv = process.env.PROPERTY_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer, got ${fromEnv}`);
  console.log(`property "${name}": ${numRuns} runs, seed ${seed} (replay with PROPERTY_SEED=${seed})`);
  return { numRuns, seed };
}
