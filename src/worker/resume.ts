/**
 * Resume (a full continuation, OpenNMT's `-continue`, Noether's resume_* options) and warm start
 * (weights only, Noether's PreviousRunInitializer, OpenNMT's `-train_from`): finding the
 * checkpoint, merging settings, and matching parameters by name.
 */
import {
  decodeModelPart,
  decodeOptimPart,
  decodeTrainerPart,
  type ModelPartMeta,
  type OptimPart,
  type TrainerPart,
  type Weights,
} from '../checkpoint/contents';
import {
  type CheckpointPart,
  formatTag,
  parseCheckpointKey,
  parseSelector,
  selectCheckpoint,
} from '../checkpoint/naming';
import { stage } from '../checkpoint/store/common';
import type {
  DualCheckpointMeta,
  DualCheckpointStore,
  DualReadResult,
  RepairedCopy,
} from '../checkpoint/store/dual-store';
import { readTorchFile } from '../checkpoint/torch/index';
import { CONFIG_KEYS, DEFAULT_CONFIG, parseRenames, validateConfig, type RunConfig } from '../shared/config';
import { TrainerError, isNamed, toWireError } from '../shared/errors';
import type { RepairedCopyReport, RepairedEvent, WarmStartReport } from '../shared/progress';

export interface LoadedCheckpoint {
  meta: DualCheckpointMeta;
  model: { stateDict: Weights; meta?: ModelPartMeta };
  optim?: OptimPart;
  trainer?: TrainerPart;
  /** Newer checkpoints passed over because they failed verification, and why. */
  skipped: { tag: string; reason: string }[];
  /** Each part's verified bytes and which copies served or failed: repairCopies() does not read them again. */
  reads: Partial<Record<CheckpointPart, DualReadResult>>;
  /** The run's checkpoints as listed to choose this one: repairCopies() does not list them again. */
  listed: DualCheckpointMeta[];
}

/**
 * Told a candidate checkpoint's trainer part (small, so decoded first) while its larger parts are
 * still read: a resume starts building its dataset from the saved settings. The candidate may yet
 * fail verification and be passed over.
 */
export type OnTrainer = (trainer: TrainerPart, meta: DualCheckpointMeta) => void;

/** Reads and decodes the parts of one checkpoint; any damage is a named error. */
async function readCheckpoint(
  store: DualCheckpointStore,
  meta: DualCheckpointMeta,
  full: boolean,
  onTrainer?: OnTrainer,
): Promise<Omit<LoadedCheckpoint, 'skipped' | 'listed'>> {
  const has = (part: string) => meta.parts.some((p) => p.part === part);
  if (full && (!has('optim') || !has('trainer'))) {
    throw new TrainerError(
      'CheckpointNotFoundError',
      `${formatTag(meta.id.tag)} holds weights only; a resume needs its optim and trainer parts`,
    );
  }
  const reads: LoadedCheckpoint['reads'] = {};
  const decoded = async <T>(part: CheckpointPart, decode: (f: ReturnType<typeof readTorchFile>) => T) => {
    const read = await store.readWithSource(meta.key, part);
    reads[part] = read;
    // The store verified the bytes against the part's recorded checksum: no CRC-32 pass again.
    return stage('resume:parse', () => Promise.resolve(decode(readTorchFile(read.bytes, { checksummed: true }))));
  };
  // The small trainer part first, so that onTrainer's work (the dataset) overlaps the large reads;
  // those are read together: one part's verifying and decoding overlap the other's read.
  const trainer = full
    ? await decoded('trainer', (f) => {
        const t = decodeTrainerPart(f);
        onTrainer?.(t, meta);
        return t;
      })
    : undefined;
  const [model, optim] = await Promise.all([
    decoded('model', decodeModelPart),
    full ? decoded('optim', decodeOptimPart) : undefined,
  ]);
  if (!full) return { meta, model, reads };
  return { meta, model, optim, trainer, reads };
}

/**
 * Finds the checkpoint a selector names among a run's stage. For `latest`, a checkpoint that
 * fails verification is skipped for the newest one that passes (and the skip is reported); an
 * explicit tag or counter must verify or the resume is refused.
 */
