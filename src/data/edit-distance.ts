/** Levenshtein distance between two token sequences (unit costs), in O(min(n, m)) memory. */
export function editDistance<T>(a: readonly T[], b: readonly T[]): number {
  if (a.length < b.length) [a, b] = [b, a];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** Token (phoneme) error rate: total edits over total reference length. */
export function tokenErrorRate(pairs: readonly { hyp: readonly string[]; ref: readonly string[] }[]): number {
  let edits = 0;
  let length = 0;
  for (const { hyp, ref } of pairs) {
    edits += editDistance(hyp, ref);
    length += ref.length;
  }
  return length === 0 ? 0 : edits / length;
}
