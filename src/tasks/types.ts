/**
 * A task joins a dataset to the models that can learn it: it builds batches as tensors, says how
 * a batch is scored, what is measured on validation, and what to show a person as it learns.
 * The training loop knows tasks only through this interface.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../data/rng';
import type { ModelConfig, ModelDefinition, Params } from '../models/types';
import type { RunConfig } from '../shared/config';
import type { ShownExample } from '../shared/progress';
import type { Confusion } from './metrics';

/** Tensors of one batch, by name (e.g. `x`, `y`, `src`, `tgt_in`, `tgt_out`, `mask`). */
export type Batch = Record<string, tf.Tensor>;

export interface TaskModel {
  def: ModelDefinition;
  config: ModelConfig;
  params: Params;
}

export interface Task {
  /** Number of training examples; the data cursor walks a permutation of 0..trainSize-1. */
  readonly trainSize: number;
  readonly valSize: number;
  /**
   * What must travel with the run so its model can be used again (the vocabulary, say). It is
   * saved in the checkpoint's model config; a resume with a different one is refused.
   */
  readonly vocabulary: Record<string, string[]>;
  /** The model config for this run: the run's shape settings plus sizes the data fixes. */
  modelConfig(run: RunConfig): ModelConfig;
  /** The tensors of a batch of training (or validation) rows. Called inside tf.tidy. */
  batch(split: 'train' | 'val', indices: Int32Array): Batch;
  /** The mean loss of a batch. Called inside tf.tidy. */
  loss(model: TaskModel, batch: Batch, opts: { training: boolean; seed: number }): tf.Scalar;
  /** Validation metrics, `val/loss` always among them (others: `val/accuracy`, `val/per`...). */
  evaluate(model: TaskModel): Promise<Record<string, number>>;
  /** Set when new data was fitted to a trained model's vocabulary (a warm start on new data). */
  readonly adaptation?: import('../data/char-vocab').VocabAdaptation;
  /**
   * A few examples to show a person: sampled names (no reference), greedy translations and
   * classified messages of validation rows (with the reference and a right/wrong mark).
   */
  showcase(model: TaskModel, rng: Rng): Promise<ShownExample[]>;
  /** A classifier's confusion matrix from its last `evaluate` (`matrix[truth][predicted]`). */
  readonly lastConfusion?: Confusion;
}