export async function findCheckpoint(
  store: DualCheckpointStore,
  where: { runId: string; stageName?: string; modelName?: string; modelInfo?: string },
  selectorText: string,
  full: boolean,
  onTrainer?: OnTrainer,
): Promise<LoadedCheckpoint> {
  const listed = await stage('resume:list', () => store.list({ runId: where.runId, stageName: where.stageName }));
  const all = listed.filter(
    (m) =>
      m.id.stageName === (where.stageName || undefined) &&
      (where.modelName ? m.id.modelName === where.modelName : true) &&
      m.id.modelInfo === (where.modelInfo || undefined),
  );
  const place = `${where.runId}/${where.stageName ?? ''}`;
  if (all.length === 0) throw new TrainerError('CheckpointNotFoundError', `no checkpoints found for run ${place}`);
  const selector = parseSelector(selectorText);
  const isLatest = selector.kind === 'tag' && selector.tag.kind === 'latest';
  const chosen = selectCheckpoint(selector, all);
  if (!chosen)
    throw new TrainerError('CheckpointNotFoundError', `run ${place} has no checkpoint ${selectorText || 'latest'}`);
  const skipped: { tag: string; reason: string }[] = [];
  // For `latest`: the newest complete checkpoint, then older ones in turn. At equal counters the
  // periodic one comes first: it is written once and never replaced, while a `latest` whose
  // replacement failed (a full disk in one store) may be served from an older copy.
  const candidates = isLatest
    ? [chosen, ...all.filter((m) => m.id.tag.kind === 'periodic' && (!full || m.parts.length === 3))].sort(
        (a, b) => b.counters.update - a.counters.update || (a.id.tag.kind === 'periodic' ? -1 : 1),
      )
    : [chosen];
  for (const meta of candidates) {
    try {
      return { ...(await readCheckpoint(store, meta, full, onTrainer)), skipped, listed };
    } catch (e) {
      const damaged = [
        'ChecksumMismatchError',
        'CheckpointCorruptError',
        'CheckpointFormatError',
        'CheckpointNotFoundError',
      ].some((n) => isNamed(e, n as never));
      if (!damaged || !isLatest) throw e;
      skipped.push({ tag: formatTag(meta.id.tag), reason: (e as Error).message });
    }
  }
  throw new TrainerError(
    'CheckpointCorruptError',
    `every checkpoint of run ${place} failed verification: ${skipped.map((s) => `${s.tag}: ${s.reason}`).join('; ')}`,
  );
}

/**
 * After a resume chose its checkpoint: every copy of it is verified and a damaged or missing one
 * rewritten from an intact one, then checkpoints of the stage that one store lost (storage
 * cleared, a crash between the two stores' writes) are copied back from the other. Best effort:
 * a failure here (a full disk) is reported, never stops the resume.
 */
export async function repairCopies(
  store: DualCheckpointStore,
  meta: DualCheckpointMeta,
  loaded?: Pick<LoadedCheckpoint, 'reads' | 'listed'>,
): Promise<Omit<RepairedEvent, 'type'>> {
  const repaired: RepairedCopy[] = [];
  try {
    repaired.push(...(await store.repair(meta.key, loaded?.reads)));
    repaired.push(
      ...(await store.mirrorMissing(
        { outputDir: meta.id.outputDir, runId: meta.id.runId, stageName: meta.id.stageName },
        // The chosen checkpoint was just repaired: the listing made before that is stale for it.
        { listed: loaded?.listed.filter((m) => m.key !== meta.key) },
      )),
    );
  } catch (e) {
    return { repaired: repaired.map(describeRepair), failure: toWireError(e) };
  }
  return { repaired: repaired.map(describeRepair) };
}

function describeRepair(r: RepairedCopy): RepairedCopyReport {
  const id = parseCheckpointKey(r.key);
  return { tag: (id.modelInfo ? `${id.modelInfo} ` : '') + formatTag(id.tag), store: r.store, error: r.error };
}

/** Settings a continued run may change (OpenNMT's `-continue` rules); everything else comes from the checkpoint. */
const MAY_CHANGE: readonly (keyof RunConfig)[] = [
  'epochs',
  'batch_size',
  'dropout',
  'backend',
  'eval_every',
  'stores',
  'save_every',
  'save_every_samples',
  'save_every_epochs',
  'save_every_seconds',
  'save_at_epoch_end',
  'checkpoint_after',
  'keep_checkpoint',
  'resume_run_id',
  'resume_stage_name',
  'resume_checkpoint',
  'reset_optim',
  'run_id',
  'stage_name',
];

/** Settings that fix the model's topology or data: a resume that changes one is refused. */
const TOPOLOGY: readonly (keyof RunConfig)[] = [
  'task',
  'model',
  'context',
  'embed',
  'hidden',
  'layers',
  'heads',
  'tie_weights',
  'ngram_min',
  'ngram_max',
  'hash_buckets',
  'val_fraction',
  'seed',
];

