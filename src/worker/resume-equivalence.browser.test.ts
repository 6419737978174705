// A whole multi-epoch run, stopped twice (mid-epoch 0, mid-epoch 1) and continued each time from
// its checkpoint in the real stores, ends exactly where the same run left alone ends: the weights,
// the optimizer state and the EMA in the `last` checkpoint files, every bit, on the CPU backend,
// for every optimizer, with a warm-up-and-decay schedule; and a GPT with dropout on, stopped and
// continued across the epoch boundary, likewise. This is the code the worker runs (prepareRun,
// restore, Checkpointer, TrainingLoop); the page path is e2e/resume-equivalence.spec.ts. On
// WebGPU the difference is measured and bounded.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { afterAll, describe, expect, it } from 'vitest';
import type { OptimPart, Weights, WeightTensor } from '../checkpoint/contents';
import { createCheckpointStore } from '../checkpoint/store/dual-store';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import type { UserData } from '../tasks/registry';
import { Checkpointer, emaInfo } from './checkpointer';
import { plannedUpdates, TrainingLoop } from './loop';
import { prepareRun } from './prepare';
import { findCheckpoint, type LoadedCheckpoint } from './resume';
import { TrainingSession } from './session';

const store = createCheckpointStore({ use: 'both' });
const runIds: string[] = [];
afterAll(async () => {
  for (const id of runIds) await store.deleteRun(id);
});

/** A small word list (one word a line, all different) so an epoch is about 30 updates of 32 rows. */
const WORDS = Array.from(
  { length: 160 },
  (_, i) =>
    ['ka', 'lo', 'mi', 'ne', 'ru', 'sa'][i % 6] +
    ['bel', 'dan', 'ira', 'ol', 'uk'][Math.floor(i / 6) % 5] +
    'aeiouy'[Math.floor(i / 30)],
).join('\n');
const words: UserData = { name: 'words.txt', bytes: new TextEncoder().encode(WORDS).buffer };

/** A tiny char-MLP, warm-up then cosine decay to 0 at the last update. */
const base: RunConfig = {
  ...DEFAULT_CONFIG,
  task: 'text',
  hidden: 16,
  embed: 4,
  batch_size: 32,
  epochs: 2,
  eval_every: 0,
  save_every: 0,
  save_at_epoch_end: true,
  keep_checkpoint: -1,
  best_metrics: '',
  stores: 'both',
  schedule: 'cosine',
  warmup: 8,
};

/**
 * Trains `run` through the worker's own pieces, to its end or, given `until`, to that update. At
 * each update in `stops` it stops the way the Stop button does (a final periodic checkpoint), then
 * continues the way "Continue this run" does (a fresh session resumed from `latest`). Returns the
 * final checkpoint as stored: `last`, or `latest` when stopped at `until`.
 */
async function train(
  run: RunConfig,
  stops: number[],
  userData?: UserData,
  until = Infinity,
): Promise<{ last: LoadedCheckpoint; ema?: LoadedCheckpoint; resumedAt: number[] }> {
  runIds.push(run.run_id);
  await store.deleteRun(run.run_id);
  const resumedAt: number[] = [];
  let request = run;
  for (let leg = 0; leg <= stops.length; leg++) {
    const prepared = await prepareRun(request, store, userData);
    const session = new TrainingSession(prepared.run, prepared.task);
    try {
      const { position, callbacks } = await prepared.restore(session);
      if (leg > 0) resumedAt.push(position.counters.update);
      const cp = new Checkpointer(prepared.run, prepared.names, session, () => {}, callbacks, store);
      const loop = new TrainingLoop(session, prepared.run, position, () => {}, cp);
      const end = await loop.runToEnd((leg < stops.length ? stops[leg] : until) - position.counters.update);
      await cp.saveFinal(loop.position(), loop.totalUpdates, end.epoch >= prepared.run.epochs);
    } finally {
      session.dispose();
    }
    request = { ...run, resume_run_id: run.run_id, resume_checkpoint: 'latest' };
  }
  const where = { runId: run.run_id, stageName: run.stage_name };
  const tag = Number.isFinite(until) ? 'latest' : 'last';
  return {
    last: await findCheckpoint(store, where, tag, true),
    ema: run.ema > 0 ? await findCheckpoint(store, { ...where, modelInfo: emaInfo(run.ema) }, tag, false) : undefined,
    resumedAt,
  };
}

