/**
 * The page's whole state, as plain data: what the form holds, what the trainer last said, and what
 * the page offers (banners). It changes only through `reduce` (user acts and worker events); the
 * views render from it, and whatever a button shows (disabled, why) is a selector of it.
 */
import {
  CONFIG_KEYS,
  DEFAULT_CONFIG,
  TASK_MODELS,
  defaultModelFor,
  type ConfigProblem,
  type ModelKind,
  type PresetName,
  PRESET_VALUES,
  type RunConfig,
  type TaskName,
} from '../../shared/config';
import type { WireError } from '../../shared/errors';
import type {
  BackendReport,
  EvalEvent,
  ProgressEvent,
  RunEvent,
  TrainerEvent,
  TrainerState,
} from '../../shared/progress';

export type FieldTexts = Record<keyof RunConfig, string>;

/** A checkpoint the page knows of: the newest written, or the one a run resumed from. */
export interface CheckpointInfo {
  tag: string;
  update: number;
  /** `resumed`: the run started from it and has written none since. */
  kind: 'saved' | 'best' | 'resumed';
  bytes?: number;
  stores?: string[];
  heldMs?: number;
}

/** What the banner above the page offers. */
export type Banner =
  /** A cut-off run was resumed on opening. */
  | { kind: 'recovered'; runId: string; from: string; fromUpdate: number; lost: number }
  /** The user stopped a run: it can go on from its checkpoint. */
  | { kind: 'stopped'; runId: string; checkpoint: string | null }
  /** Another tab trains this run; this tab only watches. */
  | { kind: 'read-only'; runId: string }
  /** The other tab closed: this one may take over. */
  | { kind: 'lock-released'; runId: string }
  /** A run was cut off and the user asked to be asked first. */
  | { kind: 'cut-off'; runId: string; lastUpdate: number }
  /** A resume found no checkpoint (the tab died before its first save): a fresh start is offered. */
  | { kind: 'nothing-to-resume'; runId: string; message: string };

/** Backend timing kept per device and model shape (see `timingShapeKey`). */
export interface TimingRecord {
  backend: string;
  msPerStep: number;
  updatesPerEpoch: number;
  /** When it was measured (ms since the epoch). */
  at: number;
}

export interface PageState {
  /** The form's fields as typed (a value being typed may not parse yet). */
  texts: FieldTexts;
  /** Problems of a link's values: shown beside their field until it is edited. */
  urlProblems: Partial<Record<keyof RunConfig, string>>;
  /** The user's own file for task `text`. */
  userFile: { name: string; size: number } | null;

  trainer: TrainerState;
  /** What the worker said it is doing while preparing or stopping. */
  phase: string;
  /** Backend timing in progress: which backend, the i-th of n. */
  timing: { backend: string; index: number; count: number } | null;
  /** Stop was pressed and the worker has not yet ended the start. */
  stopRequested: boolean;
  /** How the last start ended, for the status line. */
  outcome: 'none' | 'cancelled' | 'stopped' | 'done' | 'failed';

  backend: BackendReport | null;
  progress: ProgressEvent | null;
  evaluation: Pick<EvalEvent, 'counters' | 'metrics' | 'samples'> | null;
  run: Omit<RunEvent, 'type' | 'outputDir'> | null;
  /** A run resumed from PyTorch's weights: the app's own validation of them, once it arrives. */
  pytorchCheck: { update: number; metrics: Record<string, number> | null } | null;
  /** The newest checkpoint of this run (by update; a best.* never hides a newer periodic one). */
  checkpoint: CheckpointInfo | null;
  /** The newest best.* checkpoint. */
  best: CheckpointInfo | null;
  saving: boolean;
  /** A save that reached only part of the stores. */
  saveWarning: string | null;
  error: WireError | null;
  banner: Banner | null;
  /** Another tab holds the active run's lock. */
  readOnly: boolean;
  /** A recovery start: the update the crashed tab had reached, to count what was lost. */
  pendingRecovery: { lastUpdate: number } | null;
  /** Cached backend timings of this device, by shape key. */
  timings: Record<string, TimingRecord>;
  /** When the trainer worker was restarted after dying under a run (ms), to bound the retries. */
  restarts: number[];
}

