/**
 * The page: one store (state/page-state.ts), the views rendered from it, and the effects an action
 * calls for (the trainer worker, the URL, the crash-recovery record, the chart).
 */
import { render } from 'lit-html';
import { configFromParams, timingShapeKey, type RunConfig } from '../shared/config';
import type { WireError } from '../shared/errors';
import type { TrainerEvent } from '../shared/progress';
import { registerServiceWorker } from '../pwa/register';
import { LossChart } from './chart';
import { createCheckpointStore } from '../checkpoint/store/dual-store';
import { overlayRuns, showLastRun, showRunHistory } from './run-history';
import { tryPanelDeps } from './try-wiring';
import { renderResults } from './views/results';
import { mountTryPanel, type TryPanelHandle } from './views/try-panel';
import { initCheckpointBrowser, refresh as refreshCheckpoints } from './checkpoint-browser';
import { RunForm, writeConfigToUrl } from './run-form';
import {
  autoResumeSetting,
  readActiveRun,
  restoreDurableCopy,
  runIsLockedElsewhere,
  setAutoResume,
  updateActiveRun,
  writeActiveRun,
  type ActiveRun,
} from './run-registry';
import { initialState, isBusy, mayRestart, type PageState } from './state/page-state';
import { canStop, formConfig, startBlocked } from './state/selectors';
import { createStore } from './state/store';
import { installTestHooks } from './test-hooks';
import { TrainerClient } from './trainer-client';
import { setUserFile } from './user-file';
import { errorBanner, runBanner } from './views/banners';
import { controls } from './views/controls';
import { backendLine, runExtras, runLines } from './views/run-info';
import { setupFields, setupTop } from './views/setup';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const initial = configFromParams(new URLSearchParams(location.search));
const store = createStore(initialState(initial.config, initial.problems));
const { dispatch } = store;
const chart = new LossChart($<HTMLCanvasElement>('loss-chart'));
const resultsEl = $<HTMLDivElement>('results');
renderResults(resultsEl, null);

/** The trainer worker: a handle, not state (a new one replaces a dead or cancelled one). */
let client: TrainerClient | null = null;
const trainer = () => (client ??= new TrainerClient());

/** "Try it": the model training now, or any checkpoint of the run in view (its own state, kept in the panel). */
const tryPanel: TryPanelHandle = mountTryPanel(
  $<HTMLDivElement>('try-panel'),
  tryPanelDeps(createCheckpointStore(), (r) => trainer().api.tryModel(r)),
);

/** The Try panel follows the run in view: live while it trains, its checkpoints once it ends. */
function showRunInTryPanel(run: Pick<ActiveRun, 'runId' | 'stageName' | 'config'>, training: boolean): void {
  tryPanel.setRun({
    runId: run.runId,
    stageName: run.stageName,
    task: run.config.task,
    modelKind: run.config.model,
    training,
  });
}

// ---------------------------------------------------------------- rendering

/** Renders at most every RENDER_GAP_MS: a fast model sends hundreds of events a second. */
const RENDER_GAP_MS = 50;
let renderQueued = false;
let lastRender = 0;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  const run = () => {
    renderQueued = false;
    lastRender = performance.now();
    renderAll(store.getState());
  };
  const wait = lastRender + RENDER_GAP_MS - performance.now();
  if (wait <= 0) queueMicrotask(run);
  else setTimeout(run, wait);
}

const setupHandlers = {
  dispatch,
  chooseFile: (file: File | undefined) => void takeUserFile(file),
};
const controlHandlers = {
  start: () => startFromForm(),
  pauseOrResume: () => {
    const s = store.getState();
    if (s.trainer === 'running') void client?.api.pause();
    else if (s.trainer === 'paused') void client?.api.resume();
  },
  stop,
  measureAgain: () => void measureAgain(),
  autoResume: (v: 'auto' | 'prompt') => {
    setAutoResume(v);
    scheduleRender();
  },
};
const bannerHandlers = {
  continueRun: () => {
    const run = readActiveRun();
    if (run) resumeRun(run, false);
  },
  resumeCutOff: () => {
    const run = readActiveRun();
    if (run) resumeRun(run, true);
  },
  freshStart: () => {
    dispatch({ type: 'dismiss-banner' });
    startFromForm();
  },
  dismiss: () => dispatch({ type: 'dismiss-banner' }),
};

