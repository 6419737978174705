/**
 * The page's handle on the trainer worker, typed from the worker's own API. The page never imports
 * tfjs: everything heavy happens behind this.
 */
import { proxy, wrap, type Remote } from 'comlink';
import type { TrainerApi } from '../worker/index';
import type { RunConfig } from '../shared/config';
import type { Counters, TrainerEvent } from '../shared/progress';

export class TrainerClient {
  private worker: Worker;
  readonly api: Remote<TrainerApi>;

  constructor() {
    this.worker = new Worker(new URL('../worker/index.ts', import.meta.url), { type: 'module', name: 'trainer' });
    this.api = wrap<TrainerApi>(this.worker);
  }

  start(config: RunConfig, onEvent: (e: TrainerEvent) => void): Promise<Counters> {
    return this.api.start(config, proxy(onEvent));
  }

  terminate(): void {
    this.worker.terminate();
  }
}
