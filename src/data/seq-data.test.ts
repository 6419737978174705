import { describe, expect, it } from 'vitest';
import { parseCmudict } from './cmudict';
import { editDistance, tokenErrorRate } from './edit-distance';
import { densify, fnv1a, hashedNgrams } from './ngram-hash';
import { BOS_ID, buildTokenVocab, decodeIds, encodeTokens, EOS_ID, PAD_ID, UNK_ID } from './seq-vocab';
import { parseSpamCorpus } from './spam-source';
import { splitIndices } from './split';

describe('splitIndices', () => {
  it('is a seeded partition with capped validation and test', () => {
    const a = splitIndices(1000, { valFraction: 0.1, testFraction: 0.1, seed: 7, cap: 50 });
    expect(a.val).toHaveLength(50);
    expect(a.test).toHaveLength(50);
    expect(a.train).toHaveLength(900);
    expect(new Set([...a.train, ...a.val, ...a.test]).size).toBe(1000);
    expect(splitIndices(1000, { valFraction: 0.1, testFraction: 0.1, seed: 7, cap: 50 })).toEqual(a);
    expect(splitIndices(1000, { valFraction: 0.1, testFraction: 0.1, seed: 8, cap: 50 }).val).not.toEqual(a.val);
  });
  it('always leaves a training row', () => {
    const s = splitIndices(2, { valFraction: 0.5, testFraction: 0.5, seed: 1 });
    expect(s.train).toHaveLength(1);
    expect(s.val).toHaveLength(1);
    expect(s.test).toHaveLength(0);
  });
});

describe('token vocabulary', () => {
  it('puts the specials first and sorts the rest', () => {
    const v = buildTokenVocab([
      ['b', 'a'],
      ['c', 'a'],
    ]);
    expect(v.tokens).toEqual(['<pad>', '<unk>', '<s>', '</s>', 'a', 'b', 'c']);
    expect(PAD_ID).toBe(0);
    expect(encodeTokens(['a', 'z'], v)).toEqual([4, UNK_ID]);
    expect(decodeIds([BOS_ID, 5, 6, EOS_ID, 4], v)).toEqual(['b', 'c']);
  });
});

describe('edit distance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance([...'kitten'], [...'sitting'])).toBe(3);
    expect(editDistance([], ['a', 'b'])).toBe(2);
    expect(editDistance(['AH0', 'B'], ['AH0', 'B'])).toBe(0);
    expect(
      tokenErrorRate([
        { hyp: ['a'], ref: ['a', 'b'] },
        { hyp: ['c', 'd'], ref: ['c', 'e'] },
      ]),
    ).toBeCloseTo(2 / 4);
  });
});

describe('hashed n-grams', () => {
  it('hashes with FNV-1a', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
  });
  it('gives unit-length features in range, the same for the same text', () => {
    const f = hashedNgrams('Buy  NOW', { min: 1, max: 3, buckets: 64 });
    expect(hashedNgrams('buy now', { min: 1, max: 3, buckets: 64 })).toEqual(f);
    expect([...f.indices].every((i) => i >= 0 && i < 64)).toBe(true);
    expect(f.values.reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 5);
    const dense = densify([f, { indices: new Int32Array(), values: new Float32Array() }], 64);
    expect(dense).toHaveLength(128);
    expect(dense.slice(64).every((v) => v === 0)).toBe(true);
  });
});

describe('corpus parsers', () => {
  it('reads CMUdict lines, skipping variants and non-words', () => {
    const text = ";;; comment\nA  AH0\nA(1)  EY1\nA.  EY1\nABBE  AE1 B IY0\nO'NEIL  OW0 N IY1 L\n";
    expect(parseCmudict(text)).toEqual([
      { word: 'a', phonemes: ['AH0'] },
      { word: 'abbe', phonemes: ['AE1', 'B', 'IY0'] },
      { word: "o'neil", phonemes: ['OW0', 'N', 'IY1', 'L'] },
    ]);
  });
  it('reads the spam corpus lines', () => {
    expect(parseSpamCorpus('spam\t"Subject: win\\nnow"\nham\t"hi"\n')).toEqual([
      { label: 1, text: 'Subject: win\nnow' },
      { label: 0, text: 'hi' },
    ]);
    expect(() => parseSpamCorpus('eggs\t"x"')).toThrow(/malformed/);
  });
});