export type Action =
  | { type: 'edit'; key: keyof RunConfig; text: string }
  | { type: 'pick-task'; task: TaskName }
  | { type: 'preset'; preset: PresetName }
  | { type: 'load-config'; config: RunConfig; problems?: ConfigProblem[] }
  | { type: 'user-file'; file: { name: string; size: number } | null }
  /** Start pressed (or a recovery/resume began); `recovering` counts what the crash lost. */
  | { type: 'start'; recovering?: { lastUpdate: number }; keepError?: boolean }
  | { type: 'stop' }
  | { type: 'worker'; event: TrainerEvent }
  /** The worker's start call returned (error: null) or was refused. */
  | { type: 'start-ended'; error: WireError | null }
  /** On opening, a run still marked as training was found. */
  | { type: 'found-cut-off'; runId: string; lastUpdate: number; lockedElsewhere: boolean; autoResume: boolean }
  | { type: 'lock-released'; runId: string }
  | { type: 'dismiss-banner' }
  /** Every cached timing of this device (replaces what the page held). */
  | { type: 'timings'; records: Record<string, TimingRecord> }
  /** The trainer worker died and is being restarted to resume from the newest checkpoint. */
  | { type: 'restarting'; at: number };

export function textsOf(config: RunConfig): FieldTexts {
  const texts = {} as FieldTexts;
  for (const key of CONFIG_KEYS) texts[key] = String(config[key]);
  return texts;
}

/** What a start clears: everything that belongs to one run (the page's initial state holds the same). */
const RUN_RESET = {
  timing: null,
  stopRequested: false,
  outcome: 'none',
  progress: null,
  evaluation: null,
  run: null,
  pytorchCheck: null,
  checkpoint: null,
  best: null,
  saving: false,
  saveWarning: null,
} satisfies Partial<PageState>;

export function initialState(config: RunConfig = DEFAULT_CONFIG, problems: ConfigProblem[] = []): PageState {
  return {
    texts: textsOf(config),
    urlProblems: problemMap(config, problems),
    userFile: null,
    trainer: 'idle',
    phase: '',
    ...RUN_RESET,
    backend: null,
    error: null,
    banner: null,
    readOnly: false,
    pendingRecovery: null,
    timings: {},
    restarts: [],
  };
}

function problemMap(config: RunConfig, problems: ConfigProblem[]): PageState['urlProblems'] {
  const out: PageState['urlProblems'] = {};
  for (const p of problems) out[p.key] = `${p.message}; the default ${JSON.stringify(config[p.key])} is used`;
  return out;
}

/** What Start, Stop and Pause may do depends on this. */
export function isBusy(s: Pick<PageState, 'trainer'>): boolean {
  return s.trainer === 'preparing' || s.trainer === 'running' || s.trainer === 'paused' || s.trainer === 'stopping';
}

const PYTORCH_BACKEND = 'pytorch';

/** At most MAX_RESTARTS restarts of a dead trainer within this window, so a backend that fails at once is not retried forever. */
export const RESTART_WINDOW_MS = 60_000;
export const MAX_RESTARTS = 3;

/** Whether a dead trainer may be restarted now. */
export function mayRestart(s: PageState, now: number): boolean {
  return s.restarts.filter((t) => now - t < RESTART_WINDOW_MS).length < MAX_RESTARTS;
}

