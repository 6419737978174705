import type { BackendName, RunConfig } from '../shared/config';
import type { Task } from '../tasks/types';
import { TrainingSession } from './session';

/** Milliseconds per step of the real model on the active backend: 2 warm-up steps, then 3 timed. */
export async function timeTrialSteps(run: RunConfig, task: Task, backend: BackendName): Promise<number> {
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
