/** The page: wires the form, the buttons and the views to the trainer worker. */
import { PYTORCH_BACKEND } from '../checkpoint/contents';
import { configFromParams, type RunConfig } from '../shared/config';
import type {
  BackendReport,
  EvalEvent,
  ProgressEvent,
  RunEvent,
  SavedEvent,
  TrainerEvent,
  TrainerState,
} from '../shared/progress';
import { LossChart } from './chart';
import { overlayRuns, showLastRun, showRunHistory } from './run-history';
import { RunForm, writeConfigToUrl } from './run-form';
import { TrainerClient } from './trainer-client';
import { registerServiceWorker } from '../pwa/register';
import { initCheckpointBrowser, refresh as refreshCheckpoints } from './checkpoint-browser';
import { installTestHooks } from './test-hooks';
import { createCheckpointStore } from '../checkpoint/store/dual-store';
import { mountTryPanel } from './views/try-panel';
import { renderResults } from './views/results';
import { tryPanelDeps } from './try-wiring';
import {
  autoResumeSetting,
  readActiveRun,
  runIsLockedElsewhere,
  setAutoResume,
  updateActiveRun,
  writeActiveRun,
} from './run-registry';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const statusEl = $<HTMLDivElement>('status');
const progressEl = $<HTMLProgressElement>('progress');
const detailEl = $<HTMLParagraphElement>('progress-detail');
const startBtn = $<HTMLButtonElement>('start');
const pauseBtn = $<HTMLButtonElement>('pause');
const stopBtn = $<HTMLButtonElement>('stop');
const errorBanner = $<HTMLDivElement>('error-banner');
const backendLine = $<HTMLParagraphElement>('backend-line');
const backendsList = $<HTMLUListElement>('backends');
const samplesList = $<HTMLUListElement>('samples');
const chart = new LossChart($<HTMLCanvasElement>('loss-chart'));
const runLine = $<HTMLParagraphElement>('run-line');
const metricsLine = $<HTMLParagraphElement>('metrics-line');
const checkpointLine = $<HTMLParagraphElement>('checkpoint-line');
const saveWarning = $<HTMLParagraphElement>('save-warning');
const recoveryBanner = $<HTMLDivElement>('recovery-banner');
const resultsEl = $<HTMLDivElement>('results');
renderResults(resultsEl, null);
// "Try it": the model training now, or a checkpoint of the run shown.
const tryPanel = mountTryPanel(
  $<HTMLDivElement>('try-panel'),
  tryPanelDeps(createCheckpointStore(), (r) => (client ??= new TrainerClient()).api.tryModel(r)),
);

let client: TrainerClient | null = null;
let state: TrainerState = 'idle';
let backend = '';
let lastProgress: ProgressEvent | null = null;
let lastValLoss: number | null = null;
/** The update a run resumed PyTorch's weights at, until the app's validation of them arrives. */
let awaitingPytorchValidation: number | null = null;

const form = new RunForm($<HTMLFormElement>('run-form'), (config) => {
  startBtn.disabled = config === null || isBusy();
  if (config) writeConfigToUrl(config);
});
const initial = configFromParams(new URLSearchParams(location.search));
form.show(initial.config, initial.problems);

function isBusy(): boolean {
  return state === 'preparing' || state === 'running' || state === 'paused' || state === 'stopping';
}

function setState(next: TrainerState): void {
  state = next;
  document.body.dataset.state = next;
  const busy = isBusy();
  startBtn.disabled = busy;
  pauseBtn.disabled = !(next === 'running' || next === 'paused');
  pauseBtn.textContent = next === 'paused' ? 'Resume' : 'Pause';
  stopBtn.disabled = !busy;
  form.setDisabled(busy);
}

function showError(name: string, message: string): void {
  if (name === 'AbortError') return;
  errorBanner.hidden = false;
  errorBanner.textContent = `${name}: ${message}`;
}

