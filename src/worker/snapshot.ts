/**
 * Moving training state between tfjs and plain arrays: weights and optimizer slots are read off
 * the device (the only part of a save the loop waits for), and written back on resume. Slot names
 * are PyTorch's, and so are the optimizer's own (see optim.ts): state is matched by parameter name.
 */
import * as tf from '@tensorflow/tfjs';
import type { OptimPart, Weights, WeightTensor } from '../checkpoint/contents';
import { TrainerError } from '../shared/errors';
import type { ResetOptim } from '../shared/config';
import { ADAM_BETAS, ADAM_EPS, RMSPROP_ALPHA, type SlotName } from './optim';
import type { TrainingSession } from './session';

async function readTensor(t: tf.Tensor): Promise<WeightTensor> {
  return { shape: [...t.shape], data: (await t.data()) as Float32Array };
}

/** The parameters by PyTorch name, in registration order. */
export async function readWeights(params: Record<string, tf.Tensor>): Promise<Weights> {
  const entries = Object.entries(params);
  const values = await Promise.all(entries.map(([, t]) => readTensor(t)));
  return new Map(entries.map(([name], i) => [name, values[i]]));
}

/** The optimizer's state as PyTorch names it; `lr` is the rate of the next update (the schedule's). */
export async function readOptimizer(session: TrainingSession, lr: number): Promise<OptimPart> {
  const run = session.run;
  const kind = run.optimizer;
  const opt = session.optimizer;
  const live = opt.slots();
  // In parameter order, so the file's state follows param_idx_to_name.
  const names = Object.keys(session.params).filter((n) => live.has(n));
  const read = await Promise.all(
    names.map(async (name) => {
      const rec: Record<string, WeightTensor> = {};
      for (const slot of opt.slotNames) rec[slot] = await readTensor(live.get(name)![slot]);
      return [name, rec] as const;
    }),
  );
  return {
    kind,
    step: opt.step,
    lr,
    weightDecay: run.weight_decay,
    betas: kind === 'adam' ? ADAM_BETAS : undefined,
    eps: kind === 'sgd' ? undefined : ADAM_EPS,
    momentum: kind === 'adam' ? undefined : run.momentum,
    alpha: kind === 'rmsprop' ? RMSPROP_ALPHA : undefined,
    paramNames: Object.keys(session.params),
    slots: new Map(read),
  };
}

/** True when no value is NaN or infinite; a plain loop (every() with a callback is several times slower at 20M values). */
function allFinite(data: Float32Array): boolean {
  let acc = 0;
  // x - x is 0 for every finite x and NaN for NaN and ±Infinity, and NaN sticks.
  for (let i = 0; i < data.length; i++) acc += data[i] - data[i];
  return acc === 0;
}

/** Every parameter of the model is in `weights` with its shape, or ShapeMismatchError names the first that is not. */
export function checkWeights(params: readonly { name: string; shape: readonly number[] }[], weights: Weights): void {
  for (const { name, shape } of params) {
    const w = weights.get(name);
    if (!w) throw new TrainerError('ShapeMismatchError', `the checkpoint has no parameter "${name}"`);
    if (w.shape.join('x') !== shape.join('x')) {
      throw new TrainerError(
        'ShapeMismatchError',
        `"${name}" is [${w.shape}] in the checkpoint but [${shape}] in the model`,
      );
    }
  }
}

/** Assigns saved weights to the session's parameters; every name and shape must match. */
export function assignWeights(params: Record<string, tf.Variable>, weights: Weights): void {
  checkWeights(
    Object.entries(params).map(([name, v]) => ({ name, shape: v.shape })),
    weights,
  );
  tf.tidy(() => {
    for (const [name, variable] of Object.entries(params)) {
      const w = weights.get(name)!;
      variable.assign(tf.tensor(w.data, w.shape, 'float32'));
    }
  });
}

/**
 * Restores optimizer state by parameter name, per OpenNMT-py's `reset_optim`: `none` and
 * `keep_states` restore the step and every slot (the learning rate is not state: the schedule
 * gives each update its rate, and keep_states has already taken the new run's schedule), `all`
 * starts a fresh optimizer. A state PyTorch has not created yet (no update so far) stays absent.
 * Slots the optimizer does not keep (an RMSprop momentum buffer without momentum) are ignored.
 */
export async function restoreOptimizer(session: TrainingSession, part: OptimPart, reset: ResetOptim): Promise<void> {
  if (reset === 'all') return;
  const kind = session.run.optimizer;
  if (part.kind !== kind) {
    throw new TrainerError(
      'TopologyMismatchError',
      `the checkpoint's optimizer is ${part.kind} but the run uses ${kind}: choose reset_optim=all to start a new one`,
    );
  }
  const opt = session.optimizer;
  const names = Object.keys(session.params);
  const missing = names.filter((n) => !part.slots.has(n));
  if (missing.length > 0 && part.slots.size > 0) {
    throw new TrainerError('ShapeMismatchError', `the optimizer state has no entry for ${missing.join(', ')}`);
  }
  const slots = new Map<string, Record<SlotName, tf.Tensor>>();
  try {
    for (const name of part.slots.size > 0 ? names : []) {
      const p = session.params[name];
      const rec = {} as Record<SlotName, tf.Tensor>;
      for (const slot of opt.slotNames) {
        const w = part.slots.get(name)![slot];
        if (!w)
          throw new TrainerError(
            'CheckpointFormatError',
            `the optimizer state of "${name}" has no ${slot}, which ${kind} with these settings keeps`,
          );
        if (w.shape.join('x') !== p.shape.join('x')) {
          throw new TrainerError(
            'ShapeMismatchError',
            `optimizer ${slot} of "${name}" is [${w.shape}], the parameter is [${p.shape}]`,
          );
        }
        // A non-finite moment would only surface later as a NaN loss, blamed on the learning rate.
        if (!allFinite(w.data))
          throw new TrainerError(
            'CheckpointFormatError',
            `the optimizer ${slot} of "${name}" holds NaN or infinite values`,
          );
        rec[slot] = tf.tensor(w.data, w.shape, 'float32');
      }
      slots.set(name, rec);
    }
    opt.setState(part.step, slots);
  } finally {
    for (const rec of slots.values()) tf.dispose(Object.values(rec));
  }
}
