/** What the views show, derived from the page state alone. */
import {
  CONFIG_KEYS,
  PRESETS,
  PRESET_VALUES,
  TASK_MODELS,
  checkRunConfig,
  configFromParams,
  parseField,
  timingShapeKey,
  type ModelKind,
  type PresetName,
  type RunConfig,
  type TaskName,
} from '../../shared/config';
import type { TrainerState } from '../../shared/progress';
import { isBusy, type PageState } from './page-state';

/** The form's config, or null with each refused field's reason. */
export function formConfig(s: PageState): {
  config: RunConfig | null;
  problems: Partial<Record<keyof RunConfig, string>>;
} {
  const problems: Partial<Record<keyof RunConfig, string>> = {};
  const params = new URLSearchParams();
  for (const key of CONFIG_KEYS) {
    params.set(key, s.texts[key]);
    const parsed = parseField(key, s.texts[key]);
    if (!parsed.ok) problems[key] = parsed.message;
  }
  if (Object.keys(problems).length > 0) return { config: null, problems };
  return { config: configFromParams(params).config, problems };
}

/** Why Start cannot be pressed now, or null when it can. */
export function startBlocked(s: PageState): string | null {
  if (isBusy(s)) return 'a run is in progress: stop it first';
  if (s.readOnly) return 'another tab is training this run; this tab only watches it';
  const { config, problems } = formConfig(s);
  if (!config) {
    const keys = Object.keys(problems);
    return `fix ${keys.length === 1 ? 'the field' : `${keys.length} fields`} marked below (${keys.join(', ')})`;
  }
  const mismatch = checkRunConfig(config);
  if (mismatch) return mismatch;
  if (config.task === 'text' && !s.userFile && !config.resume_run_id)
    return 'the text task trains on your own file: choose one first';
  return null;
}

export const canStop = (s: PageState): boolean =>
  !s.stopRequested && (s.trainer === 'preparing' || s.trainer === 'running' || s.trainer === 'paused');

export const canPause = (s: PageState): boolean =>
  !s.stopRequested && (s.trainer === 'running' || s.trainer === 'paused');

/** The models the picked task can learn. */
export function modelsForTask(s: PageState): readonly ModelKind[] {
  return TASK_MODELS[s.texts.task as TaskName] ?? [];
}

/** The preset whose every value the form holds, or 'custom'. */
export function chosenPreset(s: PageState): PresetName | 'custom' {
  const model = s.texts.model as ModelKind;
  const presets = PRESET_VALUES[model];
  if (!presets) return 'custom';
  for (const p of PRESETS) {
    if (Object.entries(presets[p]).every(([k, v]) => s.texts[k as keyof RunConfig] === String(v))) return p;
  }
  return 'custom';
}

/** Seconds an epoch takes for a config on this device, from a cached backend timing × updates per epoch. */
export function epochSeconds(s: PageState, config: RunConfig): number | null {
  const t = s.timings[timingShapeKey(config)];
  if (!t) return null;
  return (t.msPerStep * t.updatesPerEpoch) / 1000;
}

/** The estimate for each preset of the current model (null: not measured on this device yet). */
export function presetEstimates(s: PageState): Record<PresetName, number | null> {
  const { config } = formConfig(s);
  const out = { quick: null, standard: null, long: null } as Record<PresetName, number | null>;
  if (!config || !PRESET_VALUES[config.model]) return out;
  for (const p of PRESETS) out[p] = epochSeconds(s, { ...config, ...PRESET_VALUES[config.model][p] });
  return out;
}

export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** The epoch being trained, 1-based, and the run's total: one number everywhere on the page. */
export function epochOf(s: PageState): { current: number; total: number } | null {
  const p = s.progress;
  if (!p) return null;
  return { current: Math.min(p.counters.epoch + 1, p.totalEpochs), total: p.totalEpochs };
}

const STATE_WORD: Partial<Record<TrainerState, string>> = { paused: 'paused', stopping: 'stopping' };

/** The one-line status. */
export function statusText(s: PageState): string {
  if (s.trainer === 'preparing' || (s.trainer === 'stopping' && !s.progress)) {
    if (s.stopRequested || s.trainer === 'stopping') return 'stopping: cancelling the start…';
    const t = s.timing;
    const timing = t ? ` · timing ${t.backend} (${t.index} of ${t.count})` : '';
    return `preparing: ${s.phase || 'starting'}${timing}`;
  }
  if (s.outcome === 'cancelled' && s.trainer === 'idle') return 'Cancelled before training began.';
  const p = s.progress;
  if (!p) {
    if (s.trainer === 'failed') return `Failed${s.error ? `: ${s.error.name}` : ''}`;
    return 'Idle';
  }
  const e = epochOf(s)!;
  const parts = [
    s.backend?.backend ?? '…',
    `epoch ${e.current}/${e.total}`,
    `update ${p.counters.update}`,
    `sample ${p.counters.sample}`,
    `loss ${p.loss === null ? '—' : p.loss.toFixed(2)}`,
  ];
  const word =
    STATE_WORD[s.trainer] ??
    (s.trainer === 'done' ? 'done' : s.trainer === 'failed' ? 'failed' : s.trainer === 'idle' ? 'stopped' : null);
  if (word) parts.push(word);
  return parts.join(' · ');
}