function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'ETA —';
  if (seconds < 60) return `ETA ${Math.round(seconds)} s`;
  if (seconds < 3600) return `ETA ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `ETA ${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function renderStatus(): void {
  const p = lastProgress;
  if (!p) return;
  const epoch = Math.min(p.counters.epoch + 1, p.totalEpochs);
  const loss = p.loss === null ? '—' : p.loss.toFixed(2);
  const parts = [
    backend || '…',
    `epoch ${epoch}`,
    `update ${p.counters.update}`,
    `sample ${p.counters.sample}`,
    `loss ${loss}`,
  ];
  if (state === 'paused') parts.push('paused');
  if (state === 'done') parts.push('done');
  statusEl.textContent = parts.join(' · ');
  statusEl.dataset.update = String(p.counters.update);
  statusEl.dataset.loss = String(p.loss ?? '');
  statusEl.dataset.numTensors = String(p.numTensors);
  progressEl.value = p.fraction;
  const val = lastValLoss === null ? '' : ` · validation loss ${lastValLoss.toFixed(3)}`;
  detailEl.textContent =
    `epoch ${p.counters.epoch}/${p.totalEpochs} done · ${(p.fraction * 100).toFixed(1)}% · ` +
    `${Math.round(p.samplesPerSecond)} samples/s · lr ${p.lr.toPrecision(3)} · ${formatEta(p.etaSeconds)} · ` +
    `${p.numTensors} tensors${val}`;
}

function renderBackend(report: BackendReport): void {
  backend = report.backend;
  const soft = report.backend === 'webgpu' && report.webgpuFallbackAdapter ? ' (software adapter)' : '';
  backendLine.textContent = `Backend: ${report.backend}${soft}`;
  backendsList.replaceChildren(
    ...(['webgpu', 'webgl', 'wasm', 'cpu'] as const).map((b) => {
      const li = document.createElement('li');
      const t = report.timings[b];
      const timing = t === undefined ? '' : ` — ${t.toFixed(1)} ms/step`;
      const reason = report.reasons[b];
      li.textContent =
        b === report.backend
          ? `${b}: in use${timing}`
          : reason === undefined
            ? `${b}: not tried`
            : `${b}: ${reason}${reason.includes('ms a step') ? '' : timing}`;
      li.dataset.backend = b;
      if (b === 'wasm' && report.wasmThreads) {
        const { threads, threadedBuild, why } = report.wasmThreads;
        li.textContent += ` · ${threads} thread${threads === 1 ? '' : 's'}${threadedBuild ? ', threaded build' : ''}${why ? ` (${why})` : ''}`;
        li.dataset.threads = String(threads);
        li.dataset.threadedBuild = String(threadedBuild);
      }
      if (t !== undefined) li.dataset.ms = String(t);
      if (b === report.backend) li.dataset.inUse = 'true';
      return li;
    }),
  );
}

function renderEval(e: EvalEvent): void {
  if (awaitingPytorchValidation === e.counters.update) {
    // What came back from PyTorch, measured by the app: compare it with what PyTorch printed.
    awaitingPytorchValidation = null;
    runLine.textContent += ` · the app's validation of its weights: ${Object.entries(e.metrics)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(', ')}`;
    for (const [k, v] of Object.entries(e.metrics))
      runLine.dataset[`resumed_${k.replace(/[^A-Za-z0-9]/g, '_')}`] = String(v);
  }
  lastValLoss = e.metrics['val/loss'] ?? null;
  metricsLine.textContent = Object.entries(e.metrics)
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join(' · ');
  for (const [k, v] of Object.entries(e.metrics)) metricsLine.dataset[k.replace(/[^A-Za-z0-9]/g, '_')] = String(v);
  statusEl.dataset.valLoss = String(lastValLoss ?? '');
  statusEl.dataset.valUpdate = String(e.counters.update);
  if (lastValLoss !== null) chart.addVal({ update: e.counters.update, loss: lastValLoss });
  renderResults(resultsEl, e);
  samplesList.replaceChildren(
    ...e.samples.map((s) => {
      const li = document.createElement('li');
      li.textContent = s || '(empty)';
      return li;
    }),
  );
}

function onEvent(e: TrainerEvent): void {
  switch (e.type) {
    case 'state':
      setState(e.state);
      if (e.message) statusEl.textContent = `${e.state}: ${e.message}`;
      if (e.error) showError(e.error.name, e.error.message);
      renderStatus();
      break;
    case 'backend':
      renderBackend(e.report);
      break;
    case 'progress':
      lastProgress = e;
      chart.setUpdatesPerEpoch(e.updatesPerEpoch);
      renderStatus();
      break;
    case 'loss':
      chart.addTrain(e.points);
      break;
    case 'eval':
      renderEval(e);
      renderStatus();
      break;
    case 'run':
      renderRun(e);
      void showRunHistory(chart, e);
      break;
    case 'saving':
      checkpointLine.dataset.saving = 'true';
      break;
    case 'saved':
      renderSaved(e);
      refreshCheckpoints(); // checkpoint browser
      void tryPanel.refresh();
      break;
  }
  trackRun(e);
}

function renderRecovered(e: RunEvent): void {
  if (!pendingRecovery || !e.resumedFrom) return;
  const lost = Math.max(0, pendingRecovery.lastUpdate - e.resumedFrom.counters.update);
  showRecovery(
    `Recovered run ${e.runId}: resumed from checkpoint ${e.resumedFrom.tag} (update ${e.resumedFrom.counters.update}); ${lost} updates were lost.`,
    [],
  );
  recoveryBanner.dataset.lost = String(lost);
  recoveryBanner.dataset.from = e.resumedFrom.tag;
  pendingRecovery = null;
}

function renderRun(e: RunEvent): void {
  renderRecovered(e);
  tryPanel.setRun({
    runId: e.runId,
    stageName: e.stageName,
    task: e.config.task,
    modelKind: e.config.model,
    training: true,
  });
  const stage = e.stageName ? ` / ${e.stageName}` : '';
  runLine.textContent = `Run ${e.runId}${stage} · model ${e.modelName}`;
  runLine.dataset.runId = e.runId;
  for (const k of Object.keys(runLine.dataset)) if (k.startsWith('resumed_')) delete runLine.dataset[k];
  if (e.resumedFrom) {
    const c = e.resumedFrom.counters;
    const skipped = e.resumedFrom.skipped.map((s) => ` (skipped ${s.tag}: ${s.reason})`).join('');
    const fromPytorch = e.resumedFrom.backend === PYTORCH_BACKEND;
    awaitingPytorchValidation = fromPytorch ? c.update : null;
    const engine = fromPytorch ? ' (trained in PyTorch)' : '';
    runLine.textContent += ` · resumed from ${e.resumedFrom.tag} at update ${c.update}${engine}${skipped}`;
    runLine.textContent += describeRepairs(e.resumedFrom);
  }
  if (e.warmStart) {
    const w = e.warmStart;
    runLine.textContent +=
      ` · warm start from ${w.from}: ${w.loaded.length} loaded, ${w.missing.length} missing, ` +
      `${w.extra.length} extra, ${w.wrongShape.length} wrong shape`;
    if (w.unknownChars?.mapped) {
      runLine.textContent += ` · ${w.unknownChars.mapped} characters outside the vocabulary (${w.unknownChars.unknown.slice(0, 10).join(' ')}) mapped to \uFFFD`;
    }
    runLine.title = JSON.stringify(w, null, 1);
  }
}

/** A damaged copy is named one by one; copies a store had lost are counted per store. */
function describeRepairs(r: NonNullable<RunEvent['resumedFrom']>): string {
  const repaired = r.repaired ?? [];
  const damaged = repaired.filter((x) => x.error.name !== 'CheckpointNotFoundError');
  let text = damaged
    .map(
      (d) =>
        ` · the ${d.store} copy of ${d.tag} was damaged (${d.error.name}: ${d.error.message}); rewritten from the other store`,
    )
    .join('');
  const lost = new Map<string, number>();
  for (const x of repaired)
    if (x.error.name === 'CheckpointNotFoundError') lost.set(x.store, (lost.get(x.store) ?? 0) + 1);
  for (const [store, n] of lost) text += ` · ${n} checkpoint${n === 1 ? '' : 's'} missing from ${store} copied back`;
  if (r.failure) text += ` · copying checkpoints between the stores stopped: ${r.failure.name}: ${r.failure.message}`;
  return text;
}

function renderSaved(e: SavedEvent): void {
  const kib = (e.bytes / 1024).toFixed(1);
  const where = e.stores.length > 0 ? e.stores.join(' + ') : 'no one store holds all of it';
  checkpointLine.textContent = `Last checkpoint: ${e.tag} at update ${e.counters.update} · ${kib} KiB · ${where} · loop held ${e.heldMs.toFixed(0)} ms`;
  checkpointLine.dataset.tag = e.tag;
  checkpointLine.dataset.saving = 'false';
  checkpointLine.dataset.update = String(e.counters.update);
  checkpointLine.dataset.stores = e.stores.join(' ');
  // One copy is still a checkpoint, so training goes on; the warning stays until a save reaches every store.
  saveWarning.hidden = e.failures.length === 0;
  saveWarning.textContent =
    e.failures.length === 0
      ? ''
      : `Checkpoint ${e.tag} reached only ${e.stores.join(' + ') || 'part of the stores'}: ` +
        e.failures.map((f) => `${f.store} refused it (${f.error.name}: ${f.error.message})`).join('; ') +
        '. Training goes on; this warning clears when a save reaches every store.';
}

/** Keeps the crash-recovery record in step with the run. */
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
    const run = readActiveRun();
    if (run)
      tryPanel.setRun({
        runId: run.runId,
        stageName: run.stageName,
        task: run.config.task,
        modelKind: run.config.model,
        training: false,
      });
    if (e.state === 'idle' && run) {
      showRecovery(`Run ${run.runId} stopped at its checkpoint ${run.lastCheckpoint ?? ''}.`, [
        ['Continue this run', () => resumeRun(run.config, run.runId, run.stageName, run.lastUpdate)],
      ]);
    }
  }
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

