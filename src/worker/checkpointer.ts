/**
 * When and how the running trainer saves. The loop is held only while weights and optimizer
 * state are read off the device; encoding, hashing and writing go on in the background while it
 * trains, one save at a time. A full disk pauses training (the loop asks the user) and loses
 * nothing: a failed save leaves every earlier checkpoint readable.
 */
import * as tf from '@tensorflow/tfjs';
import {
  encodeModelPart,
  encodeOptimPart,
  encodeTrainerPart,
  TRAINER_FORMAT_VERSION,
  type JsonValue,
  type Weights,
} from '../checkpoint/contents';
import { formatTag, tags, type CheckpointId, type CheckpointTag } from '../checkpoint/naming';
import {
  createCheckpointStore,
  saveOutcome,
  type DualCheckpointStore,
  type DualSaveResult,
} from '../checkpoint/store/dual-store';
import { stage } from '../checkpoint/store/common';
import type { CheckpointParts } from '../checkpoint/store/types';
import { writeTorchFile } from '../checkpoint/torch/index';
import { cursorAt } from '../data/cursor';
import { parseBestMetrics, type RunConfig } from '../shared/config';
import {
  bestImproved,
  checkpointsToDelete,
  createBestTracker,
  periodicDue,
  resolveSavePolicy,
  type BestTrackerState,
  type SavePolicy,
} from '../checkpoint/save-policy';
import type { Counters, SavedEvent, SavingEvent } from '../shared/progress';
import type { LoopHooks, LoopPosition, StepInfo } from './loop';
import { learningRateAt } from './schedule';
import { readOptimizer, readWeights } from './snapshot';
import type { TrainingSession } from './session';

export interface CheckpointNames {
  outputDir: string;
  runId: string;
  stageName?: string;
  modelName: string;
}

/** The model_info of the EMA variant, Noether's `ema_factor=…`. */
export function emaInfo(factor: number): string {
  return `ema_factor=${factor}`;
}

// The zip's inner folder: PyTorch reads any name, and one name lets `latest` and the periodic
// checkpoint share the same encoded bytes.
const ARCHIVE = 'archive';

export class Checkpointer implements LoopHooks {
  readonly store: DualCheckpointStore;
  readonly policy: SavePolicy;
  private best: BestTrackerState;
  private writing: Promise<unknown> = Promise.resolve();
  /** Held work not begun yet (holdAfterFirstStep). */
  private deferred: (() => Promise<unknown>) | null = null;
  /** The latest validation metrics and their update: saved with every checkpoint, for its table row. */
  private lastMetrics: { update: number; values: Record<string, number> } | null = null;
  /** Milliseconds; the time trigger (`save_every_seconds`) counts from the run's start or its last resumable save. */
  private readonly clock: () => number = () => performance.now();
  private lastResumableSaveAt = this.clock();

  constructor(
    readonly run: RunConfig,
    readonly names: CheckpointNames,
    private readonly session: TrainingSession,
    private readonly onEvent: (e: SavedEvent | SavingEvent) => void,
    callbacks?: { [key: string]: JsonValue },
    store?: DualCheckpointStore,
  ) {
    this.store = store ?? createCheckpointStore({ use: run.stores });
    this.policy = resolveSavePolicy({ ...run, best_metrics: parseBestMetrics(run.best_metrics) });
    // A resumed run keeps its best values, for the metrics this run still tracks.
    const fresh = createBestTracker(this.policy);
    // The trainer part stores the tracker as JSON; this reads back what callbacks() wrote.
    const saved = (callbacks?.best as unknown as BestTrackerState | undefined)?.metrics ?? {};
    for (const [metric, t] of Object.entries(fresh.metrics))
      if (saved[metric]?.mode === t.mode) fresh.metrics[metric] = saved[metric];
    this.best = fresh;
  }

  private id(tag: CheckpointTag, modelInfo?: string): CheckpointId {
    return { ...this.names, tag, modelInfo };
  }

