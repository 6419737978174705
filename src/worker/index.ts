/**
 * The trainer realm's entry: a dedicated worker exposing `api` through comlink. The page types its
 * side from `TrainerApi`, never by hand. Errors cross as {name, message}.
 */
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs';
import type { UserData } from '../tasks/registry';
import type { RunConfig } from '../shared/config';
import type { Counters, TrainerEvent } from '../shared/progress';
import type { TryRequest, TryResult } from '../shared/try';
import { modelShapes } from './model-shapes';
import { Trainer } from './run-start';
import { forgetTimings, timingsOfThisDevice, type CachedTiming } from './timing-cache';
import { testHooks, type TestHooks } from './test-hooks';

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

  /**
   * "Try it": the model training now (answered between two steps) or a stored checkpoint (loaded
   * read-only beside the training) answers one input. Bad input is a TryInputError.
   */
  tryModel(request: TryRequest): Promise<TryResult> {
    return trainer.tryModel(request);
  },

  /** Frees the checkpoint model kept since the last try (the page calls it when the Try panel closes or changes run). */
  releaseTryModel(): void {
    trainer.releaseTryModel();
  },

  /** Backend timings cached on this device, by model shape (`timingShapeKey`): the page's epoch estimates. */
  backendTimings(): Promise<Record<string, CachedTiming>> {
    return timingsOfThisDevice();
  },

  /** "Measure backends again": the next start of this shape (or of any, without one) times every backend. */
  forgetBackendTimings(shapeKey?: string): Promise<void> {
    return forgetTimings(shapeKey);
  },

  /** Live tensor count, to show and to check that training leaks none. */
  memory(): { numTensors: number; numBytes: number; backend: string } {
    const m = tf.memory();
    return { numTensors: m.numTensors, numBytes: m.numBytes, backend: tf.getBackend() ?? 'none' };
  },

  /** Parameter names and shapes a saved model config builds (an import checks them); throws for one this app cannot build. */
  modelShapes(config: Record<string, unknown>): Record<string, number[]> {
    return modelShapes(config);
  },
};

export type TrainerApi = typeof api;
/** The API of a test build (`VITE_TEST_HOOKS=1`): the same, plus fault injection and benchmarks. */
export type TrainerTestApi = TrainerApi & TestHooks;

// The flag is a literal at build time, so a production build drops the hooks and their imports.
expose(import.meta.env.VITE_TEST_HOOKS ? { ...api, ...testHooks } : api);
