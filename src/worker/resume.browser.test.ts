// Resume's parts through the real stores: the EMA variant saved and restored, the selectors that
// pick a checkpoint, a refused topology change, and warm start with its report. That a resumed run
// ends where the run left alone ends is resume-equivalence.browser.test.ts.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createCheckpointStore } from '../checkpoint/store/dual-store';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import { Checkpointer } from './checkpointer';
import { startPosition, TrainingLoop } from './loop';
import { prepareRun } from './prepare';
import { TrainingSession } from './session';
import { readWeights } from './snapshot';
import type { Weights } from '../checkpoint/contents';

const base: RunConfig = {
  ...DEFAULT_CONFIG,
  hidden: 24,
  embed: 6,
  batch_size: 50,
  epochs: 2,
  eval_every: 0,
  save_every: 0,
  save_at_epoch_end: false,
  keep_checkpoint: -1,
  best_metrics: '',
  stores: 'both',
  lr: 0.01,
};

const store = createCheckpointStore({ use: 'both' });

function maxAbsDiff(a: Weights, b: Weights): number {
  let worst = 0;
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, w] of a) {
    const v = b.get(name)!;
    for (let i = 0; i < w.data.length; i++) worst = Math.max(worst, Math.abs(w.data[i] - v.data[i]));
  }
  return worst;
}

describe('EMA of the weights', () => {
  it('is saved as the ema_factor variant beside each checkpoint and restored on resume', async () => {
    await tf.setBackend('cpu');
    const run = { ...base, run_id: 'eq-ema', ema: 0.9 };
    const first = await prepareRun(run, store);
    const s1 = new TrainingSession(first.run, first.task);
    let ema: Weights;
    let raw: Weights;
    try {
      const loop = new TrainingLoop(s1, first.run, startPosition(first.run), () => {});
      await loop.runToEnd(30);
      ema = await readWeights(s1.ema!);
      raw = await readWeights(s1.params);
      const cp = new Checkpointer(first.run, first.names, s1, () => {}, undefined, store);
      await cp.saveFinal(loop.position(), loop.totalUpdates, false);
    } finally {
      s1.dispose();
    }
    const listed = await store.list({ runId: 'eq-ema' });
    const variants = listed
      .filter((m) => m.id.modelInfo === 'ema_factor=0.9')
      .map((m) => m.id.tag.kind)
      .sort();
    expect(variants).toEqual(['latest', 'periodic']);
    expect(maxAbsDiff(ema, raw)).toBeGreaterThan(1e-4); // an average, not a copy
    const resumed = await prepareRun({ ...run, resume_run_id: 'eq-ema' }, store);
    const s2 = new TrainingSession(resumed.run, resumed.task);
    try {
      await resumed.restore(s2);
      expect(maxAbsDiff(await readWeights(s2.ema!), ema)).toBe(0);
      expect(maxAbsDiff(await readWeights(s2.params), raw)).toBe(0);
    } finally {
      s2.dispose();
      await store.deleteRun('eq-ema');
    }
  });
});

describe('choosing what to resume or warm-start from', () => {
  it('resume selectors, a refused topology change, and warm start with its report or strict refusal', async () => {
    await tf.setBackend('cpu');
    const run: RunConfig = { ...base, run_id: 'sel', save_every: 10 };
    const first = await prepareRun(run, store);
    const s1 = new TrainingSession(first.run, first.task);
    try {
      const cp = new Checkpointer(first.run, first.names, s1, () => {}, undefined, store);
      const loop = new TrainingLoop(s1, first.run, startPosition(first.run), () => {}, cp);
      await loop.runToEnd(30);
      await cp.flush();
    } finally {
      s1.dispose();
    }
    const resumeAt = async (selector: string) => {
      const r = await prepareRun({ ...run, resume_run_id: 'sel', resume_checkpoint: selector }, store);
      const s = new TrainingSession(r.run, r.task);
      try {
        return (await r.restore(s)).position.counters.update;
      } finally {
        s.dispose();
      }
    };
    expect(await resumeAt('latest')).toBe(30);
    expect(await resumeAt('U20')).toBe(20);
    expect(await resumeAt('S500')).toBe(10); // batch 50: sample 500 is update 10
    expect(await resumeAt('E0')).toBe(30); // several match: the newest
    expect(await resumeAt('E0_U20_S1000')).toBe(20);
    await expect(resumeAt('U25')).rejects.toMatchObject({ name: 'CheckpointNotFoundError' });
    await expect(prepareRun({ ...run, resume_run_id: 'sel', hidden: 48 }, store)).rejects.toMatchObject({
      name: 'TopologyMismatchError',
      message: expect.stringContaining('hidden: checkpoint 24, requested 48'),
    });

    const warm = async (extra: Partial<RunConfig>) => {
      const r = await prepareRun({ ...run, run_id: 'sel-warm', save_every: 0, init_run_id: 'sel', ...extra }, store);
      const s = new TrainingSession(r.run, r.task);
      try {
        const { position } = await r.restore(s);
        return { position, report: r.event.warmStart! };
      } finally {
        s.dispose();
      }
    };
    const same = await warm({});
    expect(same.position.counters.update).toBe(0); // new counters, new optimizer
    expect(same.report.loaded).toHaveLength(5);
    const wider = await warm({ hidden: 48 });
    expect(wider.report.loaded).toEqual(['embedding.weight', 'layers.2.bias']);
    expect(wider.report.wrongShape.map((w) => w.name)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.2.weight']);
    await expect(warm({ hidden: 48, init_strict: true })).rejects.toMatchObject({ name: 'ShapeMismatchError' });

    // Incremental adaptation: the names model goes on with the user's own words, some of whose
    // characters it never saw: refused by name, or mapped to the unknown character.
    const text = Array.from(
      { length: 40 },
      (_, i) => ['zoé', 'jürgen', 'anna', 'bob', 'maría'][i % 5] + 'abcdefghij'[i % 10],
    ).join('\n');
    const userData = { name: 'mine.txt', bytes: new TextEncoder().encode(text).buffer };
    const own = { ...run, run_id: 'sel-own', task: 'text' as const, save_every: 0, init_run_id: 'sel' };
    await expect(prepareRun({ ...own, unknown_chars: 'refuse' }, store, userData)).rejects.toMatchObject({
      name: 'DatasetError',
      message: expect.stringMatching(/outside the model's vocabulary \("é", "ü", "í"\)/),
    });
    const adapted = await prepareRun({ ...own, unknown_chars: 'map_to_unk' }, store, userData);
    const s3 = new TrainingSession(adapted.run, adapted.task);
    try {
      await adapted.restore(s3);
      expect(adapted.event.warmStart!.loaded).toHaveLength(5); // same vocabulary, so every weight fits
      expect(adapted.event.warmStart!.unknownChars).toEqual({ unknown: ['é', 'ü', 'í'], mapped: 24 });
    } finally {
      s3.dispose();
    }
    await store.deleteRun('sel');
  });
});
