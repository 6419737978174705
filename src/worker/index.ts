/**
 * The trainer realm's entry: a dedicated worker exposing `api` through comlink. The page types its
 * side from `TrainerApi`, never by hand. Errors cross as {name, message}.
 */
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs';
import { createTask, type UserData } from '../tasks/registry';
import type { Task } from '../tasks/types';
import type { BackendName, RunConfig } from '../shared/config';
import { TrainerError, isNamed, toWireError } from '../shared/errors';
import type { Counters, TrainerEvent } from '../shared/progress';
import { chooseBackend } from './backend';
import { TrainingLoop } from './loop';
import { TrainingSession } from './session';
import { benchmarkLoops, type BenchResult } from './bench';
import { createCheckpointStore, type DualCheckpointStore } from '../checkpoint/store/dual-store';
import { Checkpointer } from './checkpointer';
import { prepareRun } from './prepare';
import { benchmarkCheckpoint, type CheckpointBench } from './bench-checkpoint';
import { modelShapes } from './model-shapes';

let loop: TrainingLoop | null = null;
let session: TrainingSession | null = null;

/** Milliseconds per step of the real model on the active backend: 2 warm-up steps, then 3 timed. */
async function timeTrialSteps(run: RunConfig, task: Task, backend: BackendName): Promise<number> {
  const trial = new TrainingSession(run, task, `trial-${backend}/`);
  try {
    const idx = new Int32Array(Math.min(run.batch_size, task.trainSize)).map((_, i) => i);
    const step = async () => {
      const l = trial.trainStep(idx, run.lr, 0);
      await l.data();
      l.dispose();
    };
    await step();
    await step();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await step();
    return (performance.now() - t0) / 3;
  } finally {
    trial.dispose();
  }
}

function watchDevice(onLost: (e: Error) => void): void {
  if (tf.getBackend() !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<{ message: string; reason: string }> } }).device;
  device?.lost?.then((info) => {
    onLost(new TrainerError('BackendFailedError', `the GPU device was lost (${info.reason || 'unknown'}): ${info.message}`));
  });
}

/** Anything that is not already a named error broke inside tfjs: say which backend, keep its words. */
function explainFailure(e: unknown): Error {
  if (e instanceof TrainerError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const oom = /out of memory|allocat/i.test(message) ? ' (out of memory: try a smaller batch or model)' : '';
  const where = tf.getBackend() ? `the ${tf.getBackend()} backend failed` : 'training failed before a backend was chosen';
  return new TrainerError('BackendFailedError', `${where}${oom}: ${message}`);
}

let store: DualCheckpointStore | null = null;

/** The checkpoint store for a choice of stores; leftovers of interrupted saves are swept once. */
async function storeFor(run: RunConfig): Promise<DualCheckpointStore> {
  if (!store || store.kind !== run.stores) {
    store = createCheckpointStore({ use: run.stores });
    await sweepIfIdle(store);
  }
  return store;
}

/**
 * Removes leftovers of interrupted saves, but only while no tab is training: another tab's save in
 * flight has staged files too. Best effort: a failed sweep never stops a run.
 */
async function sweepIfIdle(s: DualCheckpointStore): Promise<void> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  try {
    const held = locks ? ((await locks.query()).held ?? []) : [];
    if (held.some((l) => l.name?.startsWith('run:'))) return;
    await s.sweep();
  } catch (e) {
    console.warn('checkpoint sweep skipped:', e);
  }
}

/** Holds the run's Web Lock while `body` runs, so a second tab cannot write the same run. */
async function withRunLock<T>(runId: string, body: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return body();
  return locks.request(`run:${runId}`, { ifAvailable: true }, async (lock) => {
    if (!lock) throw new TrainerError('RunLockedError', `run ${runId} is training in another tab; it is read-only here`);
    return body();
  });
}

