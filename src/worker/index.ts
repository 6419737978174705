/**
 * The trainer realm's entry: a dedicated worker exposing `api` through comlink. The page types its
 * side from `TrainerApi`, never by hand. Errors cross as {name, message}.
 */
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs';
import { createTask } from '../tasks/registry';
import type { Task } from '../tasks/types';
import type { BackendName, RunConfig } from '../shared/config';
import { TrainerError, toWireError } from '../shared/errors';
import type { Counters, TrainerEvent } from '../shared/progress';
import { chooseBackend } from './backend';
import { startPosition, TrainingLoop } from './loop';
import { TrainingSession } from './session';
import { benchmarkLoops, type BenchResult } from './bench';

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
  return new TrainerError('BackendFailedError', `the ${tf.getBackend()} backend failed${oom}: ${message}`);
}

const api = {
  /** Trains a run to its end (or a stop). Progress arrives through `onEvent`; resolves with the final counters. */
  async start(run: RunConfig, onEvent: (e: TrainerEvent) => void): Promise<Counters> {
    if (loop) throw new TrainerError('InvalidConfigError', 'a run is already training in this worker');
    onEvent({ type: 'state', state: 'preparing', message: 'loading data' });
    try {
      const task = await createTask(run);
      onEvent({ type: 'state', state: 'preparing', message: 'choosing a backend' });
      const report = await chooseBackend(run.backend, (b) => timeTrialSteps(run, task, b));
      onEvent({ type: 'backend', report });
      session = new TrainingSession(run, task);
      loop = new TrainingLoop(session, run, startPosition(run), onEvent);
      const current = loop;
      watchDevice((e) => current.fail(e));
      return await loop.runToEnd();
    } catch (e) {
      const err = explainFailure(loop?.failureReason ?? e);
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

  /** The app's loop against a bare tfjs loop on the same model, batch and backend. */
  async benchmark(run: RunConfig, steps: number): Promise<BenchResult> {
    const task = await createTask(run);
    await chooseBackend(run.backend, (b) => timeTrialSteps(run, task, b));
    return benchmarkLoops(run, task, steps);
  },
};

export type TrainerApi = typeof api;
expose(api);
