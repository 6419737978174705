/**
 * Checkpoint names: format and parse
 *
 *     <output_dir>/<run_id>/<stage_name>/checkpoints/{model_name}_{model_info}_cp={checkpoint}_{part}.th
 *
 * (see shared/design/CHECKPOINTS.md; the names are a promise to users). Every name this module
 * formats parses back to the same id, and every name it parses formats back to the same string
 * (after the documented import normalisations), so a path is a key in OPFS and IndexedDB alike.
 *
 * Rules chosen so that parsing is unambiguous (a name breaking one is refused with
 * CheckpointNameError saying which rule):
 * - output_dir, run_id and stage_name are single path segments of 1..128 characters from
 *   `A-Z a-z 0-9 . _ -`, starting with a letter or digit (no hidden or option-like names), with
 *   no `..`. A stage may not be named `checkpoints` (it would share the stage-less folder).
 *   output_dir is one segment so that the optional stage can be told from the segment count.
 * - model_name: 1..128 characters from `A-Z a-z 0-9 . -`, starting with a letter or digit, no
 *   `..`: no `_`, because `_` separates it from model_info, and no `=`.
 * - model_info: `_`-separated non-empty fields of `A-Z a-z 0-9 . = -`, 1..128 characters, no
 *   `..`, and no field starting with `cp=` (that would make `_cp=` ambiguous).
 * - metric names (in `best.{metric}`): 1..64 characters from `A-Z a-z 0-9 . _ -` once `/` has
 *   become `.`, starting with a letter or digit, no `..`.
 * - counters in `E{e}_U{u}_S{s}` are canonical decimal safe integers (no sign, no leading zero).
 * - the file name is at most 255 characters (the common file-system limit).
 */
import { TrainerError } from '../shared/errors';

/** Which checkpoint of a model: a periodic one, the rolling `latest`, the stage's `last`, or a best. */
export type CheckpointTag =
  | { kind: 'periodic'; epoch: number; update: number; sample: number }
  | { kind: 'latest' }
  | { kind: 'last' }
  | { kind: 'best'; metric: string };

export const CHECKPOINT_PARTS = ['model', 'optim', 'trainer'] as const;
/** `model` (weights and config), `optim` (optimizer state) or `trainer` (counters, RNG, cursor...). */
export type CheckpointPart = (typeof CHECKPOINT_PARTS)[number];

/** Everything a checkpoint's path says, except the part. */
export interface CheckpointId {
  outputDir: string;
  runId: string;
  stageName?: string;
  modelName: string;
  modelInfo?: string;
  tag: CheckpointTag;
}

/** The folder every output lives under unless a run says otherwise. */
export const DEFAULT_OUTPUT_DIR = 'runs';
/** The fixed folder name that holds a stage's (or a stage-less run's) checkpoints. */
export const CHECKPOINTS_DIR = 'checkpoints';

const MAX_SEGMENT = 128;
const MAX_METRIC = 64;
const MAX_FILE_NAME = 255;
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;
const INFO_FIELD_RE = /^[A-Za-z0-9.=-]+$/;
const METRIC_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COUNTER_RE = /^(0|[1-9][0-9]*)$/;

function refuse(what: string, value: string, reason: string): never {
  throw new TrainerError('CheckpointNameError', `Invalid ${what} ${JSON.stringify(value)}: ${reason}.`);
}

function checkCommon(what: string, value: string, max: number): void {
  if (typeof value !== 'string' || value.length === 0) refuse(what, String(value ?? ''), 'it is empty');
  if (value.length > max) refuse(what, value, `it is longer than ${max} characters`);
  if (value.includes('/')) refuse(what, value, 'it contains "/"');
  if (value.includes('..')) refuse(what, value, 'it contains ".."');
}

function checkSegment(what: string, value: string): void {
  checkCommon(what, value, MAX_SEGMENT);
  if (!SEGMENT_RE.test(value)) {
    refuse(what, value, 'use only letters, digits, ".", "_" and "-", starting with a letter or digit');
  }
}

/** Refuses (CheckpointNameError) an output_dir that is not one safe path segment. */
export function validateOutputDir(value: string): void {
  checkSegment('output_dir', value);
}

/** Refuses (CheckpointNameError) a run id that is not one safe path segment. */
export function validateRunId(value: string): void {
  checkSegment('run_id', value);
}

/** Refuses (CheckpointNameError) a stage name that is not one safe path segment. */
export function validateStageName(value: string): void {
  checkSegment('stage_name', value);
  if (value === CHECKPOINTS_DIR)
    refuse('stage_name', value, `"${CHECKPOINTS_DIR}" is reserved for the checkpoint folder`);
}