/** Updates in one epoch of `run` (what the loop plans), without training. */
async function updatesPerEpoch(run: RunConfig, userData?: UserData): Promise<number> {
  const prepared = await prepareRun(run, store, userData);
  return plannedUpdates(prepared.task.trainSize, run.batch_size, 1);
}

/** Largest |a - b| over two tensors of the same shape; NaN if either holds a NaN. */
function tensorDiff(a: WeightTensor, b: WeightTensor, what: string): number {
  expect(b.shape, what).toEqual(a.shape);
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (Number.isNaN(d)) return NaN;
    worst = Math.max(worst, d);
  }
  return worst;
}

/** Same bits, not just equal values (a -0 for a 0 would be a different state). */
function sameBits(a: WeightTensor, b: WeightTensor): boolean {
  const x = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const y = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

interface Compared {
  /** Largest difference over every weight and every optimizer slot. */
  weights: number;
  optim: number;
  /** Tensors (weights and slots) whose bits differ. */
  differing: string[];
  slots: number;
}

function compare(a: LoadedCheckpoint, b: LoadedCheckpoint): Compared {
  const out: Compared = { weights: 0, optim: 0, differing: [], slots: 0 };
  const wa: Weights = a.model.stateDict;
  const wb: Weights = b.model.stateDict;
  expect([...wb.keys()]).toEqual([...wa.keys()]);
  for (const [name, w] of wa) {
    out.weights = Math.max(out.weights, tensorDiff(w, wb.get(name)!, name));
    if (!sameBits(w, wb.get(name)!)) out.differing.push(name);
  }
  const oa: OptimPart = a.optim!;
  const ob: OptimPart = b.optim!;
  expect({ kind: ob.kind, step: ob.step, lr: ob.lr, names: ob.paramNames }).toEqual({
    kind: oa.kind,
    step: oa.step,
    lr: oa.lr,
    names: oa.paramNames,
  });
  expect([...ob.slots.keys()]).toEqual([...oa.slots.keys()]);
  for (const [name, slots] of oa.slots) {
    const other = ob.slots.get(name)!;
    expect(Object.keys(other).sort(), name).toEqual(Object.keys(slots).sort());
    for (const [slot, t] of Object.entries(slots)) {
      out.slots++;
      out.optim = Math.max(out.optim, tensorDiff(t, other[slot], `${name}.${slot}`));
      if (!sameBits(t, other[slot])) out.differing.push(`${name}.${slot}`);
    }
  }
  // The rest of the state: counters, RNG, data cursor.
  expect({ c: b.trainer!.counters, rng: b.trainer!.rng, cursor: b.trainer!.cursor }).toEqual({
    c: a.trainer!.counters,
    rng: a.trainer!.rng,
    cursor: a.trainer!.cursor,
  });
  return out;
}

const VARIANTS: { name: string; cfg: Partial<RunConfig> }[] = [
  {
    name: 'Adam (with weight decay and an EMA of the weights)',
    cfg: { optimizer: 'adam', lr: 0.01, weight_decay: 1e-4, ema: 0.9 },
  },
  { name: 'SGD', cfg: { optimizer: 'sgd', momentum: 0, lr: 0.5 } },
  { name: 'SGD with momentum', cfg: { optimizer: 'sgd', momentum: 0.9, lr: 0.05 } },
  { name: 'RMSprop', cfg: { optimizer: 'rmsprop', momentum: 0, lr: 0.003, schedule: 'linear' } },
  { name: 'RMSprop with momentum', cfg: { optimizer: 'rmsprop', momentum: 0.5, lr: 0.002 } },
];

describe('resume over a whole run is bit-identical on the CPU backend', () => {
  for (const [i, v] of VARIANTS.entries()) {
    it(`${v.name}: stopped mid-epoch 0 and mid-epoch 1, weights and optimizer state`, async () => {
      await tf.setBackend('cpu');
      const run: RunConfig = { ...base, ...v.cfg, run_id: `eqw-${i}-a` };
      const alone = await train(run, [], words);
      const perEpoch = alone.last.trainer!.counters.update / run.epochs;
      const stops = [Math.floor(perEpoch / 2) + 1, perEpoch + Math.floor(perEpoch / 3)];
      const stopped = await train({ ...run, run_id: `eqw-${i}-b` }, stops, words);
      expect(stopped.resumedAt).toEqual(stops);
      expect(alone.last.trainer!.counters.epoch).toBe(2);
      const d = compare(alone.last, stopped.last);
      console.log(
        `${v.name}: ${alone.last.trainer!.counters.update} updates, resumed at ${stops.join(' and ')}: max |Δ| weights ${d.weights}, optimizer state ${d.optim} (${d.slots} slots)`,
      );
      expect(d.differing).toEqual([]);
      expect(d.weights).toBe(0);
      expect(d.optim).toBe(0);
      if (run.optimizer !== 'sgd' || run.momentum > 0) expect(d.slots).toBeGreaterThan(0);
      if (run.ema > 0) {
        const emaDiffering = [...alone.ema!.model.stateDict]
          .filter(([name, w]) => !sameBits(w, stopped.ema!.model.stateDict.get(name)!))
          .map(([n]) => n);
        expect(emaDiffering, 'EMA weights').toEqual([]);
        expect(alone.ema!.model.stateDict.size).toBe(5);
      }
    });
  }

  it('a GPT with dropout on (masks drawn from the restored RNG), Adam, across the epoch boundary', async () => {
    await tf.setBackend('cpu');
    const text = Array.from(
      { length: 160 },
      (_, i) => ['anna', 'bob', 'carla', 'dmitri', 'eve', 'fiona', 'gus'][(i * 5) % 7],
    ).join(' ');
    const userData: UserData = { name: 'mine.txt', bytes: new TextEncoder().encode(text).buffer };
    const run: RunConfig = {
      ...base,
      task: 'text',
      model: 'gpt',
      context: 8,
      embed: 8,
      hidden: 16,
      layers: 1,
      heads: 2,
      dropout: 0.2,
      batch_size: 64,
      lr: 0.01,
      warmup: 4,
      run_id: 'eqw-gpt-a',
    };
    // Into epoch 1 and no further: a GPT's evaluation (sampled continuations) is the slow part.
    const perEpoch = await updatesPerEpoch(run, userData);
    const until = perEpoch + 3;
    const stops = [Math.floor(perEpoch / 2), perEpoch + 1];
    const alone = await train(run, [], userData, until);
    const stopped = await train({ ...run, run_id: 'eqw-gpt-b' }, stops, userData, until);
    expect(stopped.resumedAt).toEqual(stops);
    expect(alone.last.trainer!.counters).toMatchObject({ epoch: 1, update: until });
    const d = compare(alone.last, stopped.last);
    console.log(
      `GPT, dropout 0.2: ${until} updates, resumed at ${stops.join(' and ')}: max |Δ| weights ${d.weights}, optimizer state ${d.optim}`,
    );
    expect(d.differing).toEqual([]);
    expect(d.slots).toBeGreaterThan(0);
  });
});

describe('resume on WebGPU', () => {
  // What the README states for GPUs. On SwiftShader here the difference measured is 0: every state
  // is restored as stored, so a deterministic backend repeats the same arithmetic.
  const TOLERANCE = 1e-5;
  it(`stays within ${TOLERANCE} of the run left alone (Adam, warm-up and cosine decay)`, async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    // Within epoch 0: on a software GPU an evaluation (sampled names, one read-back a character)
    // costs more than the updates; the epoch boundary is the CPU tests' business.
    const run: RunConfig = { ...base, optimizer: 'adam', lr: 0.01, warmup: 4, run_id: 'eqw-gpu-a' };
    const until = (await updatesPerEpoch(run, words)) - 4;
    const alone = await train(run, [], words, until);
    const stopped = await train({ ...run, run_id: 'eqw-gpu-b' }, [Math.floor(until / 2)], words, until);
    const d = compare(alone.last, stopped.last);
    console.log(
      `WebGPU (${until} updates, resumed at ${stopped.resumedAt[0]}): max |Δ| weights ${d.weights.toExponential(2)}, optimizer state ${d.optim.toExponential(2)}`,
    );
    expect(d.weights).toBeLessThanOrEqual(TOLERANCE);
    expect(d.optim).toBeLessThanOrEqual(TOLERANCE);
    expect(d.slots).toBe(10);
  });
});
