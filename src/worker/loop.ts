/**
 * The explicit training loop: it owns the counters, the data cursor, the RNG and the timing of
 * evaluation and progress; saving plugs in through its hooks. Pause and stop are cooperative flags checked
 * between steps. It yields to the worker's event loop through a MessageChannel after every step:
 * never requestAnimationFrame (paused in hidden tabs) and never setTimeout (clamped to 4 ms).
 */
import * as tf from '@tensorflow/tfjs';
import { BatchSampler, batchesPerEpoch, cursorAt } from '../data/cursor';
import { Rng, type RngState } from '../data/rng';
import type { RunConfig } from '../shared/config';
import type { Counters, LossPoint, TrainerEvent, TrainerState } from '../shared/progress';
import { TrainerError, isNamed, toWireError } from '../shared/errors';
import { learningRateAt } from './schedule';
import { formatExample } from '../tasks/examples';
import type { TrainingSession } from './session';

const PROGRESS_INTERVAL_MS = 100;

export interface LoopPosition {
  counters: Counters;
  rng: RngState;
}

/** What the loop reports after each step. */
export interface StepInfo {
  before: Counters;
  position: LoopPosition;
  epochEnd: boolean;
  totalUpdates: number;
  /** A save was asked for out of turn (the page is being hidden or closed). */
  saveNow: boolean;
}

/** Where saving plugs in; the loop knows nothing of checkpoints beyond these calls. */
export interface LoopHooks {
  afterStep?(s: StepInfo): Promise<void>;
  afterEval?(position: LoopPosition, totalUpdates: number, metrics: Record<string, number>): Promise<void>;
}

/** Updates a whole run takes: the learning-rate schedule's length. */
export function plannedUpdates(trainSize: number, batchSize: number, epochs: number): number {
  return batchesPerEpoch(trainSize, batchSize) * epochs;
}

export function startPosition(run: RunConfig): LoopPosition {
  return { counters: { epoch: 0, update: 0, sample: 0 }, rng: Rng.fromSeed(run.seed, 0xd0).state() };
}

const channel = typeof MessageChannel === 'undefined' ? null : new MessageChannel();
const waiting: (() => void)[] = [];
if (channel) channel.port1.onmessage = () => waiting.shift()?.();

/** Lets queued messages (pause, stop) in without the 4 ms clamp of nested setTimeout. */
export function yieldToEventLoop(): Promise<void> {
  if (!channel) return new Promise((r) => setTimeout(r, 0));
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
}

export class TrainingLoop {
  private state: TrainerState = 'idle';
  private pauseRequested = false;
  private saveRequested = false;
  private stopRequested = false;
  private failure: Error | null = null;
  private validatedFirst = false;
  private wake: (() => void) | null = null;
  private counters: Counters;
  private readonly rng: Rng;
  private readonly sampler: BatchSampler;
  private pendingLoss: LossPoint[] = [];
  private lastLoss: number | null = null;
  private lastEmit = 0;
  private rateSamples = 0;
  private rateStart = 0;
  private samplesPerSecond = 0;
  /** Work to run between two steps ("try it" answers), in the order asked. */
  private jobs: (() => Promise<void>)[] = [];
  private ended = false;

  constructor(
    private readonly session: TrainingSession,
    private readonly run: RunConfig,
    start: LoopPosition,
    private readonly emit: (e: TrainerEvent) => void,
    private readonly hooks: LoopHooks = {},
    /** `validateFirst`: evaluate the starting weights before the first update (weights another engine trained). */
    private readonly opts: { validateFirst?: boolean } = {},
  ) {
    this.counters = { ...start.counters };
    this.rng = new Rng(start.rng);
    this.sampler = new BatchSampler(session.task.trainSize, run.seed, cursorAt(start.counters, session.task.trainSize));
  }

  get updatesPerEpoch(): number {
    return this.sampler.batchesPerEpoch(this.run.batch_size);
  }

  get totalUpdates(): number {
    return plannedUpdates(this.session.task.trainSize, this.run.batch_size, this.run.epochs);
  }

  position(): LoopPosition {
    return { counters: { ...this.counters }, rng: this.rng.state() };
  }

  pause(): void {
    if (this.state === 'running') this.pauseRequested = true;
  }

  resume(): void {
    this.pauseRequested = false;
    this.wake?.();
  }

  /** Asks for a checkpoint after the current step, whatever the save policy says. */
  requestSave(): void {
    this.saveRequested = true;
  }

