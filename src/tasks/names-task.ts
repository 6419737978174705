/**
 * Character-level language modelling of first names (or any list of words): predict each next
 * character from the `context` before it. Validation: mean loss on held-out names. Showcase: new
 * names sampled from the model.
 */
import * as tf from '@tensorflow/tfjs';
import { buildCharLmDataset, gatherBatch, type CharLmDataset, type CharLmSplit } from '../data/char-lm-dataset';
import { BOUNDARY } from '../data/char-vocab';
import type { Rng } from '../data/rng';
import type { ModelConfig } from '../models/types';
import type { RunConfig } from '../shared/config';
import type { ShownExample } from '../shared/progress';
import { perplexity } from './metrics';
import type { Batch, Task, TaskModel } from './types';

const EVAL_BATCH = 2048;
const SHOWCASE_COUNT = 5;

export class CharWindowTask implements Task {
  readonly data: CharLmDataset;

  constructor(words: readonly string[], run: RunConfig, chars?: string[]) {
    this.data = buildCharLmDataset(words, {
      context: run.context,
      valFraction: run.val_fraction,
      seed: run.seed,
      chars,
    });
  }

  get trainSize(): number {
    return this.data.train.n;
  }

  get valSize(): number {
    return this.data.val.n;
  }

  get vocabulary(): Record<string, string[]> {
    return { chars: this.data.vocab.chars };
  }

  modelConfig(run: RunConfig): ModelConfig {
    return {
      kind: 'char-mlp',
      vocab_size: this.data.vocab.chars.length,
      context: run.context,
      embed: run.embed,
      hidden: run.hidden,
    };
  }

  private split(split: 'train' | 'val'): CharLmSplit {
    return split === 'train' ? this.data.train : this.data.val;
  }

  batch(split: 'train' | 'val', indices: Int32Array): Batch {
    const { x, y } = gatherBatch(this.split(split), indices, this.data.context);
    return { x: tf.tensor2d(x, [indices.length, this.data.context], 'int32'), y: tf.tensor1d(y, 'int32') };
  }

  loss(m: TaskModel, b: Batch, opts: { training: boolean; seed: number }): tf.Scalar {
    const logits = m.def.logits(m.params, b.x, m.config, opts);
    return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(tf.oneHot(b.y, m.config.vocab_size), logits);
  }

  async evaluate(m: TaskModel): Promise<Record<string, number>> {
    const n = this.valSize;
    let total = 0;
    for (let start = 0; start < n; start += EVAL_BATCH) {
      const idx = Int32Array.from({ length: Math.min(n, start + EVAL_BATCH) - start }, (_, i) => start + i);
      const sum = tf.tidy(() => tf.mul(this.loss(m, this.batch('val', idx), { training: false, seed: 0 }), idx.length));
      total += (await sum.data())[0];
      sum.dispose();
    }
    return { 'val/loss': total / n, 'val/perplexity': perplexity(total / n) };
  }

  /** Words sampled from the model, all at once, one character per round trip. */
  async showcase(m: TaskModel, rng: Rng, maxLength = 24): Promise<ShownExample[]> {
    const ctx = this.data.context;
    const count = SHOWCASE_COUNT;
    const windows = Array.from({ length: count }, () => new Array<number>(ctx).fill(0));
    const words = Array.from({ length: count }, () => '');
    const done = new Array<boolean>(count).fill(false);
    const v = m.config.vocab_size;
    for (let t = 0; t < maxLength && done.includes(false); t++) {
      const probs = tf.tidy(() =>
        tf.softmax(
          m.def.logits(m.params, tf.tensor2d(windows.flat(), [count, ctx], 'int32'), m.config, {
            training: false,
            seed: 0,
          }),
        ),
      );
      const p = await probs.data();
      probs.dispose();
      for (let i = 0; i < count; i++) {
        if (done[i]) continue;
        const c = sampleIndex(p.subarray(i * v, (i + 1) * v), rng);
        const ch = this.data.vocab.chars[c];
        if (ch === BOUNDARY) done[i] = true;
        else words[i] += ch;
        windows[i].shift();
        windows[i].push(c);
      }
    }
    return words.map((output) => ({ input: '', output }));
  }
}

/** Draws an index from a probability vector. */
export function sampleIndex(p: ArrayLike<number>, rng: Rng): number {
  let r = rng.next();
  for (let k = 0; k < p.length; k++) {
    r -= p[k];
    if (r <= 0) return k;
  }
  return p.length - 1;
}
