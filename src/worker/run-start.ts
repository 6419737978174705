/**
 * A start of a run, as an object: it owns its session, loop and cancellation from the moment it
 * is asked for until its last checkpoint, so nothing of one start can leak into another. The
 * worker holds at most one (`Trainer`); a second start while one is alive is refused at once,
 * before it touches data, backend or tfjs variables, and a stop before the first step cancels
 * the start instead of being lost.
 */
import * as tf from '@tensorflow/tfjs';
import { createCheckpointStore, type DualCheckpointStore } from '../checkpoint/store/dual-store';
import { timingShapeKey, type RunConfig } from '../shared/config';
import { TrainerError, isNamed, toWireError } from '../shared/errors';
import type { Counters, TrainerEvent } from '../shared/progress';
import type { UserData } from '../tasks/registry';
import { chooseBackend, timeTrialSteps } from './backend';
import { Checkpointer } from './checkpointer';
import { TrainingLoop, plannedUpdates } from './loop';
import { prepareRun } from './prepare';
import { RunLogWriter } from './run-log-writer';
import { TrainingSession } from './session';
import { TryService, dictionaryFrom, type LiveModel } from './try';
import type { TryRequest, TryResult } from '../shared/try';
import { loadCmudict } from '../data/cmudict-source';
import { DEFAULT_CONFIG } from '../shared/config';
import { readTiming, writeTiming } from './timing-cache';

type OnEvent = (e: TrainerEvent) => void;

function watchDevice(onLost: (e: Error) => void): void {
  if (tf.getBackend() !== 'webgpu') return;
  // tfjs's WebGPU backend keeps its GPUDevice in a field its public type does not declare.
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<{ message: string; reason: string }> } })
    .device;
  void device?.lost?.then((info) => {
    onLost(
      new TrainerError('BackendFailedError', `the GPU device was lost (${info.reason || 'unknown'}): ${info.message}`),
    );
  });
}

/** Anything that is not already a named error broke inside tfjs: say which backend, keep its words. */
function explainFailure(e: unknown): Error {
  if (e instanceof TrainerError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const oom = /out of memory|allocat/i.test(message) ? ' (out of memory: try a smaller batch or model)' : '';
  const where = tf.getBackend()
    ? `the ${tf.getBackend()} backend failed`
    : 'training failed before a backend was chosen';
  return new TrainerError('BackendFailedError', `${where}${oom}: ${message}`);
}

/**
 * Removes leftovers of interrupted saves, but only while no tab is training: another tab's save in
 * flight has uncommitted files too. Best effort: a failed sweep never stops a run.
 */
async function sweepIfIdle(s: DualCheckpointStore): Promise<void> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  try {
    const held = locks ? ((await locks.query()).held ?? []) : [];
    if (held.some((l) => l.name?.startsWith('run:'))) return;
    await s.sweep();
  } catch (e) {
    console.warn('checkpoint sweep skipped:', e);
  }
}

/** Holds the run's Web Lock while `body` runs, so a second tab cannot write the same run. */
async function withRunLock<T>(runId: string, body: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return body();
  return locks.request(`run:${runId}`, { ifAvailable: true }, async (lock) => {
    if (!lock)
      throw new TrainerError('RunLockedError', `run ${runId} is training in another tab; it is read-only here`);
    return body();
  });
}

/** One start: preparing (cancellable), then training (stopped cooperatively, with a checkpoint). */
export class RunStart {
  private readonly abort = new AbortController();
  private loop: TrainingLoop | null = null;
  private session: TrainingSession | null = null;
  /** "Try it" answers using the session: it is disposed only once they are given. */
  private readonly answering = new Set<Promise<unknown>>();

  constructor(
    private readonly requested: RunConfig,
    private readonly onEvent: OnEvent,
    private readonly storeFor: (run: RunConfig) => Promise<DualCheckpointStore>,
    private readonly userData?: UserData,
  ) {}

  /**
   * Before the first step: the start ends with an AbortError and no run is announced. Once
   * training: the loop stops after its current step and saves, as Stop always did.
   */
  cancel(): void {
    if (this.loop) this.loop.stop();
    else this.abort.abort(new DOMException('the start was cancelled before training began', 'AbortError'));
  }

  pause(): void {
    this.loop?.pause();
  }

  resume(): void {
    this.loop?.resume();
  }

