/**
 * Moving training state between tfjs and plain arrays: weights and optimizer slots are read off
 * the device (the only part of a save the loop waits for), and written back on resume. Slot names
 * are PyTorch's; tfjs's accumulators are matched to parameters by variable name, never position.
 */
import * as tf from '@tensorflow/tfjs';
import type { OptimPart, Weights, WeightTensor } from '../checkpoint/contents';
import { TrainerError } from '../shared/errors';
import type { ResetOptim } from '../shared/config';
import { ADAM_BETAS, ADAM_EPS, RMSPROP_ALPHA } from './optim';
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

/** tfjs slot suffix → PyTorch slot name, per optimizer. */
const SLOT_NAMES: Record<string, Record<string, string>> = {
  adam: { m: 'exp_avg', v: 'exp_avg_sq' },
  sgd: { momentum: 'momentum_buffer' },
  rmsprop: { rms: 'square_avg', momentum: 'momentum_buffer' },
};

export async function readOptimizer(session: TrainingSession, lr: number): Promise<OptimPart> {
  const run = session.run;
  const kind = run.optimizer;
  const named = await session.optimizer.getWeights();
  const step = named.length > 0 ? (await named[0].tensor.data())[0] : 0;
  // getWeights makes a fresh scalar for the iteration count; the slots are the optimizer's own.
  named[0]?.tensor.dispose();
  const slots = new Map<string, Record<string, WeightTensor>>();
  const reads = named.slice(1).map(async ({ name, tensor }) => {
    const cut = name.lastIndexOf('/');
    const param = name.slice(session.variablePrefix.length, cut);
    const slot = SLOT_NAMES[kind][name.slice(cut + 1)];
    if (!slot) return;
    let value = await readTensor(tensor);
    // tfjs folds the learning rate into RMSprop's momentum; PyTorch's buffer excludes it.
    if (kind === 'rmsprop' && slot === 'momentum_buffer') value = { shape: value.shape, data: value.data.map((x) => x / lr) };
    const rec = slots.get(param) ?? {};
    rec[slot] = value;
    slots.set(param, rec);
  });
  await Promise.all(reads);
  return {
    kind,
    step,
    lr,
    weightDecay: run.weight_decay,
    betas: kind === 'adam' ? ADAM_BETAS : undefined,
    eps: kind === 'sgd' ? undefined : ADAM_EPS,
    momentum: kind === 'adam' ? undefined : run.momentum,
    alpha: kind === 'rmsprop' ? RMSPROP_ALPHA : undefined,
    paramNames: Object.keys(session.params),
    slots,
  };
}

/** Assigns saved weights to the session's parameters; every name and shape must match. */
export function assignWeights(params: Record<string, tf.Variable>, weights: Weights): void {
  for (const [name, variable] of Object.entries(params)) {
    const w = weights.get(name);
    if (!w) throw new TrainerError('ShapeMismatchError', `the checkpoint has no parameter "${name}"`);
    if (w.shape.join('x') !== variable.shape.join('x')) {
      throw new TrainerError('ShapeMismatchError', `"${name}" is [${w.shape}] in the checkpoint but [${variable.shape}] in the model`);
    }
  }
  tf.tidy(() => {
    for (const [name, variable] of Object.entries(params)) {
      const w = weights.get(name)!;
      variable.assign(tf.tensor(w.data, w.shape, 'float32'));
    }
  });
}

/**
 * Restores optimizer state by parameter name, per OpenNMT-py's `reset_optim`: `none` restores it
 * all (the schedule's rate comes from the run), `keep_states` keeps the moments but the run's new
 * learning rate, `all` starts a fresh optimizer. Parameters PyTorch never stepped get zeros.
 */
export async function restoreOptimizer(session: TrainingSession, part: OptimPart, reset: ResetOptim, lr: number): Promise<void> {
  if (reset === 'all') return;
  const kind = session.run.optimizer;
  if (part.kind !== kind) {
    throw new TrainerError('TopologyMismatchError', `the checkpoint's optimizer is ${part.kind} but the run uses ${kind}: choose reset_optim=all to start a new one`);
  }
  if (kind === 'sgd' && session.run.momentum === 0) return;
  const names = Object.keys(session.params);
  const missing = names.filter((n) => !part.slots.has(n));
  if (missing.length > 0 && part.slots.size > 0) {
    throw new TrainerError('ShapeMismatchError', `the optimizer state has no entry for ${missing.join(', ')}`);
  }
  const order: string[] = kind === 'adam' ? ['m', 'v'] : kind === 'sgd' ? ['momentum'] : ['rms', 'momentum'];
  const weights: { name: string; tensor: tf.Tensor }[] = [{ name: 'iter', tensor: tf.scalar(part.step, 'int32') }];
  for (const suffix of order) {
    const slot = SLOT_NAMES[kind][suffix];
    for (const name of names) {
      const p = session.params[name];
      const w = part.slots.get(name)?.[slot];
      if (w && w.shape.join('x') !== p.shape.join('x')) {
        throw new TrainerError('ShapeMismatchError', `optimizer ${slot} of "${name}" is [${w.shape}], the parameter is [${p.shape}]`);
      }
      let data = w?.data ?? new Float32Array(p.size);
      if (kind === 'rmsprop' && slot === 'momentum_buffer') data = data.map((x) => x * lr);
      weights.push({ name: `${session.variablePrefix}${name}/${suffix}`, tensor: tf.tensor(data, p.shape, 'float32') });
    }
  }
  await session.optimizer.setWeights(weights);
  tf.dispose(weights.map((w) => w.tensor));
}
