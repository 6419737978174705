/**
 * Samples per second of the app's training loop against a bare tfjs loop doing the same math
 * (same session, model, batch and backend), measured in one run, alternating so drift hits both.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchSampler } from '../data/cursor';
import type { Task } from '../tasks/types';
import type { RunConfig } from '../shared/config';
import { startPosition, TrainingLoop } from './loop';
import { TrainingSession } from './session';
import { paramCount } from '../models/types';

export interface BenchResult {
  backend: string;
  model: string;
  params: number;
  batch: number;
  steps: number;
  appSamplesPerSecond: number;
  bareSamplesPerSecond: number;
  ratio: number;
}

async function bareLoop(session: TrainingSession, run: RunConfig, steps: number): Promise<number> {
  const sampler = new BatchSampler(session.task.trainSize, run.seed, { epoch: 0, index: 0 });
  let samples = 0;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const { indices } = sampler.next(run.batch_size);
    const loss = session.trainStep(indices, run.lr, i);
    await loss.data();
    loss.dispose();
    samples += indices.length;
  }
  return samples / ((performance.now() - t0) / 1000);
}

async function appLoop(session: TrainingSession, run: RunConfig, steps: number): Promise<number> {
  // No evaluation: the loop's own overhead (counters, cursor, progress, yielding) is what is measured.
  const cfg: RunConfig = { ...run, epochs: 1_000_000, eval_every: 0 };
  const loop = new TrainingLoop(session, cfg, startPosition(cfg), () => {});
  const t0 = performance.now();
  const end = await loop.runToEnd(steps);
  return end.sample / ((performance.now() - t0) / 1000);
}

export async function benchmarkLoops(run: RunConfig, task: Task, steps: number): Promise<BenchResult> {
  const session = new TrainingSession(run, task);
  try {
    await bareLoop(session, run, 5); // warm-up: shader compilation, allocations
    const app: number[] = [];
    const bare: number[] = [];
    for (let round = 0; round < 3; round++) {
      bare.push(await bareLoop(session, run, steps));
      app.push(await appLoop(session, run, steps));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const a = median(app);
    const b = median(bare);
    return {
      backend: tf.getBackend(),
      model: run.model,
      params: paramCount(session.specs),
      batch: run.batch_size,
      steps,
      appSamplesPerSecond: a,
      bareSamplesPerSecond: b,
      ratio: a / b,
    };
  } finally {
    session.dispose();
  }
}
