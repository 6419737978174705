/**
 * Optimizers are tfjs's own; this module builds them from the run config with PyTorch's defaults
 * and sets the learning rate each step (tfjs keeps it in a protected field and has no scheduler).
 */
import * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../shared/config';

export type Optimizer = tf.AdamOptimizer | tf.MomentumOptimizer | tf.SGDOptimizer | tf.RMSPropOptimizer;

/** PyTorch's defaults: Adam betas (0.9, 0.999), eps 1e-8; RMSprop alpha 0.99, eps 1e-8. */
export const ADAM_BETAS: [number, number] = [0.9, 0.999];
export const ADAM_EPS = 1e-8;
export const RMSPROP_ALPHA = 0.99;

export function createOptimizer(c: Pick<RunConfig, 'optimizer' | 'lr' | 'momentum'>): Optimizer {
  switch (c.optimizer) {
    case 'adam':
      return tf.train.adam(c.lr, ADAM_BETAS[0], ADAM_BETAS[1], ADAM_EPS);
    case 'sgd':
      return c.momentum > 0 ? tf.train.momentum(c.lr, c.momentum) : tf.train.sgd(c.lr);
    case 'rmsprop':
      return tf.train.rmsprop(c.lr, RMSPROP_ALPHA, c.momentum, ADAM_EPS);
  }
}

/** Sets the rate for the next step; a no-op when it has not changed, so constant rates cost nothing. */
export function setLearningRate(opt: Optimizer, lr: number): void {
  // tfjs reads `learningRate` on every applyGradients but declares it protected; only SGD has a setter.
  const o = opt as unknown as { learningRate: number };
  if (o.learningRate === lr) return;
  // tfjs's `instanceof` for optimizers is duck-typed (every optimizer passes), so ask the class name.
  const name = opt.getClassName();
  if (name === 'SGD' || name === 'Momentum') (opt as tf.SGDOptimizer).setLearningRate(lr); // they keep -lr as a scalar
  else o.learningRate = lr;
}
