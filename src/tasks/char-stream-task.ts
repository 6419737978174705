/**
 * Character language modelling on one stream of text for sequence models (the GPT): every
 * training example is a window of `context` characters and the same window shifted by one as the
 * targets, starting at any position of the training stream (nanoGPT's sampling, but walked as an
 * epoch). Validation: windows over the held-out stream, at most MAX_VAL_WINDOWS, evenly spaced.
 *
 * Names: the words are split as for the char-MLP (no validation word is ever seen in training)
 * and each stream is `.word.word.…` with '.' as the boundary. The user's own text: the last
 * `val_fraction` of the text is held out (a contiguous tail, so nothing leaks across the cut).
 */
import * as tf from '@tensorflow/tfjs';
import { splitWords } from '../data/char-lm-dataset';
import { BOUNDARY, buildCharVocab, vocabFromChars, type CharVocab } from '../data/char-vocab';
import type { Rng } from '../data/rng';
import type { GptConfig } from '../models/gpt';
import type { ModelConfig } from '../models/types';
import type { RunConfig } from '../shared/config';
import { TrainerError } from '../shared/errors';
import { crossEntropy, range } from './losses';
import { sampleIndex } from './names-task';
import type { ShownExample } from '../shared/progress';
import { perplexity } from './metrics';
import type { Batch, Task, TaskModel } from './types';

const MAX_VAL_WINDOWS = 2048;
const EVAL_BATCH = 256;

export type ShowcaseStyle = 'words' | 'text';

export class CharStreamTask implements Task {
  readonly vocab: CharVocab;
  readonly train: Int32Array;
  readonly val: Int32Array;
  private readonly valStarts: Int32Array;
  private readonly t: number;

  constructor(
    trainText: string,
    valText: string,
    vocab: CharVocab,
    run: RunConfig,
    private readonly style: ShowcaseStyle,
  ) {
    this.vocab = vocab;
    this.t = run.context;
    this.train = encode(trainText, vocab);
    this.val = encode(valText, vocab);
    for (const [what, s] of [
      ['training', this.train],
      ['validation', this.val],
    ] as const) {
      if (s.length < this.t + 1) {
        throw new TrainerError(
          'DatasetError',
          `the ${what} text has ${s.length} characters, fewer than context + 1 (${this.t + 1}): use more text or a shorter context`,
        );
      }
    }
    const windows = this.val.length - this.t;
    const n = Math.min(MAX_VAL_WINDOWS, Math.ceil(windows / this.t));
    this.valStarts = Int32Array.from({ length: n }, (_, i) =>
      n === 1 ? 0 : Math.round((i * (windows - 1)) / (n - 1)),
    );
  }

  /** First names: split by word, then streamed with '.' between words. */
  static fromWords(words: readonly string[], run: RunConfig, chars?: string[]): CharStreamTask {
    const clean = [...new Set(words.map((w) => w.trim().toLowerCase()).filter((w) => w.length > 0))];
    const { train, val } = splitWords(clean, run.val_fraction, run.seed);
    const stream = (ws: string[]) => BOUNDARY + ws.map((w) => w + BOUNDARY).join('');
    return new CharStreamTask(
      stream(train),
      stream(val),
      chars ? vocabFromChars(chars) : buildCharVocab(clean),
      run,
      'words',
    );
  }

  /** The user's text: the last `val_fraction` of it is validation. */
  static fromText(text: string, run: RunConfig, vocabChars?: string[]): CharStreamTask {
    const chars = [...text];
    const cut = Math.max(0, chars.length - Math.max(run.context + 1, Math.round(chars.length * run.val_fraction)));
    return new CharStreamTask(
      chars.slice(0, cut).join(''),
      chars.slice(cut).join(''),
      vocabChars ? vocabFromChars(vocabChars) : buildCharVocab([text]),
      run,
      'text',
    );
  }

  get trainSize(): number {
    return this.train.length - this.t;
  }

  get valSize(): number {
    return this.valStarts.length;
  }

  get vocabulary(): Record<string, string[]> {
    return { chars: this.vocab.chars };
  }