function renderAll(s: PageState): void {
  // No state on the body until something started (a spec reads "nothing runs until asked" from it).
  if (s.trainer !== 'idle' || s.outcome !== 'none') document.body.dataset.state = s.trainer;
  else delete document.body.dataset.state;
  document.body.dataset.readOnly = String(s.readOnly);
  $('backend-line').textContent = backendLine(s);
  render(setupTop(s, setupHandlers), $('setup-top'));
  render(setupFields(s, setupHandlers), $('run-form'));
  render(controls(s, controlHandlers, autoResumeSetting()), $('controls'));
  render(runLines(s), $('run-lines'));
  render(runExtras(s), $('run-extras'));
  const err = $('error-banner');
  err.hidden = !s.error;
  render(errorBanner(s), err);
  const banner = $('recovery-banner');
  banner.hidden = !s.banner;
  const b = s.banner;
  if (b?.kind === 'recovered') {
    banner.dataset.lost = String(b.lost);
    banner.dataset.from = b.from;
  }
  banner.dataset.kind = b?.kind ?? '';
  render(runBanner(s, bannerHandlers), banner);
  setDynamicData(s);
  moveFocusToStop(s);
}

/** Data attributes whose names follow the metrics (what the specs and tools read). */
function setDynamicData(s: PageState): void {
  const runLine = $('run-line');
  const metricsLine = $('metrics-line');
  for (const el of [runLine, metricsLine])
    for (const k of Object.keys(el.dataset)) if (k.includes('_') || k.startsWith('resumed')) delete el.dataset[k];
  for (const [k, v] of Object.entries(s.pytorchCheck?.metrics ?? {}))
    runLine.dataset[`resumed_${k.replace(/[^A-Za-z0-9]/g, '_')}`] = String(v);
  for (const [k, v] of Object.entries(s.evaluation?.metrics ?? {}))
    metricsLine.dataset[k.replace(/[^A-Za-z0-9]/g, '_')] = String(v);
}

// ---------------------------------------------------------------- effects of a change

store.subscribe((s, prev) => {
  // The URL follows the form, so a link reproduces the setup (a resume that found nothing drops its resume_run_id here).
  if (s.texts !== prev.texts) {
    const { config } = formConfig(s);
    if (config) writeConfigToUrl(config);
  }
  scheduleRender();
});

function onWorkerEvent(e: TrainerEvent): void {
  dispatch({ type: 'worker', event: e });
  if (e.type === 'loss') chart.addTrain(e.points);
  if (e.type === 'eval' && e.metrics['val/loss'] !== undefined)
    chart.addVal({ update: e.counters.update, loss: e.metrics['val/loss'] });
  if (e.type === 'progress') chart.setUpdatesPerEpoch(e.updatesPerEpoch);
  if (e.type === 'run') {
    void showRunHistory(chart, e);
    showRunInTryPanel(e, true);
  }
  if (e.type === 'eval') renderResults(resultsEl, e);
  if (e.type === 'saved') {
    refreshCheckpoints();
    void tryPanel.refresh();
  }
  if (e.type === 'state' && (e.state === 'done' || e.state === 'idle' || e.state === 'failed')) {
    const run = readActiveRun();
    if (run) showRunInTryPanel(run, false);
  }
  if (e.type === 'backend' && e.report.cachedAt === undefined) void loadTimings();
  trackRun(e);
}

