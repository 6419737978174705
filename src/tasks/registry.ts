/** Every built-in task, by name: the one place a new task is wired in. */
import { loadFirstNames } from '../data/names-source';
import type { RunConfig } from '../shared/config';
import { TrainerError } from '../shared/errors';
import { CharWindowTask } from './names-task';
import type { Task } from './types';

export async function createTask(run: RunConfig): Promise<Task> {
  switch (run.task) {
    case 'names':
      return new CharWindowTask(await loadFirstNames(), run);
    default:
      throw new TrainerError('InvalidConfigError', `the ${run.task} task is not available yet`);
  }
}
