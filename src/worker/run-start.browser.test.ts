// Starts racing in one trainer, in real Chromium with the real stores: a second start while one is
// alive is refused without disturbing the first, and a stop before the first step cancels the
// start, announcing no run and leaving no checkpoint, lock or tensor behind.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDual } from '../checkpoint/store/test-helpers';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import type { TrainerEvent } from '../shared/progress';
import { Trainer } from './run-start';

const { store, cleanup } = await scratchDual();
afterAll(cleanup);

// Tiny and on the CPU backend: the point is the starts' lifetimes, not the training.
const base: RunConfig = {
  ...DEFAULT_CONFIG,
  backend: 'cpu',
  hidden: 8,
  embed: 4,
  batch_size: 1024,
  epochs: 1,
  eval_every: 0,
  save_every: 0,
  save_at_epoch_end: false,
  best_metrics: '',
};

function recorder(): { events: TrainerEvent[]; onEvent: (e: TrainerEvent) => void } {
  const events: TrainerEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

async function errorOf(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error('expected the start to be refused');
}

async function heldRunLocks(): Promise<string[]> {
  return ((await navigator.locks.query()).held ?? []).map((l) => l.name ?? '').filter((n) => n.startsWith('run:'));
}

describe('a start has its own lifetime', () => {
  const trainer = new Trainer(() => store);

  it('refuses a second start while the first is alive; the first trains to its checkpoint undisturbed', async () => {
    const a = recorder();
    const b = recorder();
    const first = trainer.start({ ...base, run_id: 'race-a' }, a.onEvent);
    const second = trainer.start({ ...base, run_id: 'race-b' }, b.onEvent);

    const refused = await errorOf(second);
    expect(refused.name).toBe('TrainerBusyError');
    expect(b.events).toEqual([]);

    const end = await first;
    expect(end.epoch).toBe(1);
    expect(a.events.filter((e) => e.type === 'run').map((e) => e.type === 'run' && e.runId)).toEqual(['race-a']);
    expect(a.events.some((e) => e.type === 'state' && e.state === 'failed')).toBe(false);
    expect(a.events.at(-1)).toMatchObject({ type: 'state', state: 'done' });
    expect((await store.list({ runId: 'race-a' })).map((m) => m.id.tag.kind)).toEqual(['last']);
    expect(await store.list({ runId: 'race-b' })).toEqual([]);
    expect(await heldRunLocks()).toEqual([]);
  });

  it('a stop while preparing cancels the start: no run announced, nothing saved or held, and the next start trains', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const a = recorder();
    const cancelled = trainer.start({ ...base, run_id: 'cancel-a' }, (e) => {
      a.onEvent(e);
      // The stop lands while the backend is being chosen, after the data is loaded.
      if (e.type === 'state' && e.message === 'choosing a backend') trainer.stop();
    });
    const err = await errorOf(cancelled);
    expect(err.name).toBe('AbortError');
    expect(a.events.map((e) => e.type)).toEqual(['state', 'state']);
    expect(a.events.some((e) => e.type === 'run' || e.type === 'saved')).toBe(false);
    expect(await store.list({ runId: 'cancel-a' })).toEqual([]);
    expect(await heldRunLocks()).toEqual([]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const next = recorder();
    await trainer.start({ ...base, run_id: 'cancel-b' }, next.onEvent);
    expect(next.events.at(-1)).toMatchObject({ type: 'state', state: 'done' });
    expect((await store.list({ runId: 'cancel-b' })).map((m) => m.id.tag.kind)).toEqual(['last']);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('a stop while the backends are timed ends the timing at once: no further trial, no run, no tensor left', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const a = recorder();
    const cancelled = trainer.start({ ...base, backend: 'auto', run_id: 'cancel-timing' }, (e) => {
      a.onEvent(e);
      if (e.type === 'timing' && e.index === 1) trainer.stop();
    });
    const err = await errorOf(cancelled);
    expect(err.name).toBe('AbortError');
    const trials = a.events.filter((e) => e.type === 'timing');
    // WebGPU (SwiftShader) and WASM are both usable here: the first trial is announced, no second.
    expect(trials).toHaveLength(1);
    expect(a.events.some((e) => e.type === 'backend' || e.type === 'run' || e.type === 'saved')).toBe(false);
    expect(await heldRunLocks()).toEqual([]);
    await tf.setBackend('cpu');
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('a resume trains while its repair copies back what one store lost; no save begins before the repair reports', async () => {
    await trainer.start({ ...base, run_id: 'repair-beside', save_every: 2, keep_checkpoint: -1 }, () => {});
    const saved = await store.list({ runId: 'repair-beside' });
    const periodic = saved.filter((m) => m.id.tag.kind === 'periodic');
    expect(periodic.length).toBeGreaterThan(1);
    const [opfs, idb] = store.stores;
    await idb.deleteRun('repair-beside');
    expect(await idb.list({ runId: 'repair-beside' })).toEqual([]);

    const a = recorder();
    await trainer.start(
      {
        ...base,
        run_id: 'repair-beside',
        resume_run_id: 'repair-beside',
        epochs: 2,
        save_every: 2,
        keep_checkpoint: -1,
      },
      a.onEvent,
    );
    const order = a.events.map((e) => e.type).filter((t) => ['run', 'progress', 'repaired', 'saving'].includes(t));
    // One repaired event, after the run began and before the first save of the resumed run.
    expect(order.filter((t) => t === 'repaired')).toHaveLength(1);
    expect(order.indexOf('run')).toBeLessThan(order.indexOf('repaired'));
    expect(order.indexOf('repaired')).toBeLessThan(order.indexOf('saving'));
    const repaired = a.events.find((e) => e.type === 'repaired');
    expect(repaired?.type === 'repaired' && repaired.failure).toBeFalsy();
    expect(
      repaired?.type === 'repaired' && new Set(repaired.repaired.map((r) => `${r.store} ${r.error.name}`)),
    ).toEqual(new Set(['idb CheckpointNotFoundError']));
    expect(repaired?.type === 'repaired' && repaired.repaired.length).toBe(saved.length);
    // Every checkpoint the first run saved is in both stores again, and the resumed run saved to both.
    const keys = async (s: typeof opfs) => (await s.list({ runId: 'repair-beside' })).map((m) => m.key).sort();
    expect(await keys(idb)).toEqual(await keys(opfs));
    for (const m of saved) expect(await keys(idb)).toContain(m.key);
    expect(a.events.at(-1)).toMatchObject({ type: 'state', state: 'done' });
    expect(await heldRunLocks()).toEqual([]);
  });

  it('a start asked for the moment the previous one reports its end (the page offers Start then) waits for it and trains', async () => {
    // The page enables Start (and "Continue this run") on the worker's final state, while the
    // start still closes its metrics log, disposes its session and lets go of the run lock.
    const a = recorder();
    const b = recorder();
    let next: Promise<unknown> | null = null;
    const first = trainer.start({ ...base, run_id: 'quick-a' }, (e) => {
      a.onEvent(e);
      if (e.type === 'state' && e.state === 'done') next = trainer.start({ ...base, run_id: 'quick-a' }, b.onEvent);
    });
    expect((await first).epoch).toBe(1);
    expect(next).not.toBeNull();
    // The same run again, from scratch: it takes the lock the first start let go of.
    await expect(next).resolves.toMatchObject({ epoch: 1 });
    expect(b.events.filter((e) => e.type === 'run')).toHaveLength(1);
    expect(b.events.at(-1)).toMatchObject({ type: 'state', state: 'done' });
    expect(await heldRunLocks()).toEqual([]);
    // Still refused while a start is alive and has not ended.
    const third = trainer.start({ ...base, run_id: 'quick-c' }, () => {});
    expect((await errorOf(trainer.start({ ...base, run_id: 'quick-d' }, () => {}))).name).toBe('TrainerBusyError');
    await third;
  });

  it('a stop while such a start waits for the previous one cancels it: nothing trained or saved', async () => {
    let next: Promise<unknown> | null = null;
    const first = trainer.start({ ...base, run_id: 'quick-e' }, (e) => {
      if (e.type !== 'state' || e.state !== 'done') return;
      next = trainer.start({ ...base, run_id: 'quick-f' }, () => {});
      trainer.stop();
    });
    expect((await first).epoch).toBe(1);
    expect((await errorOf(next!)).name).toBe('AbortError');
    expect(await store.list({ runId: 'quick-f' })).toEqual([]);
    expect((await store.list({ runId: 'quick-e' })).map((m) => m.id.tag.kind)).toEqual(['last']);
  });

  it('a stop at once, before the store is even open, cancels too; a stop with nothing alive does nothing', async () => {
    const cancelled = trainer.start({ ...base, run_id: 'cancel-now' }, () => {});
    trainer.stop();
    expect((await errorOf(cancelled)).name).toBe('AbortError');
    trainer.stop();
    expect(await store.list({ runId: 'cancel-now' })).toEqual([]);
  });
});