/**
 * On opening: a run still marked as training was cut off (crash, kill, reload, closed tab).
 * Resume it from its newest valid checkpoint, or ask first if the user chose so. If another tab
 * holds its lock, it is training there: this tab shows it read-only and may take over later.
 */
async function recoverCrashedRun(): Promise<void> {
  const active = readActiveRun();
  if (!active || active.state !== 'training') return;
  if (await runIsLockedElsewhere(active.runId)) {
    showRecovery(`Run ${active.runId} is training in another tab; it is read-only here.`, []);
    document.body.dataset.readOnly = 'true';
    startBtn.disabled = true;
    // When that tab dies, its lock is released: offer to take over.
    void navigator.locks.request(`run:${active.runId}`, async () => {
      document.body.dataset.readOnly = 'false';
      startBtn.disabled = false;
      showRecovery(`The tab training run ${active.runId} has closed.`, [
        ['Take over and resume', () => resumeRun(active.config, active.runId, active.stageName, active.lastUpdate)],
      ]);
    });
    return;
  }
  if (autoResumeSetting() === 'auto') resumeRun(active.config, active.runId, active.stageName, active.lastUpdate);
  else
    showRecovery(`Run ${active.runId} was cut off at update ${active.lastUpdate}.`, [
      ['Resume it', () => resumeRun(active.config, active.runId, active.stageName, active.lastUpdate)],
    ]);
}