/** The page's one transition function: no I/O, no clock, no DOM. */
export function reduce(s: PageState, a: Action): PageState {
  switch (a.type) {
    case 'edit': {
      if (isBusy(s)) return s;
      const urlProblems = { ...s.urlProblems };
      delete urlProblems[a.key];
      const texts = { ...s.texts, [a.key]: a.text };
      return { ...s, texts, urlProblems };
    }
    case 'pick-task': {
      if (isBusy(s)) return s;
      const models = TASK_MODELS[a.task];
      // A model that cannot learn the task gives way to the task's default.
      const model = models.includes(s.texts.model as ModelKind) ? s.texts.model : defaultModelFor(a.task);
      return { ...s, texts: { ...s.texts, task: a.task, model } };
    }
    case 'preset': {
      if (isBusy(s)) return s;
      const model = TASK_MODELS[s.texts.task as TaskName]?.includes(s.texts.model as ModelKind)
        ? (s.texts.model as ModelKind)
        : defaultModelFor((s.texts.task as TaskName) ?? 'names');
      const values = PRESET_VALUES[model][a.preset];
      const texts: FieldTexts = { ...s.texts, model };
      for (const [k, v] of Object.entries(values)) texts[k as keyof RunConfig] = String(v);
      return { ...s, texts };
    }
    case 'load-config':
      return { ...s, texts: textsOf(a.config), urlProblems: problemMap(a.config, a.problems ?? []) };
    case 'user-file':
      return { ...s, userFile: a.file };
    case 'start':
      return {
        ...s,
        trainer: 'preparing',
        phase: 'starting',
        ...RUN_RESET,
        error: a.keepError ? s.error : null,
        // A banner that offered this start has done its work; a read-only tab keeps its own.
        banner: s.banner?.kind === 'read-only' ? s.banner : null,
        pendingRecovery: a.recovering ?? null,
      };
    case 'stop':
      if (!isBusy(s) || s.trainer === 'stopping') return s;
      return { ...s, stopRequested: true, trainer: 'stopping' };
    case 'worker':
      return onWorkerEvent(s, a.event);
    case 'start-ended':
      return onStartEnded(s, a.error);
    case 'found-cut-off':
      if (a.lockedElsewhere) return { ...s, readOnly: true, banner: { kind: 'read-only', runId: a.runId } };
      if (a.autoResume) return s; // the page starts the resume at once
      return { ...s, banner: { kind: 'cut-off', runId: a.runId, lastUpdate: a.lastUpdate } };
    case 'lock-released':
      return { ...s, readOnly: false, banner: { kind: 'lock-released', runId: a.runId } };
    case 'dismiss-banner':
      return s.banner?.kind === 'read-only' ? s : { ...s, banner: null };
    case 'timings':
      return { ...s, timings: a.records };
    case 'restarting':
      return {
        ...s,
        restarts: [...s.restarts.filter((t) => a.at - t < RESTART_WINDOW_MS), a.at],
        error: s.error
          ? {
              ...s.error,
              message: `${s.error.message} — restarting the trainer and resuming from the newest checkpoint.`,
            }
          : s.error,
      };
  }
}

