/**
 * A character vocabulary. Index 0 is the boundary token '.', which starts and ends every word,
 * as in makemore; index 1 is the unknown character U+FFFD, which new data's characters outside
 * the vocabulary can be mapped to when a trained model is adapted to it; the rest are the
 * corpus's characters in code-point order, so the same text always gives the same vocabulary.
 */
import { TrainerError } from '../shared/errors';

export const BOUNDARY = '.';
export const UNKNOWN = '\uFFFD';

export interface CharVocab {
  chars: string[];
  index: Map<string, number>;
}

export function buildCharVocab(words: readonly string[]): CharVocab {
  const set = new Set<string>();
  for (const w of words) for (const c of w) if (c !== BOUNDARY && c !== UNKNOWN) set.add(c);
  const chars = [BOUNDARY, UNKNOWN, ...[...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
  return { chars, index: new Map(chars.map((c, i) => [c, i])) };
}

export function vocabFromChars(chars: string[]): CharVocab {
  return { chars, index: new Map(chars.map((c, i) => [c, i])) };
}

/** What adapting new data to a trained model's vocabulary found. */
export interface VocabAdaptation {
  /** Characters of the new data outside the vocabulary, most frequent first. */
  unknown: string[];
  /** How many characters were mapped to UNKNOWN (0 when refused or none). */
  mapped: number;
}

/**
 * Fits new texts to a trained model's characters (incremental adaptation): characters outside
 * `chars` are refused with a DatasetError listing them, or mapped to UNKNOWN.
 */
export function adaptToVocab(
  texts: readonly string[],
  chars: readonly string[],
  policy: 'refuse' | 'map_to_unk',
): { texts: string[]; adaptation: VocabAdaptation } {
  const known = new Set(chars);
  const counts = new Map<string, number>();
  for (const t of texts) for (const c of t) if (!known.has(c)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const unknown = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([c]) => c);
  if (unknown.length === 0) return { texts: [...texts], adaptation: { unknown, mapped: 0 } };
  const shown = unknown
    .slice(0, 20)
    .map((c) => JSON.stringify(c))
    .join(', ');
  if (policy === 'refuse') {
    throw new TrainerError(
      'DatasetError',
      `the new data has ${unknown.length} character${unknown.length === 1 ? '' : 's'} outside the model's vocabulary (${shown}${unknown.length > 20 ? ', …' : ''}): choose unknown_chars=map_to_unk to map them to the unknown character`,
    );
  }
  if (!known.has(UNKNOWN)) {
    throw new TrainerError('DatasetError', `the model's vocabulary has no unknown character to map ${shown} to`);
  }
  let mapped = 0;
  const out = texts.map((t) => {
    let r = '';
    for (const c of t) {
      if (known.has(c)) r += c;
      else {
        r += UNKNOWN;
        mapped++;
      }
    }
    return r;
  });
  return { texts: out, adaptation: { unknown, mapped } };
}
