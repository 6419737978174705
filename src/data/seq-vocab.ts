/**
 * A token vocabulary for sequence-to-sequence data. The first four ids are fixed (padding must be
 * 0: the models' masks look for it); the rest are the corpus's tokens in code-point order, so the
 * same data always gives the same ids.
 */
export const PAD = '<pad>';
export const UNK = '<unk>';
export const BOS = '<s>';
export const EOS = '</s>';
export const SPECIALS = [PAD, UNK, BOS, EOS] as const;
export const PAD_ID = 0;
export const UNK_ID = 1;
export const BOS_ID = 2;
export const EOS_ID = 3;

export interface TokenVocab {
  tokens: string[];
  index: Map<string, number>;
}

export function buildTokenVocab(sequences: readonly (readonly string[])[]): TokenVocab {
  const set = new Set<string>();
  for (const s of sequences) for (const t of s) set.add(t);
  for (const s of SPECIALS) set.delete(s);
  const tokens = [...SPECIALS, ...[...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
  return vocabFromTokens(tokens);
}

export function vocabFromTokens(tokens: string[]): TokenVocab {
  return { tokens, index: new Map(tokens.map((t, i) => [t, i])) };
}

export function encodeTokens(seq: readonly string[], vocab: TokenVocab): number[] {
  return seq.map((t) => vocab.index.get(t) ?? UNK_ID);
}

/** Ids back to tokens, stopping at the end token and skipping padding and the start token. */
export function decodeIds(ids: ArrayLike<number>, vocab: TokenVocab): string[] {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === EOS_ID) break;
    if (id === PAD_ID || id === BOS_ID) continue;
    out.push(vocab.tokens[id] ?? UNK);
  }
  return out;
}