  /** Called after every step; cheap when nothing is due. */
  async afterStep(s: StepInfo): Promise<void> {
    this.startDeferred();
    if (
      s.saveNow ||
      periodicDue(this.policy, s.before, s.position.counters, s.epochEnd) ||
      secondsDue(this.run.save_every_seconds, this.lastResumableSaveAt, this.clock())
    )
      await this.save(s.position, s.totalUpdates, 'periodic');
  }

  /** After validation: a new best of a tracked metric saves `best.{metric}` (weights only). */
  async afterEval(position: LoopPosition, totalUpdates: number, metrics: Record<string, number>): Promise<void> {
    this.lastMetrics = { update: position.counters.update, values: { ...metrics } };
    for (const { metric } of this.policy.bestMetrics) {
      const value = metrics[metric];
      if (value === undefined) continue;
      const { improved, state } = bestImproved(this.best, metric, value);
      if (!improved) continue;
      this.best = state;
      await this.save(position, totalUpdates, 'best', metric);
    }
  }

  /** A stage that finished saves `last`; a stop saves a periodic checkpoint so nothing is lost. */
  async saveFinal(position: LoopPosition, totalUpdates: number, finished: boolean): Promise<void> {
    await this.save(position, totalUpdates, finished ? 'last' : 'periodic');
    await this.flush();
  }

  /** Waits for the save in flight; rethrows its failure. */
  async flush(): Promise<void> {
    await this.writing;
  }

  /** Waits for the save in flight, whatever its outcome. */
  async settled(): Promise<void> {
    await this.writing.catch(() => {});
  }

  /**
   * Holds every later save until `work` ends (a resume's repair, which writes to the same stores):
   * no save and no other writer are ever half done together. A failure of `work` is its own to
   * report; a failed save before it is still surfaced by the next save.
   */
  hold(work: Promise<unknown>): void {
    const before = this.writing;
    before.catch(() => {});
    const held = work.then(
      () => before,
      () => before,
    );
    held.catch(() => {});
    this.writing = held;
  }

  /**
   * hold() for work that starts after the run's first step (or at its first save, should one come
   * sooner): a resume's repair reads every other copy, which the first step need not wait behind.
   * A run that ends before either never starts it.
   */
  holdAfterFirstStep(start: () => Promise<unknown>): void {
    this.deferred = start;
  }

  private startDeferred(): void {
    const start = this.deferred;
    if (!start) return;
    this.deferred = null;
    this.hold(Promise.resolve().then(start));
  }

  private callbacks(): { [key: string]: JsonValue } {
    // The tracker is plain data (numbers, strings); its interface type has no JSON index signature.
    return {
      best: this.best as unknown as JsonValue,
      ema: this.run.ema > 0 ? { factor: this.run.ema, model_info: emaInfo(this.run.ema) } : null,
    };
  }

  private async save(
    position: LoopPosition,
    totalUpdates: number,
    kind: 'periodic' | 'last' | 'best',
    metric?: string,
  ): Promise<void> {
    this.startDeferred();
    // One save at a time: wait for (and surface the failure of) the previous write, once: after a
    // full disk, the retry must not meet the same failed write again.
    const previous = this.writing;
    this.writing = Promise.resolve();
    await previous;
    // A best.* holds weights only: a run cannot resume from it, so it does not reset the time trigger.
    if (kind !== 'best') this.lastResumableSaveAt = this.clock();
    const t0 = performance.now();
    const counters = { ...position.counters };
    const lr = learningRateAt(this.run, counters.update, totalUpdates);
    const session = this.session;
    const [weights, ema, optim] = await stage(
      'save:device read',
      async () =>
        [
          await readWeights(session.params),
          session.ema && kind !== 'best' ? await readWeights(session.ema) : null,
          kind === 'best' ? null : await readOptimizer(session, lr),
        ] as const,
    );
    const heldMs = performance.now() - t0;
    const trainer =
      kind === 'best'
        ? null
        : encodeTrainerPart({
            formatVersion: TRAINER_FORMAT_VERSION,
            counters,
            schedule: {
              name: this.run.schedule,
              baseLr: this.run.lr,
              warmup: this.run.warmup,
              totalUpdates,
              position: counters.update,
            },
            rng: position.rng,
            cursor: { seed: this.run.seed, ...cursorAt(counters, this.session.task.trainSize) },
            callbacks: this.callbacks(),
            // RunConfig is plain data; its interface has no index signature for JsonValue to match.
            config: this.run as unknown as { [key: string]: JsonValue },
            backend: tf.getBackend() ?? '',
            ...(this.lastMetrics ? { metrics: this.lastMetrics.values, metricsUpdate: this.lastMetrics.update } : {}),
          });
    const writing = this.write(counters, weights, ema, optim, trainer, kind, metric, heldMs);
    writing.catch(() => {}); // surfaced by the next save or flush(), not as an unhandled rejection
    this.writing = writing;
  }

