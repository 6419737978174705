/**
 * The trainer realm's entry: a dedicated worker exposing `api` through comlink. The page types its
 * side from `TrainerApi`, never by hand. Errors cross as {name, message}.
 */
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs';
import { createTask, type UserData } from '../tasks/registry';
import type { RunConfig } from '../shared/config';
import type { Counters, TrainerEvent } from '../shared/progress';
import { chooseBackend, timeTrialSteps } from './backend';
import { benchmarkLoops, type BenchResult } from './bench';
import { benchmarkCheckpoint, type CheckpointBench } from './bench-checkpoint';
import { modelShapes } from './model-shapes';
import { Trainer } from './run-start';

const trainer = new Trainer();

const api = {
  /**
   * Trains a run to its end (or a stop). Progress arrives through `onEvent`; resolves with the final
   * counters. `userData` is the user's own file for the `text` task (transfer its bytes).
   */
  async start(requested: RunConfig, onEvent: (e: TrainerEvent) => void, userData?: UserData): Promise<Counters> {
    return trainer.start(requested, onEvent, userData);
  },

  pause(): void {
    trainer.pause();
  },

  resume(): void {
    trainer.resume();
  },

  /** Best effort when the page is hidden or closing: a checkpoint after the current step. */
  checkpointNow(): void {
    trainer.checkpointNow();
  },

  /** Cancels a start still preparing; stops a training run after its current step, with a checkpoint. */
  stop(): void {
    trainer.stop();
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