function showRecovery(text: string, actions: [string, () => void][]): void {
  recoveryBanner.hidden = false;
  recoveryBanner.replaceChildren(text + ' ');
  for (const [label, act] of actions) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', act);
    recoveryBanner.append(b);
  }
}

function resumeRun(config: RunConfig, runId: string, stageName: string | undefined, lastUpdate: number): void {
  const cfg = resumeConfig(config, runId, stageName);
  form.show(cfg);
  writeConfigToUrl(cfg);
  pendingRecovery = { lastUpdate };
  void start(cfg);
}

let pendingRecovery: { lastUpdate: number } | null = null;

async function start(config: RunConfig): Promise<void> {
  // A restart after a failure keeps the failure's message in view.
  if (!restarting) errorBanner.hidden = true;
  restarting = false;
  chart.reset();
  lastProgress = null;
  lastValLoss = null;
  client ??= new TrainerClient();
  setState('preparing');
  try {
    await client.start(config, onEvent);
  } catch (e) {
    const err = e as { name?: string; message?: string };
    if (err.name === 'AbortError') {
      // Stop before the first step: nothing was trained or saved, and the form is free again.
      setState('idle');
      statusEl.textContent = 'Cancelled before training began.';
      return;
    }
    showError(err.name ?? 'Error', err.message ?? String(e));
    setState('failed');
    if (err.name === 'BackendFailedError') restartAfterFailure();
  }
}