const api = {
  /**
   * Trains a run to its end (or a stop). Progress arrives through `onEvent`; resolves with the final
   * counters. `userData` is the user's own file for the `text` task (transfer its bytes).
   */
  async start(requested: RunConfig, onEvent: (e: TrainerEvent) => void, userData?: UserData): Promise<Counters> {
    if (loop) throw new TrainerError('InvalidConfigError', 'a run is already training in this worker');
    onEvent({ type: 'state', state: 'preparing', message: 'loading data' });
    try {
      const checkpoints = await storeFor(requested);
      const prepared = await prepareRun(requested, checkpoints, userData);
      const { run, task } = prepared;
      return await withRunLock(prepared.names.runId, async () => {
        onEvent({ type: 'state', state: 'preparing', message: 'choosing a backend' });
        const report = await chooseBackend(run.backend, (b) => timeTrialSteps(run, task, b));
        onEvent({ type: 'backend', report });
        session = new TrainingSession(run, task);
        const current = session;
        const { position, callbacks, validateFirst } = await prepared.restore(current);
        onEvent({ type: 'run', ...prepared.event });
        const checkpointer = new Checkpointer(run, prepared.names, current, onEvent, callbacks, checkpoints);
        loop = new TrainingLoop(current, run, position, onEvent, checkpointer, { validateFirst });
        const running = loop;
        watchDevice((e) => running.fail(e));
        const end = await running.runToEnd();
        onEvent({ type: 'state', state: 'stopping', message: 'saving a checkpoint' });
        try {
          await checkpointer.saveFinal(running.position(), running.totalUpdates, end.epoch >= run.epochs);
        } catch (e) {
          // A full disk at the very end loses only the updates since the last complete checkpoint.
          if (!isNamed(e, 'QuotaExceededError')) throw e;
          onEvent({ type: 'state', state: 'idle', message: 'stopped; the final checkpoint did not fit on the disk', error: toWireError(e) });
          return end;
        }
        onEvent({ type: 'state', state: end.epoch >= run.epochs ? 'done' : 'idle' });
        return end;
      });
    } catch (e) {
      const err = explainFailure((loop as TrainingLoop | null)?.failureReason ?? e);
      onEvent({ type: 'state', state: 'failed', error: toWireError(err) });
      throw err;
    } finally {
      session?.dispose();
      session = null;
      loop = null;
    }
  },

  pause(): void {
    loop?.pause();
  },

  resume(): void {
    loop?.resume();
  },

  /** Best effort when the page is hidden or closing: a checkpoint after the current step. */
  checkpointNow(): void {
    loop?.requestSave();
  },

  stop(): void {
    loop?.stop();
  },

  /** Live tensor count, to show and to check that training leaks none. */
  memory(): { numTensors: number; numBytes: number; backend: string } {
    const m = tf.memory();
    return { numTensors: m.numTensors, numBytes: m.numBytes, backend: tf.getBackend() ?? 'none' };
  },

  /**
   * Destroys the WebGPU device, which is what a real device loss looks like to the app (the
   * `lost` promise resolves). For tests and for trying the recovery path by hand.
   */
  loseDevice(): boolean {
    const device = (tf.backend() as unknown as { device?: { destroy(): void } }).device;
    if (tf.getBackend() !== 'webgpu' || !device) return false;
    device.destroy();
    return true;
  },

  /** Parameter names and shapes a saved model config builds (an import checks them); throws for one this app cannot build. */
  modelShapes(config: Record<string, unknown>): Record<string, number[]> {
    return modelShapes(config);
  },

  /** Checkpoint write, loop hold and resume timings for a model of about `size` ('1M', '20M') parameters. */
  async benchmarkCheckpoint(size: string, backend: RunConfig['backend']): Promise<CheckpointBench> {
    await chooseBackend(backend, async () => 0);
    return benchmarkCheckpoint(size);
  },

  /** The app's loop against a bare tfjs loop on the same model, batch and backend. */
  async benchmark(run: RunConfig, steps: number): Promise<BenchResult> {
    const task = await createTask(run);
    await chooseBackend(run.backend, (b) => timeTrialSteps(run, task, b));
    return benchmarkLoops(run, task, steps);
  },
};

export type TrainerApi = typeof api;
expose(api);