/** Refuses (CheckpointNameError) a model name that would make the file name ambiguous. */
export function validateModelName(value: string): void {
  checkCommon('model_name', value, MAX_SEGMENT);
  if (value.includes('_'))
    refuse('model_name', value, 'it contains "_", which separates the model name from model_info');
  if (value.includes('=')) refuse('model_name', value, 'it contains "=", which only model_info may use');
  if (!MODEL_NAME_RE.test(value)) {
    refuse('model_name', value, 'use only letters, digits, "." and "-", starting with a letter or digit');
  }
}

/** Refuses (CheckpointNameError) a model_info that would make the file name ambiguous. */
export function validateModelInfo(value: string): void {
  checkCommon('model_info', value, MAX_SEGMENT);
  for (const field of value.split('_')) {
    if (field.length === 0) refuse('model_info', value, 'it has an empty "_"-separated field');
    if (!INFO_FIELD_RE.test(field)) refuse('model_info', value, 'use only letters, digits, ".", "=", "-" and "_"');
    if (field.startsWith('cp='))
      refuse('model_info', value, 'a field starting with "cp=" would be read as the checkpoint tag');
  }
}

/** Turns a metric name into its tag form (`val/loss` → `val.loss`) and refuses one that cannot be named. */
export function normalizeMetric(metric: string): string {
  const m = typeof metric === 'string' ? metric.replaceAll('/', '.') : metric;
  checkCommon('metric', m, MAX_METRIC);
  if (!METRIC_RE.test(m))
    refuse('metric', m, 'use only letters, digits, "/", ".", "_" and "-", starting with a letter or digit');
  return m;
}

function checkCounter(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) refuse(what, String(n), 'it must be a non-negative safe integer');
}

/** Tag helpers, so callers need not spell the union by hand. */
export const tags = {
  periodic: (epoch: number, update: number, sample: number): CheckpointTag => ({
    kind: 'periodic',
    epoch,
    update,
    sample,
  }),
  /** The periodic tag of a save made at these counters. */
  at: (c: { epoch: number; update: number; sample: number }): CheckpointTag => ({
    kind: 'periodic',
    epoch: c.epoch,
    update: c.update,
    sample: c.sample,
  }),
  latest: (): CheckpointTag => ({ kind: 'latest' }),
  last: (): CheckpointTag => ({ kind: 'last' }),
  best: (metric: string): CheckpointTag => ({ kind: 'best', metric: normalizeMetric(metric) }),
};

/** `E10_U100_S200`, `latest`, `last` or `best.{metric}` (a `/` in the metric becomes `.`). */
export function formatTag(tag: CheckpointTag): string {
  switch (tag.kind) {
    case 'periodic':
      checkCounter('epoch', tag.epoch);
      checkCounter('update', tag.update);
      checkCounter('sample', tag.sample);
      return `E${tag.epoch}_U${tag.update}_S${tag.sample}`;
    case 'latest':
      return 'latest';
    case 'last':
      return 'last';
    case 'best':
      return `best.${normalizeMetric(tag.metric)}`;
    default:
      return refuse('checkpoint tag', JSON.stringify(tag), 'unknown kind');
  }
}

