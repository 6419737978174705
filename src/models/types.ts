/**
 * What every model provides. A model is a list of named parameters (PyTorch's names and layouts,
 * so a PyTorch twin loads them with load_state_dict(strict=True)) and pure functions over them.
 * The training loop, optimizers and checkpoints live elsewhere.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../data/rng';

export type Params = Record<string, tf.Variable>;

export interface ParamSpec {
  name: string;
  shape: number[];
  /** How PyTorch initialises it: normal(0, std), uniform(-bound, bound), or a constant. */
  init: { kind: 'normal'; std: number } | { kind: 'uniform'; bound: number } | { kind: 'const'; value: number };
}

/** The settings that fix the parameters' shapes; resuming with any of them changed is refused. */
export interface ModelConfig {
  kind: string;
  vocab_size: number;
  [key: string]: string | number | boolean;
}

export interface ModelDefinition<C extends ModelConfig = ModelConfig> {
  kind: C['kind'];
  /** Keys of the model config that fix the topology (width, depth, vocabulary...). */
  topologyKeys: readonly (keyof C & string)[];
  paramSpecs(config: C): ParamSpec[];
  /** Logits for a batch of inputs. Called inside tf.tidy. */
  logits(params: Params, x: tf.Tensor, config: C, opts: { training: boolean; seed: number }): tf.Tensor;
}

/** PyTorch's nn.Linear default: weight and bias uniform in ±1/sqrt(fan_in). */
export function linearSpecs(name: string, inFeatures: number, outFeatures: number): ParamSpec[] {
  const bound = 1 / Math.sqrt(inFeatures);
  return [
    { name: `${name}.weight`, shape: [outFeatures, inFeatures], init: { kind: 'uniform', bound } },
    { name: `${name}.bias`, shape: [outFeatures], init: { kind: 'uniform', bound } },
  ];
}

/** Initial values, drawn from our own generator so a seed gives the same weights on every backend. */
export function initialValues(spec: ParamSpec, rng: Rng): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const init = spec.init;
  for (let i = 0; i < size; i++) {
    out[i] =
      init.kind === 'normal'
        ? rng.normal() * init.std
        : init.kind === 'uniform'
          ? (rng.next() * 2 - 1) * init.bound
          : init.value;
  }
  return out;
}

export function paramCount(specs: ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
