import { describe, expect, it } from 'vitest';
import { confusionMatrix, perplexity, precisionRecallF1, sequenceErrorRate } from './metrics';

describe('classification metrics', () => {
  // truth:     ham ham ham spam spam spam spam ham
  // predicted: ham spam ham spam spam ham spam ham  -> TP 3, FP 1, FN 1, TN 3
  const truth = [0, 0, 0, 1, 1, 1, 1, 0];
  const predicted = [0, 1, 0, 1, 1, 0, 1, 0];

  it('counts the confusion matrix by [truth][predicted]', () => {
    expect(confusionMatrix(['ham', 'spam'], truth, predicted)).toEqual({
      classes: ['ham', 'spam'],
      matrix: [
        [3, 1],
        [1, 3],
      ],
    });
  });

  it('gives precision, recall and F1 of the positive class exactly', () => {
    const c = confusionMatrix(['ham', 'spam'], [0, 0, 1, 1, 1], [1, 0, 1, 0, 0]);
    // TP 1, FP 1, FN 2: precision 1/2, recall 1/3, F1 = 2·(1/6)/(5/6) = 0.4
    const m = precisionRecallF1(c, 1);
    expect(m.precision).toBe(0.5);
    expect(m.recall).toBeCloseTo(1 / 3, 12);
    expect(m.f1).toBeCloseTo(0.4, 12);
  });

  it('reports 0, not NaN, for a class never predicted or never present', () => {
    expect(precisionRecallF1(confusionMatrix(['ham', 'spam'], [0, 1], [0, 0]), 1)).toEqual({
      precision: 0,
      recall: 0,
      f1: 0,
    });
    expect(precisionRecallF1(confusionMatrix(['ham', 'spam'], [0, 0], [1, 0]), 1)).toEqual({
      precision: 0,
      recall: 0,
      f1: 0,
    });
  });

  it('refuses truth and predictions of different lengths', () => {
    expect(() => confusionMatrix(['a', 'b'], [0], [0, 1])).toThrow(/length/);
  });
});

describe('sequence metrics', () => {
  it('counts a word wrong when any phoneme differs, is missing or is extra', () => {
    const pairs = [
      { hyp: ['K', 'AE1', 'T'], ref: ['K', 'AE1', 'T'] },
      { hyp: ['D', 'AO1'], ref: ['D', 'AO1', 'G'] },
      { hyp: ['B', 'IH1', 'G', 'Z'], ref: ['B', 'IH1', 'G'] },
      { hyp: ['S', 'AH1', 'N'], ref: ['S', 'AH1', 'M'] },
    ];
    expect(sequenceErrorRate(pairs)).toBe(0.75);
    expect(sequenceErrorRate([])).toBe(0);
  });

  it('perplexity is exp of the per-token loss: ln 27 nats is 27 equally likely characters', () => {
    expect(perplexity(Math.log(27))).toBeCloseTo(27, 10);
    expect(perplexity(0)).toBe(1);
  });
});
