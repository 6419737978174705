/**
 * When to save and what to keep: pure functions over counters and checkpoint ids. The config
 * names are the ones users of OpenNMT, SINGA and Noether already know.
 */
import { TrainerError } from '../shared/errors';
import { type CheckpointId, normalizeMetric } from './naming';
import type { Counters } from './store/types';

/** The user's settings, as written in a run config. 0 or absent turns a trigger off. */
export interface SavePolicyConfig {
  /** Save every N updates (OpenNMT `-save_every`). */
  save_every?: number;
  /** SINGA's name for save_every; give one or the other (or the same value). */
  checkpoint_freq?: number;
  /** Save whenever the sample count crosses a multiple of N. */
  save_every_samples?: number;
  /** Save every N epochs. */
  save_every_epochs?: number;
  /** Save when an epoch ends. */
  save_at_epoch_end?: boolean;
  /** No periodic save before this many updates (SINGA). */
  checkpoint_after?: number;
  /** Keep the newest K periodic checkpoints (OpenNMT); -1 keeps all. latest, last and best.* are never removed. */
  keep_checkpoint?: number;
  /** Metrics whose best value gets its own `best.{metric}` checkpoint. */
  best_metrics?: { metric: string; mode: 'min' | 'max' }[];
}

/** The settings after checking, with every field present. */
export interface SavePolicy {
  saveEvery: number;
  saveEverySamples: number;
  saveEveryEpochs: number;
  saveAtEpochEnd: boolean;
  checkpointAfter: number;
  keepCheckpoint: number;
  bestMetrics: { metric: string; mode: 'min' | 'max' }[];
}

function invalid(message: string): never {
  throw new TrainerError('InvalidConfigError', message);
}

function count(name: string, v: number | undefined, min = 0): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < min) invalid(`${name} must be a whole number ≥ ${min}, got ${v}.`);
  return v;
}

/** Checks a config and fills defaults (InvalidConfigError saying which setting is wrong). */
export function resolveSavePolicy(config: SavePolicyConfig = {}): SavePolicy {
  const every = count('save_every', config.save_every);
  const freq = count('checkpoint_freq', config.checkpoint_freq);
  if (every && freq && every !== freq) {
    invalid(`save_every (${every}) and checkpoint_freq (${freq}) name the same setting; give one of them.`);
  }
  const keep = config.keep_checkpoint ?? -1;
  if (!Number.isSafeInteger(keep) || keep < -1)
    invalid(`keep_checkpoint must be -1 (keep all) or a whole number ≥ 0, got ${keep}.`);
  const seen = new Set<string>();
  const bestMetrics = (config.best_metrics ?? []).map(({ metric, mode }) => {
    if (mode !== 'min' && mode !== 'max')
      invalid(`best_metrics: mode of ${metric} must be "min" or "max", got ${String(mode)}.`);
    let tagName: string;
    try {
      tagName = normalizeMetric(metric);
    } catch (e) {
      invalid(`best_metrics: ${(e as Error).message}`);
    }
    if (seen.has(tagName))
      invalid(`best_metrics lists ${metric} twice (or two names that both become best.${tagName}).`);
    seen.add(tagName);
    return { metric, mode };
  });
  return {
    saveEvery: every || freq,
    saveEverySamples: count('save_every_samples', config.save_every_samples),
    saveEveryEpochs: count('save_every_epochs', config.save_every_epochs),
    saveAtEpochEnd: config.save_at_epoch_end ?? false,
    checkpointAfter: count('checkpoint_after', config.checkpoint_after),
    keepCheckpoint: keep,
    bestMetrics,
  };
}

/** True when a counter moved past a multiple of `every` (a batch may jump over the exact value). */
function crossed(every: number, before: number, after: number): boolean {
  return every > 0 && Math.floor(after / every) > Math.floor(before / every);
}

/**
 * Whether a periodic checkpoint is due after a step that took the counters from `before` to
 * `after`. Nothing is due before `checkpoint_after` updates.
 */
export function periodicDue(policy: SavePolicy, before: Counters, after: Counters, epochEnded: boolean): boolean {
  if (after.update < policy.checkpointAfter) return false;
  return (
    crossed(policy.saveEvery, before.update, after.update) ||
    crossed(policy.saveEverySamples, before.sample, after.sample) ||
    crossed(policy.saveEveryEpochs, before.epoch, after.epoch) ||
    (policy.saveAtEpochEnd && epochEnded)
  );
}

/** Best values so far, JSON-serializable (null: nothing seen yet), kept in the trainer part. */
export interface BestTrackerState {
  metrics: Record<string, { mode: 'min' | 'max'; best: number | null }>;
}

/** A tracker with no values yet for the policy's best_metrics. */
export function createBestTracker(policy: Pick<SavePolicy, 'bestMetrics'>): BestTrackerState {
  const metrics: BestTrackerState['metrics'] = {};
  for (const { metric, mode } of policy.bestMetrics) metrics[metric] = { mode, best: null };
  return { metrics };
}

/**
 * Whether `value` beats the best so far (strictly; NaN never does), with the new state. A metric
 * the tracker does not follow never improves, and the state comes back unchanged.
 */
export function bestImproved(
  state: BestTrackerState,
  metric: string,
  value: number,
): { improved: boolean; state: BestTrackerState } {
  const t = state.metrics[metric];
  if (!t || !Number.isFinite(value)) return { improved: false, state };
  const improved = t.best === null || (t.mode === 'min' ? value < t.best : value > t.best);
  if (!improved) return { improved, state };
  return { improved, state: { metrics: { ...state.metrics, [metric]: { mode: t.mode, best: value } } } };
}

/**
 * The periodic checkpoints beyond the newest `keep_checkpoint`, counted per model variant (run,
 * stage, model name and info); never `latest`, `last` or a `best.*`.
 */
export function checkpointsToDelete<T extends { id: CheckpointId }>(
  policy: Pick<SavePolicy, 'keepCheckpoint'>,
  metas: readonly T[],
): T[] {
  if (policy.keepCheckpoint < 0) return [];
  const groups = new Map<string, T[]>();
  for (const m of metas) {
    if (m.id.tag.kind !== 'periodic') continue;
    const { outputDir, runId, stageName, modelName, modelInfo } = m.id;
    const g = JSON.stringify([outputDir, runId, stageName ?? null, modelName, modelInfo ?? null]);
    groups.set(g, [...(groups.get(g) ?? []), m]);
  }
  const out: T[] = [];
  for (const list of groups.values()) {
    const newestFirst = [...list].sort((a, b) => {
      const x = a.id.tag as Extract<CheckpointId['tag'], { kind: 'periodic' }>;
      const y = b.id.tag as Extract<CheckpointId['tag'], { kind: 'periodic' }>;
      return y.update - x.update || y.sample - x.sample || y.epoch - x.epoch;
    });
    out.push(...newestFirst.slice(policy.keepCheckpoint));
  }
  return out;
}
