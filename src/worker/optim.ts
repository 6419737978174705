/**
 * The optimizers, computed as PyTorch 1.13's torch.optim.Adam, SGD and RMSprop compute them (the
 * single-tensor path, defaults below), so that the state they keep is exactly what PyTorch's
 * state_dict holds, `step` and named per-parameter tensors, and nothing else. A checkpoint then
 * holds the whole optimizer, and a resumed run continues bit for bit.
 *
 * Why not tfjs's own optimizers: they keep state their getWeights/setWeights do not carry. Adam's
 * bias corrections come from running float32 products of the betas that setWeights rebuilds as
 * pow(beta, t), which rounds differently, and RMSprop folds each step's learning rate into its
 * momentum, so under a schedule no PyTorch buffer could restore it (and dividing it back out
 * gave NaN where the schedule reaches 0). A resumed run drifted from the uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../shared/config';

/** PyTorch's defaults: Adam betas (0.9, 0.999), eps 1e-8; RMSprop alpha 0.99, eps 1e-8. */
export const ADAM_BETAS: [number, number] = [0.9, 0.999];
export const ADAM_EPS = 1e-8;
export const RMSPROP_ALPHA = 0.99;

/** A per-parameter state tensor, by its name in PyTorch's state_dict. */
export type SlotName = 'exp_avg' | 'exp_avg_sq' | 'momentum_buffer' | 'square_avg';

export type OptimizerSettings = Pick<RunConfig, 'optimizer' | 'lr' | 'momentum' | 'weight_decay'>;

/** The slots PyTorch keeps for these settings (RMSprop and SGD keep a momentum buffer only with momentum). */
export function slotNames(s: Pick<RunConfig, 'optimizer' | 'momentum'>): SlotName[] {
  switch (s.optimizer) {
    case 'adam':
      return ['exp_avg', 'exp_avg_sq'];
    case 'sgd':
      return s.momentum > 0 ? ['momentum_buffer'] : [];
    case 'rmsprop':
      return s.momentum > 0 ? ['square_avg', 'momentum_buffer'] : ['square_avg'];
  }
}

export class Optimizer {
  readonly kind: RunConfig['optimizer'];
  readonly momentum: number;
  readonly weightDecay: number;
  readonly slotNames: readonly SlotName[];
  /** The rate the latest update used (the schedule gives one per update). */
  learningRate: number;
  /** Updates applied: PyTorch's `step`, one count for all parameters since every update moves them all. */
  private stepCount = 0;
  /** Per parameter: none before its first update (as in PyTorch), then every slot. */
  private readonly state = new Map<string, Record<SlotName, tf.Variable>>();

  constructor(s: OptimizerSettings) {
    this.kind = s.optimizer;
    this.momentum = s.momentum;
    this.weightDecay = s.weight_decay;
    this.slotNames = slotNames(s);
    this.learningRate = s.lr;
  }

  get step(): number {
    return this.stepCount;
  }

  /** The state by parameter name; the tensors are the optimizer's own (read them, do not dispose them). */
  slots(): ReadonlyMap<string, Readonly<Record<SlotName, tf.Tensor>>> {
    return this.state;
  }

  /**
   * One update of every parameter in `grads` (keyed like `params`) at rate `lr`. The scalars
   * (bias corrections, step size) are computed in doubles and rounded once, as PyTorch does.
   */
  applyGradients(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.learningRate = lr;
    const t = ++this.stepCount;
    tf.tidy(() => {
      for (const [name, grad] of Object.entries(grads)) {
        const p = params[name];
        // PyTorch's weight_decay: L2 added to the gradient (not AdamW).
        const g = this.weightDecay !== 0 ? tf.add(grad, tf.mul(p, this.weightDecay)) : grad;
        const s = this.state.get(name);
        switch (this.kind) {
          case 'adam': {
            const [b1, b2] = ADAM_BETAS;
            const st = s ?? this.init(name, p);
            const m = tf.add(tf.mul(st.exp_avg, b1), tf.mul(g, 1 - b1));
            const v = tf.add(tf.mul(st.exp_avg_sq, b2), tf.mul(tf.mul(g, g), 1 - b2));
            st.exp_avg.assign(m);
            st.exp_avg_sq.assign(v);
            const stepSize = lr / (1 - b1 ** t);
            const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - b2 ** t)), ADAM_EPS);
            p.assign(tf.add(p, tf.mul(tf.div(m, denom), -stepSize)));
            break;
          }
          case 'sgd': {
            let d = g;
            if (this.momentum > 0) {
              if (s) {
                d = tf.add(tf.mul(s.momentum_buffer, this.momentum), g);
                s.momentum_buffer.assign(d);
              } else {
                // PyTorch's first step: the buffer is the gradient itself.
                this.state.set(name, { momentum_buffer: tf.variable(g, false) } as Record<SlotName, tf.Variable>);
              }
            }
            p.assign(tf.add(p, tf.mul(d, -lr)));
            break;
          }
          case 'rmsprop': {
            const st = s ?? this.init(name, p);
            const sq = tf.add(tf.mul(st.square_avg, RMSPROP_ALPHA), tf.mul(tf.mul(g, g), 1 - RMSPROP_ALPHA));
            st.square_avg.assign(sq);
            let d = tf.div(g, tf.add(tf.sqrt(sq), ADAM_EPS));
            if (this.momentum > 0) {
              d = tf.add(tf.mul(st.momentum_buffer, this.momentum), d);
              st.momentum_buffer.assign(d);
            }
            p.assign(tf.add(p, tf.mul(d, -lr)));
            break;
          }
        }
      }
    });
  }

  /** PyTorch's lazy state: zeros of the parameter's shape in every slot. */
  private init(name: string, p: tf.Tensor): Record<SlotName, tf.Variable> {
    const rec = {} as Record<SlotName, tf.Variable>;
    for (const slot of this.slotNames) rec[slot] = tf.variable(tf.zerosLike(p), false);
    this.state.set(name, rec);
    return rec;
  }

  /**
   * Replaces the whole state (a resume): the step count and, per parameter, every slot this
   * optimizer keeps. The caller checks names and shapes; the caller's tensors may be disposed after.
   */
  setState(step: number, slots: ReadonlyMap<string, Record<SlotName, tf.Tensor>>): void {
    this.clearState();
    this.stepCount = step;
    // Plain SGD keeps nothing (PyTorch's file may list `momentum_buffer: None` per parameter).
    if (this.slotNames.length === 0) return;
    for (const [name, rec] of slots) {
      const own = {} as Record<SlotName, tf.Variable>;
      for (const slot of this.slotNames) own[slot] = tf.variable(rec[slot], false);
      this.state.set(name, own);
    }
  }

  private clearState(): void {
    for (const rec of this.state.values()) tf.dispose(Object.values(rec));
    this.state.clear();
  }

  dispose(): void {
    this.clearState();
  }
}

export function createOptimizer(s: OptimizerSettings): Optimizer {
  return new Optimizer(s);
}