function onWorkerEvent(s: PageState, e: TrainerEvent): PageState {
  switch (e.type) {
    case 'state': {
      // The start call's refusal and the worker's `failed` event travel apart and come in either
      // order: a missing checkpoint the banner already reports (after which the page is idle and
      // the resume settings dropped) is not reported again as a failure.
      if (
        e.state === 'failed' &&
        s.banner?.kind === 'nothing-to-resume' &&
        e.error?.name === 'CheckpointNotFoundError' &&
        e.error.message === s.banner.message
      )
        return s;
      // Once Stop was pressed, the page says stopping until the worker has ended (a late
      // `preparing` or `running` from before the stop does not undo it).
      const trainer: TrainerState =
        s.stopRequested && (e.state === 'preparing' || e.state === 'running' || e.state === 'paused')
          ? 'stopping'
          : e.state;
      const ended = e.state === 'idle' || e.state === 'done' || e.state === 'failed';
      const next: PageState = {
        ...s,
        trainer,
        phase: e.message ?? (e.state === s.trainer ? s.phase : ''),
        timing: e.state === 'preparing' ? s.timing : null,
        error: e.error && e.error.name !== 'AbortError' ? e.error : s.error,
      };
      if (!ended) return next;
      next.stopRequested = false;
      next.saving = false;
      next.outcome = e.state === 'done' ? 'done' : e.state === 'failed' ? 'failed' : s.run ? 'stopped' : 'cancelled';
      if (e.state === 'idle' && s.run && !s.readOnly) {
        next.banner = { kind: 'stopped', runId: s.run.runId, checkpoint: s.checkpoint?.tag ?? null };
      }
      return next;
    }
    case 'timing':
      return { ...s, timing: { backend: e.backend, index: e.index, count: e.count } };
    case 'backend':
      return { ...s, backend: e.report, timing: null };
    case 'progress': {
      // A late progress event of a run that was asked to stop does not bring back "running".
      const trainer = s.stopRequested || s.trainer === 'stopping' ? s.trainer : e.state;
      return { ...s, progress: e, trainer };
    }
    case 'loss':
      return s;
    case 'eval': {
      const evaluation = { counters: e.counters, metrics: e.metrics, samples: e.samples };
      const pytorchCheck =
        s.pytorchCheck && s.pytorchCheck.metrics === null && s.pytorchCheck.update === e.counters.update
          ? { update: e.counters.update, metrics: e.metrics }
          : s.pytorchCheck;
      return { ...s, evaluation, pytorchCheck };
    }
    case 'run': {
      const { type: _t, outputDir: _o, ...run } = e;
      const r = e.resumedFrom;
      const next: PageState = {
        ...s,
        run,
        pytorchCheck: r?.backend === PYTORCH_BACKEND ? { update: r.counters.update, metrics: null } : null,
        checkpoint: r ? { tag: r.tag, update: r.counters.update, kind: 'resumed' } : null,
        best: null,
      };
      if (s.pendingRecovery && r) {
        next.banner = {
          kind: 'recovered',
          runId: e.runId,
          from: r.tag,
          fromUpdate: r.counters.update,
          lost: Math.max(0, s.pendingRecovery.lastUpdate - r.counters.update),
        };
        next.pendingRecovery = null;
      }
      return next;
    }
    case 'repaired': {
      const from = s.run?.resumedFrom;
      if (!s.run || !from) return s;
      const { type: _t, ...repair } = e;
      return { ...s, run: { ...s.run, resumedFrom: { ...from, ...repair } } };
    }
    case 'saving':
      return { ...s, saving: true };
    case 'saved': {
      const info: CheckpointInfo = {
        tag: e.tag,
        update: e.counters.update,
        kind: e.tag.startsWith('best.') ? 'best' : 'saved',
        bytes: e.bytes,
        stores: e.stores,
        heldMs: e.heldMs,
      };
      const saveWarning =
        e.failures.length === 0
          ? null
          : `Checkpoint ${e.tag} reached only ${e.stores.join(' + ') || 'part of the stores'}: ` +
            e.failures.map((f) => `${f.store} refused it (${f.error.name}: ${f.error.message})`).join('; ') +
            '. Training goes on; this warning clears when a save reaches every store.';
      const next: PageState = { ...s, saving: false, saveWarning };
      if (info.kind === 'best') {
        if (!s.best || info.update >= s.best.update) next.best = info;
        // A best.* is the newest checkpoint only if nothing newer was written.
        if (!s.checkpoint || info.update > s.checkpoint.update) next.checkpoint = info;
      } else if (!s.checkpoint || info.update >= s.checkpoint.update || s.checkpoint.kind === 'resumed') {
        next.checkpoint = info;
      }
      return next;
    }
  }
  return s;
}

function onStartEnded(s: PageState, error: WireError | null): PageState {
  const base: PageState = { ...s, stopRequested: false, timing: null };
  if (!error) return base;
  if (error.name === 'AbortError') {
    // Stop before the first step: nothing trained or saved, and the form is free again.
    return { ...base, trainer: 'idle', phase: '', outcome: 'cancelled', pendingRecovery: null };
  }
  const resumeRunId = s.texts.resume_run_id;
  if (error.name === 'CheckpointNotFoundError' && resumeRunId) {
    // The run died before its first checkpoint: nothing to resume. Say so, and drop the resume
    // settings so the next Start (and the URL) begins afresh instead of failing again.
    const texts = { ...s.texts, resume_run_id: '', resume_stage_name: '', resume_checkpoint: 'latest' };
    if (texts.run_id === resumeRunId) texts.run_id = '';
    return {
      ...base,
      texts,
      trainer: 'idle',
      phase: '',
      outcome: 'failed',
      error: null,
      pendingRecovery: null,
      banner: { kind: 'nothing-to-resume', runId: resumeRunId, message: error.message },
    };
  }
  return { ...base, trainer: 'failed', phase: '', outcome: 'failed', error, pendingRecovery: null };
}
