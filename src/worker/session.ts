/**
 * One model being trained: its named parameters, its optimizer, its task and the step that joins
 * them. The loop (loop.ts) decides when to step, save and report; this decides what a step is.
 * The bare benchmark loop calls the same `trainStep`, so the two do exactly the same math.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { initialValues, type ModelConfig, type ModelDefinition, type ParamSpec, type Params } from '../models/types';
import { modelDefinition } from '../models/registry';
import type { RunConfig } from '../shared/config';
import type { Task, TaskModel } from '../tasks/types';
import { formatExample } from '../tasks/examples';
import type { ShownExample } from '../shared/progress';
import type { Weights } from '../checkpoint/contents';
import { createOptimizer, type Optimizer } from './optim';
import { checkWeights } from './snapshot';

export class TrainingSession {
  readonly def: ModelDefinition;
  readonly modelConfig: ModelConfig;
  readonly specs: ParamSpec[];
  readonly params: Params;
  readonly optimizer: Optimizer;
  readonly model: TaskModel;
  /** An exponential moving average of the weights (when `ema` > 0), by PyTorch name. */
  readonly ema: Params | null;
  private readonly varList: tf.Variable[];
  /** Built from a checkpoint's weights (the constructor's `startedFrom`). */
  readonly fromCheckpoint: boolean;

  constructor(
    readonly run: RunConfig,
    readonly task: Task,
    /** Prefix for tfjs variable names, which must be unique while they live (trial runs use one). */
    readonly variablePrefix = '',
    /**
     * A checkpoint's weights (a resume): every parameter starts from them, by name, its shape
     * checked (ShapeMismatchError), and no random values are drawn nor a second copy made. Not
     * kept: the session does not hold the checkpoint's bytes alive.
     */
    startedFrom: Weights | null = null,
  ) {
    this.fromCheckpoint = startedFrom !== null;
    this.modelConfig = task.modelConfig(run);
    this.def = modelDefinition(this.modelConfig.kind);
    this.specs = this.def.paramSpecs(this.modelConfig);
    if (startedFrom) checkWeights(this.specs, startedFrom);
    const rng = Rng.fromSeed(run.seed, 0x1417);
    this.params = {};
    for (const spec of this.specs) {
      const saved = startedFrom?.get(spec.name);
      const values = tf.tensor(saved ? saved.data : initialValues(spec, rng), spec.shape, 'float32');
      this.params[spec.name] = tf.variable(values, true, variablePrefix + spec.name);
      values.dispose();
    }
    this.varList = Object.values(this.params);
    this.optimizer = createOptimizer(run);
    this.model = { def: this.def, config: this.modelConfig, params: this.params };
    this.ema = run.ema > 0 ? this.copyParams(`${variablePrefix}ema/`) : null;
  }

  private copyParams(prefix: string): Params {
    return Object.fromEntries(Object.entries(this.params).map(([n, v]) => [n, tf.variable(v, false, prefix + n)]));
  }

  /** Starts the average over from the current weights (after a warm start or a resume without one). */
  resetEma(): void {
    if (!this.ema) return;
    tf.tidy(() => {
      for (const [n, v] of Object.entries(this.ema!)) v.assign(this.params[n]);
    });
  }

  /** One optimizer update on the given training rows; returns the batch loss, still on the device. */
  trainStep(indices: Int32Array, lr: number, seed: number): tf.Scalar {
    return tf.tidy(() => {
      const batch = this.task.batch('train', indices);
      const { value, grads } = tf.variableGrads(
        () => this.task.loss(this.model, batch, { training: true, seed }),
        this.varList,
      );
      // tfjs keys the gradients by variable name; the optimizer's state is by PyTorch name.
      const byName = Object.fromEntries(
        Object.entries(grads).map(([varName, g]) => [varName.slice(this.variablePrefix.length), g]),
      );
      this.optimizer.applyGradients(this.params, byName, lr);
      if (this.ema) {
        const f = this.run.ema;
        for (const [n, v] of Object.entries(this.ema)) v.assign(tf.add(tf.mul(v, f), tf.mul(this.params[n], 1 - f)));
      }
      return value;
    });
  }

  evaluate(): Promise<Record<string, number>> {
    return this.task.evaluate(this.model);
  }

  /** The task's examples as lines (see formatExample). */
  async showcase(rng: Rng): Promise<string[]> {
    return (await this.task.showcase(this.model, rng)).map(formatExample);
  }

  /** The task's examples, structured. */
  examples(rng: Rng): Promise<ShownExample[]> {
    return this.task.showcase(this.model, rng);
  }

  dispose(): void {
    this.optimizer.dispose();
    tf.dispose(this.varList);
    if (this.ema) tf.dispose(Object.values(this.ema));
  }
}
