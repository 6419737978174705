/**
 * Sequence-to-sequence learning (grapheme-to-phoneme, or the user's TSV): teacher-forced
 * cross-entropy in training; on validation, the same loss plus greedy decoding of every
 * validation row, scored by exact match (`val/word_accuracy`) and token error rate (`val/per`:
 * edit distance over reference length; phoneme error rate for g2p). Batches are padded to the
 * data's longest source and target, so every step has the same shapes (no kernel recompiles).
 */
import * as tf from '@tensorflow/tfjs';
import { tokenErrorRate } from '../data/edit-distance';
import type { Rng } from '../data/rng';
import { BOS_ID, buildTokenVocab, decodeIds, encodeTokens, EOS_ID, PAD_ID, type TokenVocab } from '../data/seq-vocab';
import { splitIndices } from '../data/split';
import { decode, encode, type Seq2SeqConfig } from '../models/seq2seq';
import type { ModelConfig } from '../models/types';
import type { RunConfig } from '../shared/config';
import { crossEntropy, range } from './losses';
import type { ShownExample } from '../shared/progress';
import { sequenceErrorRate } from './metrics';
import type { Batch, Task, TaskModel } from './types';

const EVAL_BATCH = 256;
const SHOWCASE_COUNT = 5;

export interface SeqPair {
  src: string[];
  tgt: string[];
}

interface Encoded {
  /** [n, srcLen] source ids, padded with 0. */
  src: Int32Array;
  /** [n, tgtLen] decoder inputs: <s> then the target. */
  tgtIn: Int32Array;
  /** [n, tgtLen] targets: the target then </s>, padded with 0 (ignored by the loss). */
  tgtOut: Int32Array;
  pairs: SeqPair[];
}

export interface Seq2SeqTaskOptions {
  /** Most validation (and test) rows: greedy decoding of all of them runs at every evaluation. */
  evalCap: number;
  /** How a token sequence is shown: '' for letters, ' ' for phonemes and words. */
  srcJoin: string;
  tgtJoin: string;
}

export class Seq2SeqTask implements Task {
  readonly srcVocab: TokenVocab;
  readonly tgtVocab: TokenVocab;
  readonly srcLen: number;
  readonly tgtLen: number;
  readonly train: Encoded;
  readonly val: Encoded;
  /** Held out for a final test; never trained on or evaluated during training. */
  readonly test: SeqPair[];

  constructor(
    pairs: readonly SeqPair[],
    run: RunConfig,
    private readonly opts: Seq2SeqTaskOptions,
  ) {
    const split = splitIndices(pairs.length, {
      valFraction: run.val_fraction,
      testFraction: run.val_fraction,
      seed: run.seed,
      cap: opts.evalCap,
    });
    const pick = (idx: number[]) => idx.map((i) => pairs[i]);
    const train = pick(split.train);
    // From the training rows only: a validation token never seen in training is <unk>, honestly.
    this.srcVocab = buildTokenVocab(train.map((p) => p.src));
    this.tgtVocab = buildTokenVocab(train.map((p) => p.tgt));
    // A loop, not Math.max(...): spreading 130,000 lengths overflows the call stack.
    this.srcLen = pairs.reduce((m, p) => Math.max(m, p.src.length), 1);
    this.tgtLen = pairs.reduce((m, p) => Math.max(m, p.tgt.length), 0) + 1;
    this.train = this.encodeRows(train);
    this.val = this.encodeRows(pick(split.val));
    this.test = pick(split.test);
  }

  private encodeRows(pairs: SeqPair[]): Encoded {
    const n = pairs.length;
    const src = new Int32Array(n * this.srcLen);
    const tgtIn = new Int32Array(n * this.tgtLen);
    const tgtOut = new Int32Array(n * this.tgtLen);
    pairs.forEach((p, i) => {
      src.set(encodeTokens(p.src, this.srcVocab), i * this.srcLen);
      const t = encodeTokens(p.tgt, this.tgtVocab);
      tgtIn.set([BOS_ID, ...t], i * this.tgtLen);
      tgtOut.set([...t, EOS_ID], i * this.tgtLen);
    });
    return { src, tgtIn, tgtOut, pairs };
  }

  get trainSize(): number {
    return this.train.pairs.length;
  }

  get valSize(): number {
    return this.val.pairs.length;
  }

  get vocabulary(): Record<string, string[]> {
    return { source: this.srcVocab.tokens, target: this.tgtVocab.tokens };
  }

  modelConfig(run: RunConfig): ModelConfig {
    const c: Seq2SeqConfig = {
      kind: 'seq2seq',
      src_vocab_size: this.srcVocab.tokens.length,
      vocab_size: this.tgtVocab.tokens.length,
      d_model: run.embed,
      n_head: run.heads,
      d_ff: run.hidden,
      enc_layers: run.layers,
      dec_layers: run.layers,
      dropout: run.dropout,
      src_len: this.srcLen,
    };
    return c;
  }

