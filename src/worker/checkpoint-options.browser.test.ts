// Every checkpoint option of the README, through the real checkpointer, loop and stores (OPFS and
// IndexedDB in Chromium), on tfjs's CPU backend with tiny models: what each option saves, keeps,
// restores or loads, read back from the stores.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModelPart, type Weights } from '../checkpoint/contents';
import { formatTag } from '../checkpoint/naming';
import { createCheckpointStore, type DualCheckpointMeta } from '../checkpoint/store/dual-store';
import { readTorchFile } from '../checkpoint/torch/index';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import type { Counters, EvalEvent, TrainerEvent } from '../shared/progress';
import { ClassifyTask } from '../tasks/classify-task';
import { CharWindowTask } from '../tasks/names-task';
import type { Task } from '../tasks/types';
import { Checkpointer } from './checkpointer';
import { startPosition, TrainingLoop, type LoopPosition, type StepInfo } from './loop';
import { prepareRun } from './prepare';
import { TrainingSession } from './session';
import { readOptimizer, readWeights } from './snapshot';

const base: RunConfig = {
  ...DEFAULT_CONFIG,
  hidden: 16,
  embed: 4,
  batch_size: 8,
  epochs: 1000,
  eval_every: 0,
  save_every: 0,
  save_at_epoch_end: false,
  keep_checkpoint: -1,
  best_metrics: '',
  stores: 'both',
  lr: 0.02,
};
const words = Array.from(
  { length: 60 },
  (_, i) => `w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + ((i * 7) % 26))}`,
);
const store = createCheckpointStore({ use: 'both' });
const runs: string[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(async () => {
  for (const r of runs) await store.deleteRun(r);
});

interface Trained {
  /** The counters after every update, as the loop reported them. */
  steps: Counters[];
  session: TrainingSession;
  loop: TrainingLoop;
  checkpointer: Checkpointer;
  events: TrainerEvent[];
}

/** Trains `updates` steps with the real checkpointer on the real stores, and waits for the last write. */
async function train(
  run: RunConfig,
  task: Task,
  updates: number,
  start?: LoopPosition,
  opts: { finish?: boolean; stageName?: string } = {},
): Promise<Trained> {
  runs.push(run.run_id);
  const session = new TrainingSession(run, task);
  const events: TrainerEvent[] = [];
  const names = {
    outputDir: 'runs',
    runId: run.run_id,
    stageName: opts.stageName,
    modelName: task.modelConfig(run).kind,
  };
  const checkpointer = new Checkpointer(run, names, session, (e) => events.push(e), undefined, store);
  const steps: Counters[] = [];
  const hooks = {
    afterStep: (info: StepInfo) => {
      steps.push(info.position.counters);
      return checkpointer.afterStep(info);
    },
    afterEval: checkpointer.afterEval.bind(checkpointer),
  };
  const loop = new TrainingLoop(session, run, start ?? startPosition(run), (e) => events.push(e), hooks);
  try {
    const end = await loop.runToEnd(updates);
    if (opts.finish) await checkpointer.saveFinal(loop.position(), loop.totalUpdates, end.epoch >= run.epochs);
    await checkpointer.flush();
  } catch (e) {
    session.dispose();
    throw e;
  }
  return { steps, session, loop, checkpointer, events };
}

const tagsOf = (ms: DualCheckpointMeta[]) =>
  ms.map((m) => (m.id.modelInfo ? `${m.id.modelInfo}:` : '') + formatTag(m.id.tag)).sort();
const periodicUpdates = (ms: DualCheckpointMeta[]) =>
  ms
    .filter((m) => m.id.tag.kind === 'periodic' && !m.id.modelInfo)
    .map((m) => m.counters.update)
    .sort((a, b) => a - b);

async function storedWeights(m: DualCheckpointMeta): Promise<Weights> {
  return decodeModelPart(readTorchFile(await store.read(m.key, 'model'))).stateDict;
}

function sameWeights(a: Weights, b: Weights): boolean {
  if ([...a.keys()].join() !== [...b.keys()].join()) return false;
  for (const [n, w] of a) {
    const v = b.get(n)!.data;
    if (w.data.length !== v.length || w.data.some((x, i) => x !== v[i])) return false;
  }
  return true;
}

describe('best.<metric> and last', () => {
  it('keeps the weights of the lowest val/loss and the highest val/accuracy, and `last` when the stage ends', async () => {
    const run: RunConfig = {
      ...base,
      run_id: 'opt-best',
      task: 'spam',
      model: 'text-mlp',
      hash_buckets: 64,
      ngram_max: 1,
      val_fraction: 0.2,
      lr: 0.003,
      epochs: 4,
      eval_every: 2,
      best_metrics: 'val/loss:min,val/accuracy:max',
    };
    // The label hides in one of a few letters among random ones, so accuracy climbs step by step.
    let x = 7;
    const letter = () => String.fromCharCode(97 + ((x = (x * 1103515245 + 12345) % 2 ** 31) % 26));
    const rows = Array.from({ length: 160 }, (_, i) => ({
      label: i % 2,
      text: Array.from({ length: 10 }, (_, j) => (j === 4 ? (i % 2 ? 'q' : 'k') : letter())).join(''),
    }));
    const task = new ClassifyTask(rows, ['ham', 'spam'], run);
    // The weights at every evaluation, to compare with what each best checkpoint holds.
    const seen = new Map<number, Weights>();
    const session = new TrainingSession(run, task);
    runs.push(run.run_id);
    const events: TrainerEvent[] = [];
    const cp = new Checkpointer(
      run,
      { outputDir: 'runs', runId: run.run_id, modelName: 'text-mlp' },
      session,
      () => {},
      undefined,
      store,
    );
    const hooks = {
      afterStep: (s: Parameters<Checkpointer['afterStep']>[0]) => cp.afterStep(s),
      afterEval: async (p: LoopPosition, total: number, metrics: Record<string, number>) => {
        seen.set(p.counters.update, await readWeights(session.params));
        await cp.afterEval(p, total, metrics);
      },
    };
    const loop = new TrainingLoop(session, run, startPosition(run), (e) => events.push(e), hooks);
    let end;
    try {
      end = await loop.runToEnd();
      await cp.saveFinal(loop.position(), loop.totalUpdates, end.epoch >= run.epochs);
    } finally {
      session.dispose();
    }

    const evals = events.filter((e): e is EvalEvent => e.type === 'eval');
    const losses = evals.map((e) => e.metrics['val/loss']);
    const accs = evals.map((e) => e.metrics['val/accuracy']);
    expect(new Set(accs).size, 'accuracy moves, so min and max pick different evaluations').toBeGreaterThan(1);
    // Strict improvement: the first evaluation that reached the extreme.
    const atMinLoss = evals[losses.indexOf(Math.min(...losses))].counters.update;
    const atMaxAcc = evals[accs.indexOf(Math.max(...accs))].counters.update;
    const atMinAcc = evals[accs.indexOf(Math.min(...accs))].counters.update;
    expect(atMaxAcc).not.toBe(atMinAcc);

    const listed = await store.list({ runId: run.run_id });
    const byTag = new Map(listed.map((m) => [formatTag(m.id.tag), m]));
    const bestLoss = byTag.get('best.val.loss')!;
    const bestAcc = byTag.get('best.val.accuracy')!;
    expect(bestLoss.counters.update).toBe(atMinLoss);
    expect(bestAcc.counters.update).toBe(atMaxAcc);
    expect(bestLoss.parts.map((p) => p.part)).toEqual(['model']); // weights only
    expect(sameWeights(await storedWeights(bestLoss), seen.get(atMinLoss)!)).toBe(true);
    expect(sameWeights(await storedWeights(bestAcc), seen.get(atMaxAcc)!)).toBe(true);

    const last = byTag.get('last')!;
    expect(end.epoch).toBe(run.epochs);
    expect(last.counters).toEqual(end);
    expect(last.parts.map((p) => p.part)).toEqual(['model', 'optim', 'trainer']);
    expect(tagsOf(listed)).toEqual(['best.val.accuracy', 'best.val.loss', 'last']);
  });
});

describe('keep_checkpoint', () => {
  it('keeps the newest K periodic checkpoints of each variant, never latest or a best', async () => {
    const run: RunConfig = {
      ...base,
      run_id: 'opt-keep',
      save_every: 5,
      keep_checkpoint: 2,
      ema: 0.9,
      eval_every: 10,
      best_metrics: 'val/loss:min',
    };
    const t = await train(run, new CharWindowTask(words, run), 30);
    t.session.dispose();
    const listed = await store.list({ runId: run.run_id });
    expect(periodicUpdates(listed)).toEqual([25, 30]);
    const tags = tagsOf(listed);
    expect(tags.filter((x) => x.startsWith('ema_factor=0.9:E'))).toHaveLength(2);
    expect(tags).toContain('latest');
    expect(tags).toContain('ema_factor=0.9:latest');
    expect(tags).toContain('best.val.loss');
    // The saves really happened every 5 updates: six were written, four pruned.
    expect(
      t.events
        .filter((e) => e.type === 'saved' && e.tag.startsWith('E'))
        .map((e) => (e.type === 'saved' ? e.counters.update : 0)),
    ).toEqual([5, 10, 15, 20, 25, 30]);
  });
});

describe('save triggers', () => {
  const task = () => new CharWindowTask(words, base);

  it('save_every_samples: once each time the sample count crosses a multiple', async () => {
    const run: RunConfig = { ...base, run_id: 'opt-samples', save_every_samples: 100 };
    const t = await train(run, task(), 60);
    t.session.dispose();
    // The loop's own sample count after each update (an epoch's last batch is short, so a
    // multiple of 100 is not crossed every 100/8 updates).
    const samples = [0, ...t.steps.map((c) => c.sample)];
    expect(t.session.task.trainSize % 8, 'a short last batch makes this test meaningful').not.toBe(0);
    const crossed = samples
      .map((n, u) => (u > 0 && Math.floor(n / 100) > Math.floor(samples[u - 1] / 100) ? u : 0))
      .filter((u) => u > 0);
    expect(crossed.length).toBeGreaterThanOrEqual(4);
    expect(periodicUpdates(await store.list({ runId: run.run_id }))).toEqual(crossed);
  });

  it('save_every_epochs and save_at_epoch_end: at the ends of the right epochs only', async () => {
    const every2: RunConfig = { ...base, run_id: 'opt-epochs', save_every_epochs: 2, epochs: 5 };
    const a = await train(every2, task(), Infinity);
    const perEpoch = a.loop.updatesPerEpoch;
    a.session.dispose();
    expect(perEpoch).toBeGreaterThan(2);
    const listedA = await store.list({ runId: every2.run_id });
    expect(periodicUpdates(listedA)).toEqual([2 * perEpoch, 4 * perEpoch]);
    expect(
      listedA
        .filter((m) => m.id.tag.kind === 'periodic')
        .map((m) => m.counters.epoch)
        .sort(),
    ).toEqual([2, 4]);

    const atEnd: RunConfig = { ...base, run_id: 'opt-epoch-end', save_at_epoch_end: true, epochs: 3 };
    const b = await train(atEnd, task(), Infinity);
    b.session.dispose();
    expect(periodicUpdates(await store.list({ runId: atEnd.run_id }))).toEqual([perEpoch, 2 * perEpoch, 3 * perEpoch]);
  });

  it('checkpoint_after: no periodic checkpoint before that many updates', async () => {
    const run: RunConfig = { ...base, run_id: 'opt-after', save_every: 10, checkpoint_after: 25 };
    const t = await train(run, task(), 40);
    t.session.dispose();
    const listed = await store.list({ runId: run.run_id });
    expect(periodicUpdates(listed)).toEqual([30, 40]);
    expect(listed.find((m) => m.id.tag.kind === 'latest')!.counters.update).toBe(40);
  });
});

describe('resume options', () => {
  /** A run trained 20 updates and stopped (a periodic checkpoint and latest at 20); its optimizer state as saved. */
  async function stopped(run: RunConfig) {
    const prepared = await prepareRun(run, store);
    const t = await train(prepared.run, prepared.task, 20, undefined, {
      finish: true,
      stageName: prepared.names.stageName,
    });
    const optim = await readOptimizer(t.session, run.lr);
    const weights = await readWeights(t.session.params);
    const ema = t.session.ema ? await readWeights(t.session.ema) : null;
    t.session.dispose();
    return { optim, weights, ema };
  }

  /** Prepares a resume or warm start and restores it into a fresh session; returns what the session then holds. */
  async function restored(requested: RunConfig) {
    const prepared = await prepareRun(requested, store);
    const session = new TrainingSession(prepared.run, prepared.task);
    try {
      const { position } = await prepared.restore(session);
      return {
        prepared,
        position,
        optim: await readOptimizer(session, prepared.run.lr),
        weights: await readWeights(session.params),
      };
    } finally {
      session.dispose();
    }
  }

  const slotsEqual = (a: Awaited<ReturnType<typeof readOptimizer>>, b: Awaited<ReturnType<typeof readOptimizer>>) =>
    a.slots.size === b.slots.size &&
    [...a.slots].every(([name, slots]) =>
      Object.entries(slots).every(([k, w]) => w.data.every((x, i) => x === b.slots.get(name)?.[k]?.data[i])),
    );

  it('reset_optim: none restores moments and rate, keep_states keeps the moments with the new rate, all starts a new optimizer', async () => {
    const run: RunConfig = { ...base, run_id: 'opt-reset', save_every: 0, lr: 0.02 };
    const saved = await stopped(run);
    expect(saved.optim.step).toBe(20);
    expect(saved.optim.slots.size).toBeGreaterThan(0);
    const again = { ...run, resume_run_id: run.run_id, lr: 0.05 };

    const none = await restored({ ...again, reset_optim: 'none' });
    expect(none.position.counters.update).toBe(20);
    expect(none.prepared.run.lr).toBe(0.02); // the checkpoint's rate; the request's 0.05 is ignored
    expect(none.optim.step).toBe(20);
    expect(slotsEqual(none.optim, saved.optim)).toBe(true);

    const keep = await restored({ ...again, reset_optim: 'keep_states' });
    expect(keep.prepared.run.lr).toBe(0.05);
    expect(keep.optim.step).toBe(20);
    expect(slotsEqual(keep.optim, saved.optim)).toBe(true);

    const all = await restored({ ...again, reset_optim: 'all', optimizer: 'sgd', momentum: 0.9 });
    expect(all.prepared.run.lr).toBe(0.05);
    expect(all.prepared.run.optimizer).toBe('sgd');
    expect(all.optim.kind).toBe('sgd');
    expect(all.optim.step).toBe(0);
    expect(all.optim.slots.size).toBe(0); // nothing carried over
    // Weights and counters come back in every mode.
    for (const r of [none, keep, all]) {
      expect(r.position.counters.update).toBe(20);
      expect(sameWeights(r.weights, saved.weights)).toBe(true);
    }
  });

  it('resume_stage_name with a new stage_name: continues the counters and writes the new stage only', async () => {
    const run: RunConfig = { ...base, run_id: 'opt-stage', stage_name: 'pre' };
    await stopped(run);
    const pre = await store.list({ runId: run.run_id, stageName: 'pre' });
    const prepared = await prepareRun(
      { ...run, resume_run_id: run.run_id, resume_stage_name: 'pre', stage_name: 'fine', save_every: 10 },
      store,
    );
    expect(prepared.names.stageName).toBe('fine');
    expect(prepared.run.stage_name).toBe('fine');
    const session = new TrainingSession(prepared.run, prepared.task);
    let position: LoopPosition;
    try {
      position = (await prepared.restore(session)).position;
    } finally {
      session.dispose();
    }
    expect(position.counters.update).toBe(20);
    const t = await train(prepared.run, prepared.task, 10, position, { stageName: 'fine' });
    t.session.dispose();
    const fine = await store.list({ runId: run.run_id, stageName: 'fine' });
    expect(periodicUpdates(fine)).toEqual([30]);
    expect(fine.every((m) => m.id.stageName === 'fine')).toBe(true);
    // The resumed stage is left exactly as it was.
    expect((await store.list({ runId: run.run_id, stageName: 'pre' })).map((m) => [m.key, m.generation])).toEqual(
      pre.map((m) => [m.key, m.generation]),
    );
  });

  it('warm start from the EMA variant (model_info) loads the averaged weights, not the raw ones', async () => {
    const run: RunConfig = { ...base, run_id: 'opt-ema', ema: 0.9 };
    const saved = await stopped(run);
    const differ = [...saved.ema!].some(([n, w]) => w.data.some((x, i) => x !== saved.weights.get(n)!.data[i]));
    expect(differ).toBe(true);
    const warm = {
      ...base,
      run_id: 'opt-ema-warm',
      init_run_id: run.run_id,
      init_stage_name: '',
      init_checkpoint: 'latest',
    };
    runs.push(warm.run_id);
    const fromEma = await restored({ ...warm, init_model_info: 'ema_factor=0.9' });
    // `latest` or the periodic checkpoint it equals (a resume prefers the periodic one at equal counters).
    expect(fromEma.prepared.event.warmStart!.from).toMatch(/\/char-mlp_ema_factor=0\.9_cp=(latest|E\d+_U20_S\d+)$/);
    expect(fromEma.position.counters.update).toBe(0);
    expect(sameWeights(fromEma.weights, saved.ema!)).toBe(true);
    const fromRaw = await restored(warm);
    expect(sameWeights(fromRaw.weights, saved.weights)).toBe(true);
  });
});
