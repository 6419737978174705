/**
 * Writes a run's history as it trains: it watches the trainer's own events (run, backend,
 * progress, loss, eval, saved) on their way to the page, buffers the points, and appends them to
 * the run's metrics log with each checkpoint (`saved`) and when the start ends (`close`). So the
 * log holds at least what the newest checkpoint holds, and a crash loses only the points that
 * the resume trains again anyway. On a resume the points logged past the checkpoint are dropped
 * (truncateForResume says why). Logging never fails a run: a store that refuses a write loses
 * that batch of points, and the next flush tries again.
 */
import * as tf from '@tensorflow/tfjs';
import { createRunRecordStore, type RunRecordStore } from '../checkpoint/run-record-store';
import { MAX_LOG_ENTRIES, truncateForResume, type LogEntry } from '../checkpoint/run-log';
import type { RunConfig } from '../shared/config';
import type { LossPoint, RunEvent, TrainerEvent } from '../shared/progress';

// One store per choice of stores for the worker's life: each holds an IndexedDB connection.
const stores = new Map<RunConfig['stores'], RunRecordStore>();
function storeFor(use: RunConfig['stores']): RunRecordStore {
  let s = stores.get(use);
  if (!s) stores.set(use, (s = createRunRecordStore({ use })));
  return s;
}

interface Where {
  outputDir: string;
  runId: string;
  stageName?: string;
}

export class RunLogWriter {
  private where: Where | null = null;
  private store: RunRecordStore | null = null;
  private pending: { train: (LossPoint & { time: number })[]; val: LogEntry[] } = { train: [], val: [] };
  private updatesPerEpoch = 0;
  private backend = '';
  /** Entries in the stored log, counted to know when to compact it. */
  private stored = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly forward: (e: TrainerEvent) => void,
    private readonly openStore: (use: RunConfig['stores']) => RunRecordStore = storeFor,
  ) {}

  /** The event sink to give the trainer: it logs, then forwards every event unchanged. */
  readonly onEvent = (e: TrainerEvent): void => {
    try {
      this.observe(e);
    } catch {
      // The log is a record, never a reason for training to fail.
    }
    this.forward(e);
  };

  /** Writes what is buffered and waits for every write; never throws. */
  async close(): Promise<void> {
    this.flush();
    await this.chain;
  }

  private observe(e: TrainerEvent): void {
    switch (e.type) {
      case 'run':
        this.begin(e);
        break;
      case 'backend':
        this.backend = e.report.backend;
        break;
      case 'progress':
        if (e.updatesPerEpoch > 0) this.updatesPerEpoch = e.updatesPerEpoch;
        break;
      case 'loss': {
        const time = Date.now();
        for (const p of e.points) this.pending.train.push({ ...p, time });
        break;
      }
      case 'eval':
        this.pending.val.push({
          kind: 'val',
          update: e.counters.update,
          epoch: this.epochOf(e.counters.update, e.counters.epoch),
          metrics: { ...e.metrics },
          time: Date.now(),
          backend: this.backendName(),
        });
        break;
      case 'saved':
        this.flush();
        break;
      case 'state':
        if (e.state === 'done' || e.state === 'idle' || e.state === 'failed') this.flush();
        break;
      default:
        break;
    }
  }

  private backendName(): string {
    return this.backend || tf.getBackend() || '';
  }

  private epochOf(update: number, whole?: number): number {
    if (this.updatesPerEpoch > 0) return Math.round((update / this.updatesPerEpoch) * 1e4) / 1e4;
    return whole ?? 0;
  }

  private begin(e: RunEvent): void {
    const where: Where = { outputDir: e.outputDir, runId: e.runId, stageName: e.stageName };
    this.where = where;
    this.store = this.openStore(e.config.stores);
    const store = this.store;
    const resumed = e.resumedFrom;
    const config = e.config;
    this.enqueue(async () => {
      // A run keeps the name the user gave it; a new one is named by its id until renamed.
      if (!(await store.getRecord(where.outputDir, where.runId)))
        await store.putRecord({
          ...where,
          name: where.runId,
          task: config.task,
          model: config.model,
          createdAt: Date.now(),
        });
      const log = await store.readLog(where.outputDir, where.runId, where.stageName);
      this.stored = log.entries.length;
      if (resumed) {
        const cut = truncateForResume(
          log.entries,
          resumed.counters.update,
          resumed.tag,
          this.backendName(),
          Date.now(),
        );
        await store.replaceLog(where.outputDir, where.runId, where.stageName, cut.entries);
        this.stored = cut.entries.length;
      }
    });
  }

  private flush(): void {
    const where = this.where;
    const store = this.store;
    if (!where || !store) return;
    const backend = this.backendName();
    const train: LogEntry[] = this.pending.train.map((p) => ({
      kind: 'train',
      update: p.update,
      epoch: this.epochOf(p.update),
      loss: p.loss,
      time: p.time,
      backend,
    }));
    // In update order, so a reader sees one line per x.
    const batch = [...train, ...this.pending.val].sort((a, b) => a.update - b.update);
    this.pending = { train: [], val: [] };
    if (batch.length === 0) return;
    this.enqueue(async () => {
      if (this.stored + batch.length > MAX_LOG_ENTRIES) {
        // Compact: the stored log and this batch, thinned, written whole.
        const log = await store.readLog(where.outputDir, where.runId, where.stageName);
        await store.replaceLog(where.outputDir, where.runId, where.stageName, [...log.entries, ...batch]);
        this.stored = (await store.readLog(where.outputDir, where.runId, where.stageName)).entries.length;
      } else {
        await store.appendLog(where.outputDir, where.runId, where.stageName, batch);
        this.stored += batch.length;
      }
    });
  }

  private enqueue(job: () => Promise<void>): void {
    this.chain = this.chain.then(job).catch(() => undefined);
  }
}