/** Keeps the crash-recovery record (localStorage) in step with the run. */
function trackRun(e: TrainerEvent): void {
  if (e.type === 'run') {
    writeActiveRun({
      runId: e.runId,
      stageName: e.stageName,
      modelName: e.modelName,
      config: e.config,
      lastUpdate: 0,
      state: 'training',
    });
  } else if (e.type === 'progress' && e.state === 'running') {
    updateActiveRun({ lastUpdate: e.counters.update });
  } else if (e.type === 'saved') {
    updateActiveRun({ lastCheckpoint: e.tag });
  } else if (e.type === 'state' && (e.state === 'done' || e.state === 'idle' || e.state === 'failed')) {
    updateActiveRun({ state: e.state === 'done' ? 'done' : e.state === 'failed' ? 'failed' : 'stopped' });
  }
}

async function loadTimings(): Promise<void> {
  try {
    dispatch({ type: 'timings', records: await trainer().api.backendTimings() });
  } catch (e) {
    console.warn('backend timings not read:', e);
  }
}

async function measureAgain(): Promise<void> {
  const { config } = formConfig(store.getState());
  await trainer().api.forgetBackendTimings(config ? timingShapeKey(config) : undefined);
  await loadTimings();
}

async function takeUserFile(file: File | undefined): Promise<void> {
  if (!file) return;
  setUserFile({ name: file.name, bytes: await file.arrayBuffer() });
  dispatch({ type: 'user-file', file: { name: file.name, size: file.size } });
}

// ---------------------------------------------------------------- starting and stopping

/** Each start's number: a start whose worker was dropped (a forced cancel) reports nothing more. */
let startSeq = 0;

function startRun(config: RunConfig, opts: { recovering?: { lastUpdate: number }; keepError?: boolean } = {}): void {
  const seq = ++startSeq;
  dispatch({ type: 'start', ...opts });
  chart.reset();
  renderResults(resultsEl, null);
  trainer()
    .start(config, (e) => {
      if (seq === startSeq) onWorkerEvent(e);
    })
    .then(
      () => {
        if (seq === startSeq) dispatch({ type: 'start-ended', error: null });
      },
      (e: unknown) => {
        if (seq !== startSeq) return;
        const err = e as Partial<WireError>;
        const error = { name: err.name ?? 'Error', message: err.message ?? String(e) };
        dispatch({ type: 'start-ended', error });
        if (error.name === 'BackendFailedError') restartAfterFailure();
      },
    );
}

function startFromForm(): void {
  const s = store.getState();
  const { config } = formConfig(s);
  if (!config || startBlocked(s) !== null) return;
  // Start turns off once pressed: the keyboard moves on to Stop instead of dropping to the page's
  // top, in the render that turns Stop on (renders are spaced, so a timer may come before it).
  focusStopOnRender = document.activeElement?.id === 'start';
  startRun(config);
}

/** Set by a start from the keyboard; the next render moves the focus from Start to Stop. */
let focusStopOnRender = false;

function moveFocusToStop(s: PageState): void {
  if (!focusStopOnRender) return;
  focusStopOnRender = false;
  const at = document.activeElement;
  // Not if the start already ended, nor if the user has moved the focus on meanwhile.
  if (canStop(s) && (at === null || at === document.body || at.id === 'start')) $('stop').focus();
}

/** How long a start still preparing may take to honour Stop before its worker is dropped. */
const STOP_GRACE_MS = 1500;

/**
 * Stop: a start still preparing is cancelled (the worker checks between data loading, backend
 * trials and their steps); if it has not ended within the grace period, its worker is dropped,
 * which is safe as nothing was trained or saved. A training run stops after its step, with a checkpoint.
 */
function stop(): void {
  const s = store.getState();
  if (!isBusy(s)) return;
  const seq = startSeq;
  const preparing = s.run === null;
  dispatch({ type: 'stop' });
  void client?.api.stop();
  if (!preparing) return;
  setTimeout(() => {
    const now = store.getState();
    if (seq !== startSeq || now.run !== null || !isBusy(now)) return;
    client?.terminate();
    client = null;
    startSeq++;
    dispatch({
      type: 'start-ended',
      error: { name: 'AbortError', message: 'the start was cancelled before training began' },
    });
  }, STOP_GRACE_MS);
}

