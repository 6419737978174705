/**
 * One model being trained: its named parameters, its optimizer, its data and the step that joins
 * them. The loop (loop.ts) decides when to step, save and report; this decides what a step is.
 * The bare benchmark loop calls the same `trainStep`, so the two do exactly the same math.
 */
import * as tf from '@tensorflow/tfjs';
import { gatherBatch, type CharLmDataset, type CharLmSplit } from '../data/char-lm-dataset';
import { Rng } from '../data/rng';
import { BOUNDARY } from '../data/char-vocab';
import { initialValues, type ModelConfig, type ModelDefinition, type ParamSpec, type Params } from '../models/types';
import { modelConfigFor, modelDefinition } from '../models/registry';
import type { RunConfig } from '../shared/config';
import { createOptimizer, setLearningRate, type Optimizer } from './optim';

const EVAL_BATCH = 2048;

export class TrainingSession {
  readonly def: ModelDefinition;
  readonly modelConfig: ModelConfig;
  readonly specs: ParamSpec[];
  readonly params: Params;
  readonly optimizer: Optimizer;
  private readonly varList: tf.Variable[];

  constructor(
    readonly run: RunConfig,
    readonly data: CharLmDataset,
    /** Prefix for tfjs variable names, which must be unique while they live (trial runs use one). */
    readonly variablePrefix = '',
  ) {
    this.modelConfig = modelConfigFor(run, data.vocab.chars.length);
    this.def = modelDefinition(this.modelConfig.kind);
    this.specs = this.def.paramSpecs(this.modelConfig);
    const rng = Rng.fromSeed(run.seed, 0x1417);
    this.params = {};
    for (const spec of this.specs) {
      const values = tf.tensor(initialValues(spec, rng), spec.shape, 'float32');
      this.params[spec.name] = tf.variable(values, true, variablePrefix + spec.name);
      values.dispose();
    }
    this.varList = Object.values(this.params);
    this.optimizer = createOptimizer(run);
  }

  /** Mean cross-entropy of a batch. Call inside tf.tidy. */
  private lossOf(x: tf.Tensor, y: tf.Tensor, training: boolean, seed: number): tf.Scalar {
    const logits = this.def.logits(this.params, x, this.modelConfig, { training, seed });
    return tf.losses.softmaxCrossEntropy(tf.oneHot(y as tf.Tensor1D, this.modelConfig.vocab_size), logits) as tf.Scalar;
  }

  /** One optimizer update on the given training rows; returns the batch loss, still on the device. */
  trainStep(indices: Int32Array, lr: number, seed: number): tf.Scalar {
    setLearningRate(this.optimizer, lr);
    const { x, y } = gatherBatch(this.data.train, indices, this.data.context);
    return tf.tidy(() => {
      const xt = tf.tensor2d(x, [indices.length, this.data.context], 'int32');
      const yt = tf.tensor1d(y, 'int32');
      const { value, grads } = tf.variableGrads(() => this.lossOf(xt, yt, true, seed), this.varList);
      const wd = this.run.weight_decay;
      if (wd > 0) {
        // PyTorch's weight_decay for Adam/SGD/RMSprop: add wd·θ to the gradient (L2, not AdamW).
        for (const name of Object.keys(grads)) grads[name] = tf.add(grads[name], tf.mul(this.paramByVarName(name), wd));
      }
      // Typed per subclass in tfjs (Adam says NamedVariableMap) though every optimizer reads plain tensors.
      (this.optimizer as tf.Optimizer).applyGradients(grads);
      return value;
    });
  }

  private paramByVarName(varName: string): tf.Variable {
    return this.params[varName.slice(this.variablePrefix.length)];
  }

  /** Mean loss over a whole split, without dropout. */
  async evaluate(split: CharLmSplit): Promise<number> {
    let total = 0;
    for (let start = 0; start < split.n; start += EVAL_BATCH) {
      const end = Math.min(split.n, start + EVAL_BATCH);
      const idx = new Int32Array(end - start);
      for (let i = 0; i < idx.length; i++) idx[i] = start + i;
      const { x, y } = gatherBatch(split, idx, this.data.context);
      const sum = tf.tidy(() => {
        const xt = tf.tensor2d(x, [idx.length, this.data.context], 'int32');
        const yt = tf.tensor1d(y, 'int32');
        return tf.mul(this.lossOf(xt, yt, false, 0), idx.length);
      });
      total += (await sum.data())[0];
      sum.dispose();
    }
    return total / split.n;
  }

  /** Words sampled from the model, all at once, one character per round trip. */
  async sampleWords(count: number, rng: Rng, maxLength = 24): Promise<string[]> {
    const ctx = this.data.context;
    const windows = Array.from({ length: count }, () => new Array<number>(ctx).fill(0));
    const words = Array.from({ length: count }, () => '');
    const done = new Array<boolean>(count).fill(false);
    for (let t = 0; t < maxLength && done.includes(false); t++) {
      const probs = tf.tidy(() => {
        const xt = tf.tensor2d(windows.flat(), [count, ctx], 'int32');
        return tf.softmax(this.def.logits(this.params, xt, this.modelConfig, { training: false, seed: 0 }));
      });
      const p = await probs.data();
      probs.dispose();
      const v = this.modelConfig.vocab_size;
      for (let i = 0; i < count; i++) {
        if (done[i]) continue;
        let r = rng.next();
        let c = v - 1;
        for (let k = 0; k < v; k++) {
          r -= p[i * v + k];
          if (r <= 0) {
            c = k;
            break;
          }
        }
        const ch = this.data.vocab.chars[c];
        if (ch === BOUNDARY) done[i] = true;
        else words[i] += ch;
        windows[i].shift();
        windows[i].push(c);
      }
    }
    return words;
  }

  dispose(): void {
    this.optimizer.dispose();
    tf.dispose(this.varList);
  }
}