/**
 * The run a resume continues: the checkpoint's settings, with the few a user may change taken
 * from the request. A requested topology setting that differs from the checkpoint's (and is not
 * just the form's default) is refused with TopologyMismatchError listing every difference.
 */
export function continueConfig(saved: Record<string, unknown>, requested: RunConfig): RunConfig {
  const base = validateConfig(saved).config;
  const diffs: string[] = [];
  for (const key of CONFIG_KEYS) {
    const want = requested[key];
    if (TOPOLOGY.includes(key) && want !== base[key] && want !== DEFAULT_CONFIG[key]) {
      diffs.push(`${key}: checkpoint ${JSON.stringify(base[key])}, requested ${JSON.stringify(want)}`);
    }
  }
  if (diffs.length > 0) {
    throw new TrainerError(
      'TopologyMismatchError',
      `a resumed run keeps its model and data; these differ: ${diffs.join('; ')}`,
    );
  }
  const merged: RunConfig = { ...base };
  // Copies one field by a key from a list; TS cannot tie the dynamic key to the field's type.
  for (const key of MAY_CHANGE)
    if (key in requested) (merged as unknown as Record<string, unknown>)[key] = requested[key];
  // OpenNMT-py: keep_states and all take the new run's learning rate and schedule.
  if (requested.reset_optim !== 'none') {
    merged.lr = requested.lr;
    merged.schedule = requested.schedule;
    merged.warmup = requested.warmup;
    merged.optimizer = requested.reset_optim === 'all' ? requested.optimizer : base.optimizer;
  }
  if (requested.epochs < base.epochs) merged.epochs = base.epochs;
  return merged;
}

/** Compares the saved model config with the one this run builds; lists every difference. */
export function checkTopology(saved: Record<string, unknown>, current: Record<string, unknown>): void {
  const keys = new Set([...Object.keys(saved), ...Object.keys(current)]);
  const diffs: string[] = [];
  for (const key of keys) {
    const a = JSON.stringify(saved[key]);
    const b = JSON.stringify(current[key]);
    if (a !== b) diffs.push(key === 'vocabulary' ? 'vocabulary differs' : `${key}: checkpoint ${a}, this run ${b}`);
  }
  if (diffs.length > 0)
    throw new TrainerError(
      'TopologyMismatchError',
      `the checkpoint's model does not fit this run: ${diffs.join('; ')}`,
    );
}

/**
 * Matches checkpoint weights to the model's parameters by name, after removing and renaming keys
 * by pattern. Strict mode refuses any mismatch; otherwise the report says what was left out.
 */
export function matchWeights(
  weights: Weights,
  shapes: Record<string, number[]>,
  opts: { rename: string; remove: string; strict: boolean },
): { matched: Weights; report: WarmStartReport } {
  const renames = parseRenames(opts.rename);
  const removePattern = opts.remove ? new RegExp(opts.remove) : null;
  const report: WarmStartReport = { loaded: [], missing: [], extra: [], wrongShape: [], renamed: [], removed: [] };
  const byName: Weights = new Map();
  for (const [original, w] of weights) {
    if (removePattern?.test(original)) {
      report.removed.push(original);
      continue;
    }
    let name = original;
    for (const r of renames) name = name.replace(r.pattern, r.replacement);
    if (name !== original) report.renamed.push({ from: original, to: name });
    byName.set(name, w);
  }
  const matched: Weights = new Map();
  for (const [name, shape] of Object.entries(shapes)) {
    const w = byName.get(name);
    if (!w) report.missing.push(name);
    else if (w.shape.join('x') !== shape.join('x')) report.wrongShape.push({ name, checkpoint: w.shape, model: shape });
    else {
      matched.set(name, w);
      report.loaded.push(name);
    }
  }
  for (const name of byName.keys()) if (!(name in shapes)) report.extra.push(name);
  if (opts.strict && (report.missing.length || report.extra.length || report.wrongShape.length)) {
    const parts = [
      report.missing.length ? `missing: ${report.missing.join(', ')}` : '',
      report.extra.length ? `unexpected: ${report.extra.join(', ')}` : '',
      report.wrongShape.length
        ? `wrong shape: ${report.wrongShape.map((s) => `${s.name} [${s.checkpoint}] vs [${s.model}]`).join(', ')}`
        : '',
    ].filter(Boolean);
    throw new TrainerError('ShapeMismatchError', `strict warm start refused: ${parts.join('; ')}`);
  }
  return { matched, report };
}
