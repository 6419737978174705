/**
 * A character vocabulary. Index 0 is the boundary token '.', which starts and ends every word,
 * as in makemore; the rest are the corpus's characters in code-point order, so the same text
 * always gives the same vocabulary.
 */
export const BOUNDARY = '.';

export interface CharVocab {
  chars: string[];
  index: Map<string, number>;
}

export function buildCharVocab(words: readonly string[]): CharVocab {
  const set = new Set<string>();
  for (const w of words) for (const c of w) if (c !== BOUNDARY) set.add(c);
  const chars = [BOUNDARY, ...[...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
  return { chars, index: new Map(chars.map((c, i) => [c, i])) };
}

export function vocabFromChars(chars: string[]): CharVocab {
  return { chars, index: new Map(chars.map((c, i) => [c, i])) };
}