  requestSave(): void {
    this.loop?.requestSave();
  }

  /** The model training now, for "try it" (null while preparing). Its session lives until every answer is given. */
  live(): LiveModel | null {
    const { loop, session } = this;
    if (!loop || !session) return null;
    return {
      task: session.run.task,
      model: session.model,
      vocabulary: session.task.vocabulary,
      update: () => loop.position().counters.update,
      between: (job) => {
        const answer = loop.between(job);
        this.answering.add(answer);
        void answer.finally(() => this.answering.delete(answer)).catch(() => {});
        return answer;
      },
    };
  }

  /** Trains to the end (or a stop); resolves with the final counters. Call once. */
  async run(): Promise<Counters> {
    const { onEvent } = this;
    const signal = this.abort.signal;
    onEvent({ type: 'state', state: 'preparing', message: 'loading data' });
    try {
      const checkpoints = await this.storeFor(this.requested);
      signal.throwIfAborted();
      const prepared = await prepareRun(this.requested, checkpoints, this.userData);
      signal.throwIfAborted();
      const { run, task } = prepared;
      return await withRunLock(prepared.names.runId, async () => {
        onEvent({ type: 'state', state: 'preparing', message: 'choosing a backend' });
        // A cancel ends the timing between trials and between a trial's steps.
        const shapeKey = timingShapeKey(run);
        const cached = run.backend === 'auto' ? await readTiming(shapeKey) : null;
        signal.throwIfAborted();
        const report = await chooseBackend(run.backend, (b) => timeTrialSteps(run, task, b, signal), {
          signal,
          cached,
          onTrial: (backend, index, count) => onEvent({ type: 'timing', backend, index, count }),
        });
        signal.throwIfAborted();
        const msPerStep = report.timings[report.backend];
        if (report.cachedAt === undefined && msPerStep !== undefined) {
          await writeTiming(shapeKey, {
            backend: report.backend,
            msPerStep,
            updatesPerEpoch: plannedUpdates(task.trainSize, run.batch_size, 1),
            at: Date.now(),
            timings: report.timings,
            reasons: report.reasons,
          });
        }
        onEvent({ type: 'backend', report });
        const session = new TrainingSession(run, task, '', prepared.initialWeights);
        this.session = session;
        const { position, callbacks, validateFirst, repair } = await prepared.restore(session);
        // The last moment a cancel ends the start: from the `run` event on, Stop means save and end.
        signal.throwIfAborted();
        onEvent({ type: 'run', ...prepared.event });
        const checkpointer = new Checkpointer(run, prepared.names, session, onEvent, callbacks, checkpoints);
        // A resume's repair runs beside the steps after the first; the run's saves wait for it.
        if (repair) checkpointer.holdAfterFirstStep(() => repair().then((r) => onEvent({ type: 'repaired', ...r })));
        const loop = new TrainingLoop(session, run, position, onEvent, checkpointer, { validateFirst });
        this.loop = loop;
        watchDevice((e) => loop.fail(e));
        const end = await loop.runToEnd().catch(async (e: unknown) => {
          // A failed run still holds its lock until its writes (a save, the repair) are done.
          await checkpointer.settled();
          throw e;
        });
        onEvent({ type: 'state', state: 'stopping', message: 'saving a checkpoint' });
        try {
          await checkpointer.saveFinal(loop.position(), loop.totalUpdates, end.epoch >= run.epochs);
        } catch (e) {
          // A full disk at the very end loses only the updates since the last complete checkpoint.
          if (!isNamed(e, 'QuotaExceededError')) throw e;
          onEvent({
            type: 'state',
            state: 'idle',
            message: 'stopped; the final checkpoint did not fit on the disk',
            error: toWireError(e),
          });
          return end;
        }
        onEvent({ type: 'state', state: end.epoch >= run.epochs ? 'done' : 'idle' });
        return end;
      });
    } catch (e) {
      // Cancelled before training: whatever broke on the way out (a skipped trial leaves no backend),
      // the start ends as cancelled. It announced no run, so its rejection is all it reports. (Not
      // every AbortError is a cancel: WebGPU rejects with them when its device is lost.)
      if (signal.aborted && !this.loop) throw signal.reason;
      const err = explainFailure(this.loop?.failureReason ?? e);
      onEvent({ type: 'state', state: 'failed', error: toWireError(err) });
      throw err;
    } finally {
      const session = this.session;
      this.session = null;
      this.loop = null;
      await Promise.allSettled([...this.answering]);
      session?.dispose();
    }
  }
}

