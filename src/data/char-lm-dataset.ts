/**
 * Next-character examples from a list of words: for every position of `.word.`, the `context`
 * characters before it and the character itself. Words, not examples, are split into train and
 * validation, so no validation word is ever seen in training.
 */
import { buildCharVocab, vocabFromChars, type CharVocab } from './char-vocab';
import { Rng } from './rng';

export interface CharLmSplit {
  /** Row-major [n, context] character indices. */
  x: Int32Array;
  y: Int32Array;
  n: number;
  words: string[];
}

export interface CharLmDataset {
  vocab: CharVocab;
  context: number;
  train: CharLmSplit;
  val: CharLmSplit;
}

export function splitWords(
  words: readonly string[],
  valFraction: number,
  seed: number,
): { train: string[]; val: string[] } {
  const shuffled = [...words];
  Rng.fromSeed(seed, 0x5b17).shuffle(shuffled);
  const nVal = Math.max(1, Math.round(shuffled.length * valFraction));
  return { val: shuffled.slice(0, nVal), train: shuffled.slice(nVal) };
}

export function encodeWords(words: readonly string[], vocab: CharVocab, context: number): CharLmSplit {
  let n = 0;
  for (const w of words) n += [...w].length + 1;
  const x = new Int32Array(n * context);
  const y = new Int32Array(n);
  let row = 0;
  for (const w of words) {
    const window = new Array<number>(context).fill(0);
    for (const c of [...w, null]) {
      const target = c === null ? 0 : vocab.index.get(c);
      if (target === undefined) throw new Error(`character ${JSON.stringify(c)} is not in the vocabulary`);
      x.set(window, row * context);
      y[row] = target;
      row++;
      window.shift();
      window.push(target);
    }
  }
  return { x, y, n, words: [...words] };
}

export function buildCharLmDataset(
  words: readonly string[],
  opts: { context: number; valFraction: number; seed: number; chars?: string[] },
): CharLmDataset {
  const clean = words.map((w) => w.trim().toLowerCase()).filter((w) => w.length > 0);
  const unique = [...new Set(clean)];
  // A trained model's characters when adapting it to new data; else this data's own.
  const vocab = opts.chars ? vocabFromChars(opts.chars) : buildCharVocab(unique);
  const { train, val } = splitWords(unique, opts.valFraction, opts.seed);
  return {
    vocab,
    context: opts.context,
    train: encodeWords(train, vocab, opts.context),
    val: encodeWords(val, vocab, opts.context),
  };
}

/** Gathers the rows of a batch into fresh arrays, ready for tensors. */
export function gatherBatch(
  split: CharLmSplit,
  indices: Int32Array,
  context: number,
): { x: Int32Array; y: Int32Array } {
  const x = new Int32Array(indices.length * context);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i];
    x.set(split.x.subarray(r * context, (r + 1) * context), i * context);
    y[i] = split.y[r];
  }
  return { x, y };
}
