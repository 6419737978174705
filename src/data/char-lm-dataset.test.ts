import { expect, test } from 'vitest';
import { buildCharLmDataset, encodeWords, gatherBatch } from './char-lm-dataset';
import { adaptToVocab, buildCharVocab, UNKNOWN } from './char-vocab';

test('every position of .word. is one example with its context', () => {
  const vocab = buildCharVocab(['ab']);
  const s = encodeWords(['ab'], vocab, 2);
  expect(vocab.chars).toEqual(['.', UNKNOWN, 'a', 'b']);
  expect(s.n).toBe(3);
  expect(Array.from(s.x)).toEqual([0, 0, 0, 2, 2, 3]);
  expect(Array.from(s.y)).toEqual([2, 3, 0]);
  const b = gatherBatch(s, Int32Array.from([2, 0]), 2);
  expect(Array.from(b.x)).toEqual([2, 3, 0, 0]);
  expect(Array.from(b.y)).toEqual([0, 2]);
});

test('train and validation words are disjoint and the split depends on the seed', () => {
  const words = Array.from({ length: 200 }, (_, i) => `w${String.fromCharCode(97 + (i % 26))}${i}`);
  const a = buildCharLmDataset(words, { context: 3, valFraction: 0.1, seed: 1 });
  const b = buildCharLmDataset(words, { context: 3, valFraction: 0.1, seed: 2 });
  expect(a.val.words.length).toBe(20);
  expect(a.train.words.filter((w) => a.val.words.includes(w))).toEqual([]);
  expect(a.val.words).not.toEqual(b.val.words);
  expect(buildCharLmDataset(words, { context: 3, valFraction: 0.1, seed: 1 }).val.words).toEqual(a.val.words);
});

test('new data is fitted to a trained vocabulary: unknown characters refused by name, or mapped', () => {
  const chars = buildCharVocab(['anna', 'bob']).chars;
  expect(adaptToVocab(['abba'], chars, 'refuse').adaptation).toEqual({ unknown: [], mapped: 0 });
  expect(() => adaptToVocab(['zoé', 'zed'], chars, 'refuse')).toThrow(
    expect.objectContaining({
      name: 'DatasetError',
      message: expect.stringContaining('4 characters outside the model\'s vocabulary ("z", "é", "e", "d")'),
    }),
  );
  const r = adaptToVocab(['zoé', 'ab'], chars, 'map_to_unk');
  expect(r.texts).toEqual([`${UNKNOWN}o${UNKNOWN}`, 'ab']);
  expect(r.adaptation).toEqual({ unknown: ['z', 'é'], mapped: 2 });
});