/** The worker's trainer: at most one start alive, and the checkpoint store it reuses. */
export class Trainer {
  private current: RunStart | null = null;
  /**
   * The current start once it has told the page it ended (idle, done, failed): the page then
   * offers Start again while the start still finishes its tail (the metrics log's last append,
   * the session's disposal, the run lock). A start asked for meanwhile waits for that tail.
   */
  private ending: Promise<void> | null = null;
  /** A start waiting for that tail. */
  private waiting: RunStart | null = null;
  private store: DualCheckpointStore | null = null;
  private readonly tries: TryService;

  constructor(
    /** Opens the checkpoint store for a choice of stores (tests give their own scratch stores). */
    private readonly openStore: (use: RunConfig['stores']) => DualCheckpointStore = (use) =>
      createCheckpointStore({ use }),
    dictionary = dictionaryFrom(loadCmudict),
  ) {
    // Checkpoints are tried from the store the run uses, else from both stores.
    this.tries = new TryService(async () => (this.store ??= this.openStore(DEFAULT_CONFIG.stores)), dictionary);
  }

  /** "Try it": the model training now (between two steps) or a stored checkpoint answers one input. */
  async tryModel(request: TryRequest): Promise<TryResult> {
    const live = this.current?.live() ?? null;
    // A fresh worker (after a reload, nothing trained yet) has no backend: a checkpoint is answered
    // on WASM, else the next that starts. Not while a start is choosing one: the two would fight.
    if (!live && !tf.engine().backendName) {
      if (this.current)
        throw new TrainerError('TrainerBusyError', 'the trainer is still choosing a backend: try again in a moment');
      await chooseBackend('wasm', () => Promise.resolve(0));
    }
    return this.tries.answer(request, live);
  }

  /** Frees the checkpoint model the last try kept. */
  releaseTryModel(): void {
    this.tries.release();
  }

  /** Tensors held by the checkpoint model the last try kept. */
  get tryTensors(): number {
    return this.tries.heldTensors;
  }

  /**
   * Starts a run; refuses (TrainerBusyError) while another start of this worker is alive. One that
   * has already reported its end is waited for, not refused: the page's Start comes back with
   * that report.
   */
  async start(requested: RunConfig, onEvent: OnEvent, userData?: UserData): Promise<Counters> {
    if (this.current && !this.ending)
      throw new TrainerError('TrainerBusyError', 'a run is already starting or training in this worker');
    let reportEnd = () => {};
    const whole = new Promise<void>((resolve) => (reportEnd = resolve));
    const ended = (e: TrainerEvent) => {
      if (e.type === 'state' && (e.state === 'idle' || e.state === 'done' || e.state === 'failed') && !this.ending)
        this.ending = whole;
      onEvent(e);
    };
    // The run's metrics log sees every event on its way to the page (run-log-writer.ts).
    const log = new RunLogWriter(ended);
    const start = new RunStart(requested, log.onEvent, (run) => this.storeFor(run), userData);
    if (this.current) {
      // A Stop pressed meanwhile cancels this start (its run() then ends at once, cancelled).
      this.waiting = start;
      await this.ending;
      this.waiting = null;
      if (this.current)
        throw new TrainerError('TrainerBusyError', 'a run is already starting or training in this worker');
    }
    this.current = start;
    try {
      return await start.run();
    } finally {
      await log.close();
      this.current = null;
      this.ending = null;
      reportEnd();
    }
  }

  /** Cancels a start still preparing, or stops a training run after its step (with a checkpoint). */
  stop(): void {
    this.current?.cancel();
    this.waiting?.cancel();
  }

  pause(): void {
    this.current?.pause();
  }

  resume(): void {
    this.current?.resume();
  }

  /** Best effort when the page is hidden or closing: a checkpoint after the current step. */
  checkpointNow(): void {
    this.current?.requestSave();
  }

  /** The checkpoint store for a choice of stores; leftovers of interrupted saves are swept once. */
  private async storeFor(run: RunConfig): Promise<DualCheckpointStore> {
    if (!this.store || this.store.kind !== run.stores) {
      this.store = this.openStore(run.stores);
      await sweepIfIdle(this.store);
    }
    return this.store;
  }
}