  private rows(
    split: 'train' | 'val',
    indices: Int32Array,
  ): { src: Int32Array; tgtIn: Int32Array; tgtOut: Int32Array } {
    const e = split === 'train' ? this.train : this.val;
    const gather = (a: Int32Array, w: number) => {
      const out = new Int32Array(indices.length * w);
      indices.forEach((r, i) => out.set(a.subarray(r * w, (r + 1) * w), i * w));
      return out;
    };
    return {
      src: gather(e.src, this.srcLen),
      tgtIn: gather(e.tgtIn, this.tgtLen),
      tgtOut: gather(e.tgtOut, this.tgtLen),
    };
  }

  /** x = [src | tgt_in] packed (the model's one input), y = tgt_out. */
  batch(split: 'train' | 'val', indices: Int32Array): Batch {
    const r = this.rows(split, indices);
    const b = indices.length;
    const src = tf.tensor2d(r.src, [b, this.srcLen], 'int32');
    const tgtIn = tf.tensor2d(r.tgtIn, [b, this.tgtLen], 'int32');
    return { x: tf.concat([src, tgtIn], 1), src, y: tf.tensor2d(r.tgtOut, [b, this.tgtLen], 'int32') };
  }

  loss(m: TaskModel, b: Batch, opts: { training: boolean; seed: number }): tf.Scalar {
    return crossEntropy(m.def.logits(m.params, b.x, m.config, opts), b.y, PAD_ID);
  }

  /** Greedy decoding of validation rows (see greedyDecode). */
  async greedy(m: TaskModel, indices: Int32Array): Promise<string[][]> {
    return greedyDecode(m, this.rows('val', indices).src, indices.length, this.srcLen, this.tgtLen, this.tgtVocab);
  }

  /** How token sequences are shown: letters joined with nothing, phonemes and words with spaces. */
  get joins(): { src: string; tgt: string } {
    return { src: this.opts.srcJoin, tgt: this.opts.tgtJoin };
  }

  async evaluate(m: TaskModel): Promise<Record<string, number>> {
    let total = 0;
    let tokens = 0;
    let correct = 0;
    const scored: { hyp: string[]; ref: string[] }[] = [];
    for (let start = 0; start < this.valSize; start += EVAL_BATCH) {
      const idx = range(start, Math.min(this.valSize, start + EVAL_BATCH));
      const r = this.rows('val', idx);
      const n = r.tgtOut.reduce((k, id) => k + (id === PAD_ID ? 0 : 1), 0);
      const sum = tf.tidy(() => tf.mul(this.loss(m, this.batch('val', idx), { training: false, seed: 0 }), n));
      total += (await sum.data())[0];
      tokens += n;
      sum.dispose();
      const hyps = await this.greedy(m, idx);
      hyps.forEach((hyp, i) => {
        const ref = this.val.pairs[idx[i]].tgt;
        if (hyp.length === ref.length && hyp.every((t, k) => t === ref[k])) correct++;
        scored.push({ hyp, ref });
      });
    }
    return {
      'val/loss': total / tokens,
      'val/word_accuracy': correct / this.valSize,
      'val/per': tokenErrorRate(scored),
      'val/wer': sequenceErrorRate(scored),
    };
  }

  /** The first few validation rows, greedily decoded, with the expected output and whether it is right. */
  async showcase(m: TaskModel, _rng: Rng): Promise<ShownExample[]> {
    const idx = range(0, Math.min(SHOWCASE_COUNT, this.valSize));
    const hyps = await this.greedy(m, idx);
    return hyps.map((hyp, i) => {
      const { src, tgt } = this.val.pairs[idx[i]];
      const output = hyp.join(this.opts.tgtJoin);
      const reference = tgt.join(this.opts.tgtJoin);
      return { input: src.join(this.opts.srcJoin), output, reference, correct: output === reference };
    });
  }
}

/**
 * Greedy decoding: the sources ([b, srcLen] ids, 0-padded) are encoded once, then one target
 * token per step for all rows at once, `steps` steps; each row's tokens end at its first `</s>`.
 * The task's showcase and "try it" share it, so a try of a validation word answers as the
 * showcase does.
 */
export async function greedyDecode(
  m: TaskModel,
  srcIds: Int32Array,
  b: number,
  srcLen: number,
  steps: number,
  tgtVocab: TokenVocab,
): Promise<string[][]> {
  const c = m.config as Seq2SeqConfig;
  const opts = { training: false, seed: 0 };
  const src = tf.tensor2d(srcIds, [b, srcLen], 'int32');
  const memory = tf.tidy(() => encode(m.params, src, c, opts));
  let ids: tf.Tensor = tf.fill([b, 1], BOS_ID, 'int32');
  try {
    for (let t = 0; t < steps; t++) {
      const prev = ids;
      ids = tf.tidy(() => {
        const logits = decode(m.params, memory, src, prev, c, opts);
        const last = tf.slice(logits, [0, t, 0], [b, 1, c.vocab_size]);
        return tf.concat([prev, tf.argMax(last, -1).toInt()], 1);
      });
      prev.dispose();
    }
    const out = await ids.data();
    const w = steps + 1;
    return Array.from({ length: b }, (_, i) => decodeIds(out.subarray(i * w + 1, (i + 1) * w), tgtVocab));
  } finally {
    tf.dispose([src, memory, ids]);
  }
}
