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

  async evaluate(m: TaskModel): Promise<Record<string, number>> {
    const k = this.classes.length;
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < this.valSize; start += EVAL_BATCH) {
      const idx = range(start, Math.min(this.valSize, start + EVAL_BATCH));
      const p = await this.probabilities(m, idx);
      idx.forEach((row, i) => {
        const probs = p.subarray(i * k, (i + 1) * k);
        const label = this.val.labels[row];
        loss -= Math.log(Math.max(probs[label], 1e-12));
        let best = 0;
        for (let c = 1; c < k; c++) if (probs[c] > probs[best]) best = c;
        if (best === label) correct++;
      });
    }
    return { 'val/loss': loss / this.valSize, 'val/accuracy': correct / this.valSize };
  }

  /** A few validation messages: predicted class and probability, ✓ or the true class, the subject. */
  async showcase(m: TaskModel, rng: Rng): Promise<string[]> {
    const idx = Int32Array.from({ length: Math.min(SHOWCASE_COUNT, this.valSize) }, () => rng.int(this.valSize));
    const p = await this.probabilities(m, idx);
    const k = this.classes.length;
    return Array.from(idx, (row, i) => {
      const probs = p.subarray(i * k, (i + 1) * k);
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[c] > probs[best]) best = c;
      const truth = this.val.labels[row];
      const mark = best === truth ? '✓' : `✗ (is ${this.classes[truth]})`;
      return `${this.classes[best]} ${(probs[best] * 100).toFixed(0)}% ${mark} · ${normaliseText(this.val.texts[row]).slice(0, 70)}`;
    });
  }
}
