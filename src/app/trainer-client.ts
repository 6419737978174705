/**
 * The page's handle on the trainer worker, typed from the worker's own API. The page never imports
 * tfjs: everything heavy happens behind this.
 */
import { proxy, transfer, wrap, type Remote } from 'comlink';
import type { TrainerApi } from '../worker/index';
import type { RunConfig } from '../shared/config';
import { userFileCopy, type UserFile } from './user-file';
import type { Counters, TrainerEvent } from '../shared/progress';

export class TrainerClient {
  private worker: Worker;
  readonly api: Remote<TrainerApi>;

  private crashed: Promise<never>;

  constructor() {
    this.worker = new Worker(new URL('../worker/index.ts', import.meta.url), { type: 'module', name: 'trainer' });
    this.api = wrap<TrainerApi>(this.worker);
    // An uncaught error kills the worker's answer to a pending call: turn it into a named failure.
    this.crashed = new Promise<never>((_, reject) => {
      this.worker.addEventListener('error', (e) => {
        e.preventDefault();
        const oom = /out of memory|allocation failed/i.test(e.message)
          ? ' (out of memory: try a smaller batch or model)'
          : '';
        reject(
          Object.assign(new Error(`the trainer worker crashed${oom}: ${e.message || 'no message'}`), {
            name: 'BackendFailedError',
          }),
        );
      });
    });
    this.crashed.catch(() => {});
  }

  /**
   * `userData`: the user's own file for the `text` task (by default the one chosen in the form);
   * its bytes are transferred, not copied.
   */
  start(
    config: RunConfig,
    onEvent: (e: TrainerEvent) => void,
    userData: UserFile | undefined = config.task === 'text' ? userFileCopy() : undefined,
  ): Promise<Counters> {
    const run = userData
      ? this.api.start(config, proxy(onEvent), transfer(userData, [userData.bytes]))
      : this.api.start(config, proxy(onEvent));
    return Promise.race([run, this.crashed]);
  }

  terminate(): void {
    this.worker.terminate();
  }
}