const MAX_RESTARTS = 3;
let restarts: number[] = [];
let restarting = false;

/**
 * The worker died under a run (a lost GPU device, out of memory, a crash): start a fresh worker
 * and resume from the newest checkpoint, without a reload. A few times a minute at most, so a
 * backend that fails at once is not retried forever.
 */
function restartAfterFailure(): void {
  const run = readActiveRun();
  const now = Date.now();
  restarts = restarts.filter((t) => now - t < 60_000);
  if (!run?.lastCheckpoint || restarts.length >= MAX_RESTARTS) return;
  restarts.push(now);
  client?.terminate();
  client = null;
  restarting = true;
  errorBanner.textContent += ' — restarting the trainer and resuming from the newest checkpoint.';
  resumeRun(run.config, run.runId, run.stageName, run.lastUpdate);
}

startBtn.addEventListener('click', () => {
  const config = form.read();
  if (config) void start(config);
});
pauseBtn.addEventListener('click', () => {
  if (state === 'running') void client?.api.pause();
  else if (state === 'paused') void client?.api.resume();
});
stopBtn.addEventListener('click', () => {
  setState('stopping');
  void client?.api.stop();
});

registerServiceWorker({ isBusy });

// `trainer.autoResume` in localStorage: what the next opening does with a run a crash cut off.
const autoResumeSelect = $<HTMLSelectElement>('auto-resume');
autoResumeSelect.value = autoResumeSetting();
autoResumeSelect.addEventListener('change', () =>
  setAutoResume(autoResumeSelect.value === 'prompt' ? 'prompt' : 'auto'),
);

// Best effort: a checkpoint when the page is hidden or closed, in case it never comes back.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden' && state === 'running') void client?.api.checkpointNow();
});
window.addEventListener('pagehide', () => {
  if (state === 'running') void client?.api.checkpointNow();
});

// ---- checkpoint browser (export, import, resume/warm start from a checkpoint) ----
initCheckpointBrowser({
  root: $<HTMLElement>('checkpoints'),
  form,
  shapesFor: (config) => {
    client ??= new TrainerClient();
    return client.api.modelShapes(config);
  },
  onFormFilled: (config) => {
    writeConfigToUrl(config);
    startBtn.disabled = isBusy() || document.body.dataset.readOnly === 'true';
  },
  ownRunPaused: (runId) => state === 'paused' && runLine.dataset.runId === runId,
  onCompare: (runs) => void overlayRuns(chart, runs),
});
void showLastRun(chart, readActiveRun());
// ---- end checkpoint browser ----
{
  // The last run's checkpoints can be tried at once after a reload.
  const last = readActiveRun();
  if (last && last.state !== 'training')
    tryPanel.setRun({
      runId: last.runId,
      stageName: last.stageName,
      task: last.config.task,
      modelKind: last.config.model,
      training: false,
    });
}
void recoverCrashedRun();

// Fault injection and benchmarks exist only in a test build; the flag is a build-time literal.
if (import.meta.env.VITE_TEST_HOOKS) {
  installTestHooks({
    client: () => (client ??= new TrainerClient()),
    config: () => form.read() ?? initial.config,
  });
}