  stop(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  /**
   * Runs `job` between two steps, so an answer holds training for its own length only and never
   * interleaves with a step's work on the device; at once while the loop is paused or has ended.
   */
  between<T>(job: () => Promise<T>): Promise<T> {
    if (this.state !== 'running' || this.ended) return job();
    return new Promise<T>((resolve, reject) => this.jobs.push(() => job().then(resolve, reject)));
  }

  private async runJobs(): Promise<void> {
    while (this.jobs.length > 0) await this.jobs.shift()!();
  }

  /** The failure reported through `fail`, if any: it explains a step that then broke. */
  get failureReason(): Error | null {
    return this.failure;
  }

  /** A backend failure seen outside the loop (a lost GPU device) ends it at the next step. */
  fail(error: Error): void {
    this.failure = error;
    this.wake?.();
  }

  /**
   * The progress (with the state and the loop's own counters) goes first, then the state event:
   * the page may render between two messages, and a page saying "paused" must already show the
   * update the loop holds at, not a throttled sample from a few steps before.
   */
  private setState(state: TrainerState, message?: string): void {
    this.state = state;
    this.emitProgress(true);
    this.emit({ type: 'state', state, message });
  }

  /** Trains until the last epoch ends, a stop, or `maxUpdates` more updates (benchmarks use that). */
  async runToEnd(maxUpdates = Infinity): Promise<Counters> {
    this.ended = false;
    try {
      return await this.train(maxUpdates);
    } finally {
      // Answers still waiting are given now: the session lives until the final save is done.
      this.ended = true;
      await this.runJobs();
    }
  }

  private async train(maxUpdates: number): Promise<Counters> {
    const lastUpdate = this.counters.update + maxUpdates;
    this.rateStart = performance.now();
    this.setState('running');
    if (this.opts.validateFirst && !this.validatedFirst) {
      this.validatedFirst = true;
      await this.evaluate(false);
    }
    while (this.counters.epoch < this.run.epochs) {
      if (this.failure) throw this.failure;
      if (this.stopRequested || this.counters.update >= lastUpdate) break;
      if (this.pauseRequested) {
        await this.runJobs();
        this.setState('paused');
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        if (this.stopRequested || this.failure) continue;
        this.rateStart = performance.now();
        this.rateSamples = 0;
        this.setState('running');
      }

      const { indices, epochEnd } = this.sampler.next(this.run.batch_size);
      const lr = learningRateAt(this.run, this.counters.update, this.totalUpdates);
      const lossT = this.session.trainStep(indices, lr, this.rng.nextU32());
      let loss: number;
      try {
        loss = (await lossT.data())[0];
      } finally {
        lossT.dispose();
      }
      if (!Number.isFinite(loss)) {
        throw new TrainerError(
          'BackendFailedError',
          `the loss became ${loss} at update ${this.counters.update + 1}: lower the learning rate`,
        );
      }
      const before = this.counters;
      this.counters = {
        epoch: epochEnd ? this.counters.epoch + 1 : this.counters.epoch,
        update: this.counters.update + 1,
        sample: this.counters.sample + indices.length,
      };
      this.lastLoss = loss;
      this.pendingLoss.push({ update: this.counters.update, loss });
      this.rateSamples += indices.length;

      const evalDue = epochEnd || (this.run.eval_every > 0 && this.counters.update % this.run.eval_every === 0);
      if (evalDue) await this.evaluate(epochEnd);
      if (this.hooks.afterStep) {
        const info: StepInfo = {
          before,
          position: this.position(),
          epochEnd,
          totalUpdates: this.totalUpdates,
          saveNow: this.saveRequested,
        };
        this.saveRequested = false;
        await this.withDiskRetry(() => this.hooks.afterStep!(info));
      }
      this.emitProgress(false);
      await yieldToEventLoop();
      await this.runJobs();
    }
    this.emitProgress(true);
    return { ...this.counters };
  }

  private async evaluate(epochEnd: boolean): Promise<void> {
    const metrics = await this.session.evaluate();
    // Its own generator, seeded by the update: showing samples never moves the training RNG.
    const examples = await this.session.examples(Rng.fromSeed(this.run.seed, 0x5a, this.counters.update));
    const confusion = this.session.task.lastConfusion;
    this.emit({
      type: 'eval',
      counters: { ...this.counters },
      metrics,
      samples: examples.map(formatExample),
      examples,
      ...(confusion ? { confusion } : {}),
      epochEnd,
    });
    if (this.hooks.afterEval) {
      const position = this.position();
      await this.withDiskRetry(() => this.hooks.afterEval!(position, this.totalUpdates, metrics));
    }
  }

  /**
   * A full disk pauses training with the way out, instead of failing the run: the user frees
   * space (deletes old checkpoints) and resumes, and the save is tried again.
   */
  private async withDiskRetry(save: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await save();
      } catch (e) {
        if (!isNamed(e, 'QuotaExceededError')) throw e;
        // Stopping with a full disk ends the run at its last complete checkpoint.
        if (this.stopRequested) return;
        this.state = 'paused';
        this.emitProgress(true);
        this.emit({ type: 'state', state: 'paused', message: 'the disk is full', error: toWireError(e) });
        await this.runJobs();
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        this.pauseRequested = false;
        if (this.stopRequested) return;
        if (this.failure) throw this.failure;
        this.setState('running');
      }
    }
  }

  private emitProgress(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastEmit < PROGRESS_INTERVAL_MS) return;
    this.lastEmit = now;
    const elapsed = (now - this.rateStart) / 1000;
    if (elapsed > 0.5 && this.rateSamples > 0) this.samplesPerSecond = this.rateSamples / elapsed;
    const totalSamples = this.run.epochs * this.session.task.trainSize;
    const remaining = Math.max(0, totalSamples - this.counters.sample);
    if (this.pendingLoss.length > 0) {
      this.emit({ type: 'loss', points: this.pendingLoss });
      this.pendingLoss = [];
    }
    this.emit({
      type: 'progress',
      state: this.state,
      counters: { ...this.counters },
      totalEpochs: this.run.epochs,
      updatesPerEpoch: this.updatesPerEpoch,
      fraction: totalSamples > 0 ? this.counters.sample / totalSamples : 0,
      loss: this.lastLoss,
      lr: learningRateAt(this.run, this.counters.update, this.totalUpdates),
      samplesPerSecond: this.samplesPerSecond,
      etaSeconds: this.samplesPerSecond > 0 ? remaining / this.samplesPerSecond : null,
      numTensors: tf.memory().numTensors,
    });
  }
}
