/**
 * Text classification (spam or ham) from hashed character n-grams. Features are computed once at
 * load, kept sparse, and made dense per batch. Seeded train / validation / test split (the test
 * rows are held out and never used in training). Validation: mean loss and accuracy.
 */
import * as tf from '@tensorflow/tfjs';
import { densify, hashedNgrams, normaliseText, type SparseFeatures } from '../data/ngram-hash';
import type { Rng } from '../data/rng';
import type { LabelledText } from '../data/spam-source';
import { splitIndices } from '../data/split';
import type { ModelConfig } from '../models/types';
import type { TextMlpConfig } from '../models/text-mlp';
import type { RunConfig } from '../shared/config';
import { crossEntropy, range } from './losses';
import type { ShownExample } from '../shared/progress';
import { confusionMatrix, precisionRecallF1, type Confusion } from './metrics';
import type { Batch, Task, TaskModel } from './types';

const EVAL_BATCH = 256;
const SHOWCASE_COUNT = 4;

interface Rows {
  features: SparseFeatures[];
  labels: Int32Array;
  texts: string[];
}

export class ClassifyTask implements Task {
  readonly train: Rows;
  readonly val: Rows;
  readonly test: LabelledText[];
  private readonly buckets: number;

  constructor(
    items: readonly LabelledText[],
    readonly classes: string[],
    run: RunConfig,
  ) {
    this.buckets = run.hash_buckets;
    const split = splitIndices(items.length, {
      valFraction: run.val_fraction,
      testFraction: run.val_fraction,
      seed: run.seed,
    });
    const rows = (idx: number[]): Rows => ({
      features: idx.map((i) =>
        hashedNgrams(items[i].text, { min: run.ngram_min, max: run.ngram_max, buckets: run.hash_buckets }),
      ),
      labels: Int32Array.from(idx, (i) => items[i].label),
      texts: idx.map((i) => items[i].text),
    });
    this.train = rows(split.train);
    this.val = rows(split.val);
    this.test = split.test.map((i) => items[i]);
  }

  get trainSize(): number {
    return this.train.labels.length;
  }

  get valSize(): number {
    return this.val.labels.length;
  }

  get vocabulary(): Record<string, string[]> {
    return { classes: this.classes };
  }

  modelConfig(run: RunConfig): ModelConfig {
    const c: TextMlpConfig = {
      kind: 'text-mlp',
      vocab_size: run.hash_buckets,
      ngram_min: run.ngram_min,
      ngram_max: run.ngram_max,
      hidden: run.hidden,
      n_classes: this.classes.length,
      dropout: run.dropout,
    };
    return c;
  }

  batch(split: 'train' | 'val', indices: Int32Array): Batch {
    const r = split === 'train' ? this.train : this.val;
    const x = densify(
      Array.from(indices, (i) => r.features[i]),
      this.buckets,
    );
    return {
      x: tf.tensor2d(x, [indices.length, this.buckets]),
      y: tf.tensor1d(
        Int32Array.from(indices, (i) => r.labels[i]),
        'int32',
      ),
    };
  }

  loss(m: TaskModel, b: Batch, opts: { training: boolean; seed: number }): tf.Scalar {
    return crossEntropy(m.def.logits(m.params, b.x, m.config, opts), b.y);
  }

  private async probabilities(m: TaskModel, idx: Int32Array): Promise<Float32Array> {
    const p = tf.tidy(() =>
      tf.softmax(m.def.logits(m.params, this.batch('val', idx).x, m.config, { training: false, seed: 0 })),
    );
    const out = (await p.data()) as Float32Array;
    p.dispose();
    return out;
  }

  /** The last evaluation's confusion matrix (`matrix[truth][predicted]`). */
  lastConfusion?: Confusion;

  async evaluate(m: TaskModel): Promise<Record<string, number>> {
    const k = this.classes.length;
    let loss = 0;
    const predicted = new Int32Array(this.valSize);
    for (let start = 0; start < this.valSize; start += EVAL_BATCH) {
      const idx = range(start, Math.min(this.valSize, start + EVAL_BATCH));
      const p = await this.probabilities(m, idx);
      idx.forEach((row, i) => {
        const probs = p.subarray(i * k, (i + 1) * k);
        loss -= Math.log(Math.max(probs[this.val.labels[row]], 1e-12));
        predicted[row] = argMax(probs);
      });
    }
    const confusion = confusionMatrix(this.classes, this.val.labels, predicted);
    this.lastConfusion = confusion;
    const correct = confusion.matrix.reduce((n, row, c) => n + row[c], 0);
    const metrics: Record<string, number> = {
      'val/loss': loss / this.valSize,
      'val/accuracy': correct / this.valSize,
    };
    // Binary: the second class (`spam`) is the positive one, the one a filter is judged on.
    if (k === 2) {
      const { precision, recall, f1 } = precisionRecallF1(confusion, 1);
      Object.assign(metrics, { 'val/precision': precision, 'val/recall': recall, 'val/f1': f1 });
    }
    return metrics;
  }

  /** A few validation messages: the predicted class and its probability, the true class, the message. */
  async showcase(m: TaskModel, rng: Rng): Promise<ShownExample[]> {
    const idx = Int32Array.from({ length: Math.min(SHOWCASE_COUNT, this.valSize) }, () => rng.int(this.valSize));
    const p = await this.probabilities(m, idx);
    const k = this.classes.length;
    return Array.from(idx, (row, i) => {
      const probs = p.subarray(i * k, (i + 1) * k);
      const best = argMax(probs);
      const truth = this.val.labels[row];
      return {
        input: normaliseText(this.val.texts[row]).slice(0, 300),
        output: this.classes[best],
        reference: this.classes[truth],
        correct: best === truth,
        probability: probs[best],
      };
    });
  }
}

/** The index of the largest value (the first, on a tie). */
export function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < values.length; c++) if (values[c] > values[best]) best = c;
  return best;
}