  modelConfig(run: RunConfig): ModelConfig {
    const c: GptConfig = {
      kind: 'gpt',
      vocab_size: this.vocab.chars.length,
      block_size: run.context,
      n_embd: run.embed,
      n_layer: run.layers,
      n_head: run.heads,
      n_ffn: run.hidden,
      tie_weights: run.tie_weights,
      dropout: run.dropout,
    };
    return c;
  }

  batch(split: 'train' | 'val', indices: Int32Array): Batch {
    const stream = split === 'train' ? this.train : this.val;
    const t = this.t;
    const x = new Int32Array(indices.length * t);
    const y = new Int32Array(indices.length * t);
    indices.forEach((row, i) => {
      const start = split === 'train' ? row : this.valStarts[row];
      x.set(stream.subarray(start, start + t), i * t);
      y.set(stream.subarray(start + 1, start + t + 1), i * t);
    });
    return { x: tf.tensor2d(x, [indices.length, t], 'int32'), y: tf.tensor2d(y, [indices.length, t], 'int32') };
  }

  loss(m: TaskModel, b: Batch, opts: { training: boolean; seed: number }): tf.Scalar {
    return crossEntropy(m.def.logits(m.params, b.x, m.config, opts), b.y);
  }

  async evaluate(m: TaskModel): Promise<Record<string, number>> {
    let total = 0;
    for (let start = 0; start < this.valSize; start += EVAL_BATCH) {
      const idx = range(start, Math.min(this.valSize, start + EVAL_BATCH));
      const sum = tf.tidy(() => tf.mul(this.loss(m, this.batch('val', idx), { training: false, seed: 0 }), idx.length));
      total += (await sum.data())[0];
      sum.dispose();
    }
    const loss = total / this.valSize;
    return { 'val/loss': loss, 'val/perplexity': perplexity(loss) };
  }

  /** Names: five sampled words. Text: three continuations of held-out passages, 80 characters each. */
  async showcase(m: TaskModel, rng: Rng): Promise<ShownExample[]> {
    const words = this.style === 'words';
    const count = words ? 5 : 3;
    const length = words ? 24 : 80;
    const seqs: number[][] = [];
    for (let i = 0; i < count; i++) {
      if (words) seqs.push([0]);
      else {
        const s = this.valStarts[rng.int(this.valStarts.length)];
        seqs.push([...this.val.subarray(s, s + Math.min(this.t, 16))]);
      }
    }
    const prompt = seqs[0].length;
    const done = new Array<boolean>(count).fill(false);
    const v = this.vocab.chars.length;
    for (let step = 0; step < length && done.includes(false); step++) {
      const ctx = Math.min(this.t, seqs[0].length);
      const probs = tf.tidy(() => {
        const x = tf.tensor2d(
          seqs.flatMap((s) => s.slice(-ctx)),
          [count, ctx],
          'int32',
        );
        const logits = m.def.logits(m.params, x, m.config, { training: false, seed: 0 });
        return tf.softmax(tf.slice(logits, [0, ctx - 1, 0], [count, 1, v]).reshape([count, v]));
      });
      const p = await probs.data();
      probs.dispose();
      for (let i = 0; i < count; i++) {
        const c = sampleIndex(p.subarray(i * v, (i + 1) * v), rng);
        seqs[i].push(c);
        if (words && c === 0) done[i] = true;
      }
    }
    return seqs.map((s) => {
      const out = s.slice(prompt).map((c) => this.vocab.chars[c]);
      if (words) {
        const end = out.indexOf(BOUNDARY);
        return { input: '', output: (end < 0 ? out : out.slice(0, end)).join('') };
      }
      const input = s
        .slice(0, prompt)
        .map((c) => this.vocab.chars[c])
        .join('');
      return { input, output: out.join('').replace(/\n/g, '⏎') };
    });
  }
}

function encode(text: string, vocab: CharVocab): Int32Array {
  const chars = [...text];
  return Int32Array.from(chars, (c) => vocab.index.get(c) ?? 0);
}
