/**
 * What only a test build (`VITE_TEST_HOOKS=1`) exposes on the worker: fault injection for the e2e
 * specs and the benchmarks of `npm run bench`. A production build never includes this module.
 */
import * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../shared/config';
import { createTask } from '../tasks/registry';
import { chooseBackend, timeTrialSteps } from './backend';
import { benchmarkLoops, type BenchResult } from './bench';
import { benchmarkCheckpoint, type CheckpointBench } from './bench-checkpoint';

/** The slice of tfjs's WebGPU backend these hooks touch; tfjs types `backend()` as the generic KernelBackend. */
type WebGpuBackend = { device?: { destroy(): void } };

export const testHooks = {
  /**
   * Destroys the WebGPU device, which is what a real device loss looks like to the app (the
   * `lost` promise resolves).
   */
  loseDevice(): boolean {
    const device = (tf.backend() as WebGpuBackend).device;
    if (tf.getBackend() !== 'webgpu' || !device) return false;
    device.destroy();
    return true;
  },

  /**
   * The worker dies the way a failed allocation kills it mid-run: an uncaught RangeError, then
   * nothing more from it (its Web Lock released), so the page's restart without a reload is tested.
   */
  simulateOutOfMemory(): boolean {
    setTimeout(() => {
      setTimeout(() => self.close());
      throw new RangeError('Array buffer allocation failed (out of memory)');
    });
    return true;
  },

  /** Checkpoint write, loop hold and resume timings for a model of about `size` ('1M', '20M') parameters. */
  async benchmarkCheckpoint(size: string, backend: RunConfig['backend']): Promise<CheckpointBench> {
    await chooseBackend(backend, () => Promise.resolve(0));
    return benchmarkCheckpoint(size);
  },

  /** The app's loop against a bare tfjs loop on the same model, batch and backend. */
  async benchmark(run: RunConfig, steps: number): Promise<BenchResult> {
    const task = await createTask(run);
    await chooseBackend(run.backend, (b) => timeTrialSteps(run, task, b));
    return benchmarkLoops(run, task, steps);
  },
};

export type TestHooks = typeof testHooks;