  private async write(
    counters: Counters,
    weights: Weights,
    ema: Weights | null,
    optim: Awaited<ReturnType<typeof readOptimizer>> | null,
    trainer: ReturnType<typeof encodeTrainerPart> | null,
    kind: 'periodic' | 'last' | 'best',
    metric: string | undefined,
    heldMs: number,
  ): Promise<void> {
    // The store's metadata carries them too, so a listing shows them without reading a part
    // (a `best` checkpoint has no trainer part).
    const metrics = this.lastMetrics ? { ...this.lastMetrics.values } : undefined;
    const tagList: CheckpointTag[] =
      kind === 'periodic' ? [tags.at(counters), tags.latest()] : kind === 'last' ? [tags.last()] : [tags.best(metric!)];
    this.onEvent({ type: 'saving', tag: formatTag(tagList[0]) });
    const modelPart = (stateDict: Weights) =>
      writeTorchFile(
        encodeModelPart({
          stateDict,
          checkpointTag: formatTag(tagList[0]),
          counters,
          runId: this.names.runId,
          stageName: this.names.stageName,
          modelName: this.names.modelName,
          modelConfig: { ...this.session.modelConfig, vocabulary: this.session.task.vocabulary },
        }),
        ARCHIVE,
      );
    const parts: CheckpointParts = await stage('save:encode', async () => {
      const out: CheckpointParts = { model: modelPart(weights) };
      if (optim) out.optim = writeTorchFile(encodeOptimPart(optim), ARCHIVE);
      if (trainer) out.trainer = writeTorchFile(trainer, ARCHIVE);
      return out;
    });
    // The periodic checkpoint first, `latest` after it: a crash between them leaves the periodic one.
    // The EMA weights are their own weights-only checkpoint, the `ema_factor=…` variant, saved first.
    const emaPart = ema ? { model: modelPart(ema) } : null;
    const results: DualSaveResult[] = [];
    await stage('save:stores', async () => {
      for (const tag of tagList) {
        if (emaPart)
          results.push(await this.store.save(this.id(tag, emaInfo(this.run.ema)), emaPart, { counters, metrics }));
        results.push(await this.store.save(this.id(tag), parts, { counters, metrics }));
      }
    });
    if (kind === 'periodic') await stage('save:prune', () => this.prune());
    const bytes = [...Object.values(parts), ...Object.values(emaPart ?? {})].reduce(
      (n, chunks) => n + chunks.reduce((m, c) => m + c.byteLength, 0),
      0,
    );
    // What happened, not what was configured: a store that refused a write is named with its error.
    this.onEvent({ type: 'saved', tag: formatTag(tagList[0]), counters, ...saveOutcome(results), bytes, heldMs });
  }

  /** Keeps the newest `keep_checkpoint` periodic checkpoints; never `latest`, `last` or a best. */
  private async prune(): Promise<void> {
    if (this.policy.keepCheckpoint < 0) return;
    const mine = await this.store.list({
      outputDir: this.names.outputDir,
      runId: this.names.runId,
      stageName: this.names.stageName,
    });
    for (const old of checkpointsToDelete(this.policy, mine)) await this.store.delete(old.key);
  }
}

/**
 * The time trigger (`save_every_seconds`, beside OpenNMT's `save_every`): due once `seconds` passed
 * since the last resumable save, whatever the model's speed. 0 turns it off.
 */
export function secondsDue(seconds: number, lastSaveAtMs: number, nowMs: number): boolean {
  return seconds > 0 && nowMs - lastSaveAtMs >= seconds * 1000;
}
