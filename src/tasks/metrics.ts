/**
 * Validation metrics that say what a model is worth to a person: precision, recall and F1 with
 * the confusion matrix behind them, word error rate, perplexity. Plain numbers in, plain numbers
 * out (no tfjs), so each is checked exactly on small cases.
 */

/** Counts of (true class, predicted class): `matrix[truth][predicted]`. */
export interface Confusion {
  classes: string[];
  matrix: number[][];
}

export function confusionMatrix(
  classes: readonly string[],
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
): Confusion {
  if (truth.length !== predicted.length) throw new Error('truth and predictions differ in length');
  const k = classes.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < truth.length; i++) matrix[truth[i]][predicted[i]]++;
  return { classes: [...classes], matrix };
}

/**
 * Precision, recall and F1 of one class (the positive one, `spam`). A class never predicted has
 * precision 0, never present recall 0, and F1 is 0 when both are: no division by zero is reported
 * as a number it is not.
 */
export function precisionRecallF1(c: Confusion, positive: number): { precision: number; recall: number; f1: number } {
  const tp = c.matrix[positive][positive];
  const predicted = c.matrix.reduce((n, row) => n + row[positive], 0);
  const actual = c.matrix[positive].reduce((n, x) => n + x, 0);
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = actual === 0 ? 0 : tp / actual;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

/** Fraction of sequences not exactly right (word error rate of a pronouncing model). */
export function sequenceErrorRate(pairs: readonly { hyp: readonly string[]; ref: readonly string[] }[]): number {
  if (pairs.length === 0) return 0;
  const wrong = pairs.filter(({ hyp, ref }) => hyp.length !== ref.length || hyp.some((t, i) => t !== ref[i])).length;
  return wrong / pairs.length;
}

/** exp(mean cross-entropy per token, in nats): how many characters the model hesitates between. */
export function perplexity(lossPerToken: number): number {
  return Math.exp(lossPerToken);
}