function parseCounter(what: string, text: string, whole: string): number {
  if (!COUNTER_RE.test(text)) refuse('checkpoint tag', whole, `the ${what} count is not a canonical decimal number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) refuse('checkpoint tag', whole, `the ${what} count is too large`);
  return n;
}

/**
 * Parses a tag. Also accepts Noether's `best_model.{metric}` (normalised to `best.{metric}`).
 */
export function parseTag(text: string): CheckpointTag {
  if (typeof text !== 'string' || text.length === 0) refuse('checkpoint tag', String(text ?? ''), 'it is empty');
  if (text === 'latest') return { kind: 'latest' };
  if (text === 'last') return { kind: 'last' };
  for (const prefix of ['best.', 'best_model.']) {
    if (text.startsWith(prefix)) return { kind: 'best', metric: normalizeMetric(text.slice(prefix.length)) };
  }
  const m = /^E([^_]*)_U([^_]*)_S([^_]*)$/.exec(text);
  if (m) {
    return {
      kind: 'periodic',
      epoch: parseCounter('epoch', m[1], text),
      update: parseCounter('update', m[2], text),
      sample: parseCounter('sample', m[3], text),
    };
  }
  return refuse('checkpoint tag', text, 'expected E{epoch}_U{update}_S{sample}, latest, last or best.{metric}');
}

/** Refuses (CheckpointNameError) any id whose path would not parse back to it. */
export function validateCheckpointId(id: CheckpointId): void {
  validateOutputDir(id.outputDir);
  validateRunId(id.runId);
  if (id.stageName !== undefined) validateStageName(id.stageName);
  validateModelName(id.modelName);
  if (id.modelInfo !== undefined) validateModelInfo(id.modelInfo);
  formatTag(id.tag);
}

function fileStem(id: CheckpointId): string {
  validateCheckpointId(id);
  const info = id.modelInfo !== undefined ? `_${id.modelInfo}` : '';
  return `${id.modelName}${info}_cp=${formatTag(id.tag)}`;
}

/** The folder holding the checkpoint: `<output_dir>/<run_id>[/<stage_name>]/checkpoints`. */
export function checkpointDir(id: Pick<CheckpointId, 'outputDir' | 'runId' | 'stageName'>): string {
  validateOutputDir(id.outputDir);
  validateRunId(id.runId);
  if (id.stageName !== undefined) validateStageName(id.stageName);
  const stage = id.stageName !== undefined ? `${id.stageName}/` : '';
  return `${id.outputDir}/${id.runId}/${stage}${CHECKPOINTS_DIR}`;
}

/** `{model_name}[_{model_info}]_cp={tag}_{part}.th`. */
export function checkpointFileName(id: CheckpointId, part: CheckpointPart): string {
  if (!(CHECKPOINT_PARTS as readonly string[]).includes(part))
    refuse('part', String(part), 'expected model, optim or trainer');
  const name = `${fileStem(id)}_${part}.th`;
  if (name.length > MAX_FILE_NAME) refuse('file name', name, `it is longer than ${MAX_FILE_NAME} characters`);
  return name;
}

/** The full path of one part; also its key in IndexedDB. */
export function checkpointPath(id: CheckpointId, part: CheckpointPart): string {
  return `${checkpointDir(id)}/${checkpointFileName(id, part)}`;
}

/** The path without `_{part}.th`: names the checkpoint as a whole, grouping its parts. */
export function checkpointKey(id: CheckpointId): string {
  // Checked through the longest part name so a key always has formattable part paths.
  checkpointFileName(id, 'trainer');
  return `${checkpointDir(id)}/${fileStem(id)}`;
}

interface ParsedStem {
  modelName: string;
  modelInfo?: string;
  tag: CheckpointTag;
}

function normalizeInfo(info: string): string {
  // Noether writes EMA weights as `ema=0.9999`; the contract's name is `ema_factor=0.9999`.
  return info
    .split('_')
    .map((f) => (f.startsWith('ema=') ? `ema_factor=${f.slice(4)}` : f))
    .join('_');
}

function parseStem(stem: string, whole: string): ParsedStem {
  const at = stem.indexOf('_cp=');
  if (at < 0) refuse('checkpoint file name', whole, 'it has no "_cp="');
  if (stem.indexOf('_cp=', at + 1) >= 0) refuse('checkpoint file name', whole, 'it has more than one "_cp="');
  const head = stem.slice(0, at);
  const tag = parseTag(stem.slice(at + 4));
  const us = head.indexOf('_');
  const modelName = us < 0 ? head : head.slice(0, us);
  validateModelName(modelName);
  if (us < 0) return { modelName, tag };
  const modelInfo = normalizeInfo(head.slice(us + 1));
  validateModelInfo(modelInfo);
  return { modelName, modelInfo, tag };
}

function parseDir(segments: string[], whole: string): Pick<CheckpointId, 'outputDir' | 'runId' | 'stageName'> {
  if (segments.some((s) => s.length === 0)) refuse('checkpoint path', whole, 'it has an empty segment');
  if (segments[segments.length - 1] !== CHECKPOINTS_DIR) {
    refuse('checkpoint path', whole, `the file must sit in a "${CHECKPOINTS_DIR}" folder`);
  }
  if (segments.length === 3) {
    const [outputDir, runId] = segments;
    validateOutputDir(outputDir);
    validateRunId(runId);
    return { outputDir, runId };
  }
  if (segments.length === 4) {
    const [outputDir, runId, stageName] = segments;
    validateOutputDir(outputDir);
    validateRunId(runId);
    validateStageName(stageName);
    return { outputDir, runId, stageName };
  }
  return refuse('checkpoint path', whole, 'expected <output_dir>/<run_id>[/<stage_name>]/checkpoints/<file>');
}

function assemble(dir: Pick<CheckpointId, 'outputDir' | 'runId' | 'stageName'>, stem: ParsedStem): CheckpointId {
  // Optional fields are left out rather than set to undefined, so ids compare with toEqual.
  return {
    outputDir: dir.outputDir,
    runId: dir.runId,
    ...(dir.stageName !== undefined ? { stageName: dir.stageName } : {}),
    modelName: stem.modelName,
    ...(stem.modelInfo !== undefined ? { modelInfo: stem.modelInfo } : {}),
    tag: stem.tag,
  };
}

/** Parses `{model_name}[_{model_info}]_cp={tag}_{part}.th` (no folders). */
export function parseCheckpointFileName(name: string): {
  modelName: string;
  modelInfo?: string;
  tag: CheckpointTag;
  part: CheckpointPart;
} {
  if (typeof name !== 'string' || !name.endsWith('.th'))
    refuse('checkpoint file name', String(name), 'it does not end in ".th"');
  if (name.includes('/')) refuse('checkpoint file name', name, 'it contains "/"');
  const body = name.slice(0, -3);
  const us = body.lastIndexOf('_');
  const part = body.slice(us + 1);
  if (us < 0 || !(CHECKPOINT_PARTS as readonly string[]).includes(part)) {
    refuse('checkpoint file name', name, 'it does not end in _model.th, _optim.th or _trainer.th');
  }
  return { ...parseStem(body.slice(0, us), name), part: part as CheckpointPart };
}

/** Parses a part's full path back into its id and part (the inverse of checkpointPath). */
export function parseCheckpointPath(path: string): { id: CheckpointId; part: CheckpointPart } {
  if (typeof path !== 'string') refuse('checkpoint path', String(path), 'it is not a string');
  const segments = path.split('/');
  const file = segments.pop() as string;
  const { part, ...stem } = parseCheckpointFileName(file);
  return { id: assemble(parseDir(segments, path), stem), part };
}

/** Parses a checkpoint key (a path without `_{part}.th`) back into its id. */
export function parseCheckpointKey(key: string): CheckpointId {
  if (typeof key !== 'string') refuse('checkpoint key', String(key), 'it is not a string');
  const segments = key.split('/');
  const stem = segments.pop() as string;
  return assemble(parseDir(segments, key), parseStem(stem, key));
}

/** How a user names the checkpoint to resume from. */
export type CheckpointSelector =
  { kind: 'tag'; tag: CheckpointTag } | { kind: 'counter'; counter: 'epoch' | 'update' | 'sample'; value: number };

/**
 * Parses a resume selector: `E10`, `U100`, `S200` (one counter), or a full tag (`latest`, `last`,
 * `best.loss`, `E1_U2_S3`). An empty or missing selector means `latest`.
 */
export function parseSelector(text: string | undefined): CheckpointSelector {
  if (text === undefined || text.trim() === '') return { kind: 'tag', tag: { kind: 'latest' } };
  const t = text.trim();
  const m = /^([EUS])([0-9]+)$/.exec(t);
  if (m) {
    const counter = m[1] === 'E' ? 'epoch' : m[1] === 'U' ? 'update' : 'sample';
    return { kind: 'counter', counter, value: parseCounter(counter, m[2], t) };
  }
  try {
    return { kind: 'tag', tag: parseTag(t) };
  } catch {
    return refuse('resume selector', t, 'expected E{n}, U{n}, S{n}, latest, last, best.{metric} or E{e}_U{u}_S{s}');
  }
}

function sameTag(a: CheckpointTag, b: CheckpointTag): boolean {
  return formatTag(a) === formatTag(b);
}

/**
 * Picks the candidate a selector names, or undefined. A counter selector matches periodic
 * checkpoints whose counter equals the number; of several, the newest by update wins. Pass the
 * candidates of one model (same run, stage, model name and info); the chosen tag then names the
 * same checkpoint of the run's other models.
 */
export function selectCheckpoint<T extends { id: CheckpointId }>(
  selector: CheckpointSelector,
  candidates: readonly T[],
): T | undefined {
  if (selector.kind === 'tag') return candidates.find((c) => sameTag(c.id.tag, selector.tag));
  let best: T | undefined;
  let bestUpdate = -1;
  for (const c of candidates) {
    const tag = c.id.tag;
    if (tag.kind !== 'periodic' || tag[selector.counter] !== selector.value) continue;
    if (tag.update > bestUpdate) {
      best = c;
      bestUpdate = tag.update;
    }
  }
  return best;
}