/** The settings that continue a run where its newest checkpoint left it. */
function resumeConfig(config: RunConfig, runId: string, stageName?: string): RunConfig {
  return {
    ...config,
    resume_run_id: runId,
    resume_stage_name: stageName ?? '',
    resume_checkpoint: 'latest',
    run_id: runId,
    stage_name: stageName ?? '',
    init_run_id: '',
  };
}

/** Continues a run from its newest checkpoint; `recovery`: it was cut off, so count what was lost. */
function resumeRun(run: ActiveRun, recovery: boolean, keepError = false): void {
  const cfg = resumeConfig(run.config, run.runId, run.stageName);
  dispatch({ type: 'load-config', config: cfg });
  startRun(cfg, { recovering: recovery ? { lastUpdate: run.lastUpdate } : undefined, keepError });
}

/**
 * The worker died under a run (a lost GPU device, out of memory, a crash): start a fresh worker
 * and resume from the newest checkpoint, without a reload; a few times a minute at most.
 */
function restartAfterFailure(): void {
  const run = readActiveRun();
  const now = Date.now();
  if (!run?.lastCheckpoint || !mayRestart(store.getState(), now)) return;
  client?.terminate();
  client = null;
  dispatch({ type: 'restarting', at: now });
  resumeRun(run, true, true);
}

/**
 * On opening: a run still marked as training was cut off (crash, kill, reload, closed tab).
 * Resume it, or ask first if the user chose so. If another tab holds its lock, it is training
 * there: this tab shows it read-only and may take over when that tab closes.
 */
async function recoverCrashedRun(): Promise<void> {
  const active = readActiveRun();
  if (!active || active.state !== 'training') return;
  const lockedElsewhere = await runIsLockedElsewhere(active.runId);
  const autoResume = autoResumeSetting() === 'auto';
  dispatch({ type: 'found-cut-off', runId: active.runId, lastUpdate: active.lastUpdate, lockedElsewhere, autoResume });
  if (lockedElsewhere) {
    // When that tab dies, its lock is released: offer to take over.
    void navigator.locks.request(`run:${active.runId}`, async () => {
      dispatch({ type: 'lock-released', runId: active.runId });
    });
    return;
  }
  if (autoResume) resumeRun(active, true);
}

// ---------------------------------------------------------------- wiring

$<HTMLFormElement>('run-form').addEventListener('submit', (e) => e.preventDefault());

registerServiceWorker({ isBusy: () => isBusy(store.getState()) });

// Best effort: a checkpoint when the page is hidden or closed, in case it never comes back
// (save_every_seconds bounds what is lost if even this does not arrive).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden' && store.getState().trainer === 'running') void client?.api.checkpointNow();
});
window.addEventListener('pagehide', () => {
  if (store.getState().trainer === 'running') void client?.api.checkpointNow();
});

const form = new RunForm(store);
initCheckpointBrowser({
  root: $<HTMLElement>('checkpoints'),
  form,
  shapesFor: (config) => trainer().api.modelShapes(config),
  onFormFilled: () => scheduleRender(),
  ownRunPaused: (runId) => {
    const s = store.getState();
    return s.trainer === 'paused' && s.run?.runId === runId;
  },
  onCompare: (runs) => void overlayRuns(chart, runs),
  onTry: (runId, stageName, tag) => void tryPanel.tryFromCheckpoint(runId, stageName, tag),
});

renderAll(store.getState());
void (async () => {
  // The crash-recovery record first: a killed browser may have lost localStorage's copy.
  await restoreDurableCopy();
  scheduleRender(); // the "after a crash" setting may have come back with it
  // After a reload: the last run's chart and its checkpoints to try (a cut-off run resumes below).
  const last = readActiveRun();
  void showLastRun(chart, last);
  if (last && last.state !== 'training') showRunInTryPanel(last, false);
  await recoverCrashedRun();
})();
void loadTimings();

// Fault injection and benchmarks exist only in a test build; the flag is a build-time literal.
if (import.meta.env.VITE_TEST_HOOKS) {
  installTestHooks({
    client: trainer,
    config: () => formConfig(store.getState()).config ?? initial.config,
  });
}