/** The line under the progress bar. An ETA only while training runs: stopped or paused runs have none. */
export function detailText(s: PageState): string {
  const p = s.progress;
  if (!p) return '';
  const parts = [`${(p.fraction * 100).toFixed(1)}%`, `${Math.round(p.samplesPerSecond)} samples/s`];
  parts.push(`lr ${p.lr.toPrecision(3)}`);
  if (s.trainer === 'running' && !s.stopRequested)
    parts.push(
      p.etaSeconds === null || !Number.isFinite(p.etaSeconds) ? 'ETA —' : `ETA ${formatDuration(p.etaSeconds)}`,
    );
  parts.push(`${p.numTensors} tensors`);
  const val = s.evaluation?.metrics['val/loss'];
  if (val !== undefined) parts.push(`validation loss ${val.toFixed(3)}`);
  return parts.join(' · ');
}

/** The checkpoint line: never "No checkpoint yet" for a run that resumed from one. */
export function checkpointText(s: PageState): string {
  const c = s.checkpoint;
  let text: string;
  if (!c) text = 'No checkpoint yet';
  else if (c.kind === 'resumed') text = `Resumed from checkpoint ${c.tag} at update ${c.update}; none written since`;
  else {
    const kib = ((c.bytes ?? 0) / 1024).toFixed(1);
    const where = c.stores && c.stores.length > 0 ? c.stores.join(' + ') : 'no one store holds all of it';
    text = `Last checkpoint: ${c.tag} at update ${c.update} · ${kib} KiB · ${where} · loop held ${(c.heldMs ?? 0).toFixed(0)} ms`;
  }
  if (s.best && s.best.tag !== c?.tag) text += ` · best: ${s.best.tag} at update ${s.best.update}`;
  return text;
}

/** The run line: which run, where it came from. */
export function runText(s: PageState): string {
  const r = s.run;
  if (!r) return '';
  let text = `Run ${r.runId}${r.stageName ? ` / ${r.stageName}` : ''} · model ${r.modelName}`;
  if (r.resumedFrom) {
    const f = r.resumedFrom;
    const engine = f.backend === 'pytorch' ? ' (trained in PyTorch)' : '';
    const skipped = f.skipped.map((x) => ` (skipped ${x.tag}: ${x.reason})`).join('');
    text += ` · resumed from ${f.tag} at update ${f.counters.update}${engine}${skipped}${describeRepairs(f)}`;
  }
  if (r.warmStart) {
    const w = r.warmStart;
    text +=
      ` · warm start from ${w.from}: ${w.loaded.length} loaded, ${w.missing.length} missing, ` +
      `${w.extra.length} extra, ${w.wrongShape.length} wrong shape`;
    if (w.unknownChars?.mapped)
      text += ` · ${w.unknownChars.mapped} characters outside the vocabulary (${w.unknownChars.unknown.slice(0, 10).join(' ')}) mapped to \uFFFD`;
  }
  if (s.pytorchCheck?.metrics)
    text += ` · the app's validation of its weights: ${Object.entries(s.pytorchCheck.metrics)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(', ')}`;
  return text;
}

/** A damaged copy is named one by one; copies a store had lost are counted per store. */
function describeRepairs(r: NonNullable<NonNullable<PageState['run']>['resumedFrom']>): string {
  const repaired = r.repaired ?? [];
  let text = repaired
    .filter((x) => x.error.name !== 'CheckpointNotFoundError')
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

/** What a "Try it" panel needs: the run that trains or trained, its task and model, and the trainer's state. */
export function trainedRun(
  s: PageState,
): { runId: string; stageName?: string; task: TaskName; model: ModelKind; state: TrainerState } | null {
  if (!s.run) return null;
  return {
    runId: s.run.runId,
    stageName: s.run.stageName,
    task: s.run.config.task,
    model: s.run.config.model,
    state: s.trainer,
  };
}

/** The banner's text. */
export function bannerText(s: PageState): string {
  const b = s.banner;
  if (!b) return '';
  switch (b.kind) {
    case 'recovered':
      return `Recovered run ${b.runId}: resumed from checkpoint ${b.from} (update ${b.fromUpdate}); ${b.lost} updates were lost.`;
    case 'stopped':
      return `Run ${b.runId} stopped${b.checkpoint ? ` at its checkpoint ${b.checkpoint}` : ''}.`;
    case 'read-only':
      return `Run ${b.runId} is training in another tab; it is read-only here.`;
    case 'lock-released':
      return `The tab training run ${b.runId} has closed.`;
    case 'cut-off':
      return `Run ${b.runId} was cut off at update ${b.lastUpdate}.`;
    case 'nothing-to-resume':
      return `Run ${b.runId} has no checkpoint to resume: it stopped before its first save. Nothing of it can be continued; a new run with the same settings can begin.`;
  }
}
