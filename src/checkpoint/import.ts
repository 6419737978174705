/**
 * Importing checkpoint files: `.th` files, a `.zip` the app exported, or a folder of them. Every
 * file is read and checked (its name under the naming scheme, the PyTorch format and CRCs, the
 * decoded contents, the model config against a model this app knows) before anything is
 * written; one bad file refuses the whole import, so nothing already stored changes. Nothing is
 * executed: the reader accepts only what a state dict needs.
 *
 * A plain `torch.save(model.state_dict())` that this app did not write is accepted too, under
 * the run `imported` with tag `last` and a model name made from its file name: good for a warm
 * start (matched by name, with the report), not for a resume.
 *
 * A run's history rides along: `run.json` in a run folder and `metrics.jsonl` in a stage folder
 * (where export.ts puts them, beside `checkpoints/`) are read when the import holds checkpoints of
 * that run and stage; their bad lines are skipped and counted, never a reason to refuse. A history
 * file with no checkpoint beside it is passed over (listed in `skipped`).
 *
 * Plain data in, plain data out (no DOM, no tfjs): the page checks shapes through `shapesFor`.
 */
import { TrainerError, toWireError, type WireError } from '../shared/errors';
import {
  DEFAULT_OUTPUT_DIR,
  type CheckpointId,
  type CheckpointPart,
  checkpointKey,
  formatTag,
  parseCheckpointFileName,
  tags,
} from './naming';
import {
  decodeModelPart,
  decodeOptimPart,
  decodeTrainerPart,
  type ModelPartMeta,
  type OptimPart,
  type TrainerPart,
  type Weights,
} from './contents';
import type { CheckpointParts, Counters } from './store/types';
import type { CheckpointStore } from './store/types';
import { readTorchFile, readZip } from './torch/index';
import {
  LOG_FILE_NAME,
  MAX_LOG_BYTES,
  RUN_RECORD_FILE_NAME,
  parseLog,
  parseRunRecord,
  type LogEntry,
  type RunRecord,
} from './run-log';
import type { RunRecordStore } from './run-record-store';

/** One file as the user gave it: its relative path (folder pick, zip entry) or bare name. */
export interface ImportSource {
  path: string;
  bytes: Uint8Array;
}

/** The parameter names and shapes of the model a config builds; throws for a config this app does not know. */
export type ShapesFor = (modelConfig: ModelPartMeta['modelConfig']) => Promise<Record<string, number[]>>;

export interface ImportItem {
  id: CheckpointId;
  key: string;
  parts: CheckpointParts;
  counters: Counters;
  /** A bare state_dict this app did not write: warm start only. */
  plain: boolean;
  files: string[];
}

export interface ImportRefusal {
  file: string;
  error: WireError;
}

/** A stage's metrics log found beside its checkpoints. */
export interface ImportLog {
  file: string;
  outputDir: string;
  runId: string;
  stageName?: string;
  entries: LogEntry[];
  /** Lines that were not valid entries: skipped. */
  skippedLines: number;
}

export interface ImportPlan {
  items: ImportItem[];
  refused: ImportRefusal[];
  /** Files passed over without a check (hidden files, zip folder entries, history with no checkpoint beside it). */
  skipped: string[];
  logs: ImportLog[];
  records: { file: string; record: RunRecord }[];
}

/** A history file (run.json, metrics.jsonl) before it is matched to the checkpoints beside it. */
interface HistorySource {
  path: string;
  bytes: Uint8Array;
}

const isHistoryFile = (name: string) => name === LOG_FILE_NAME || name === RUN_RECORD_FILE_NAME;

/** The run that plain state dicts are stored under. */
export const IMPORT_RUN_ID = 'imported';
/** A file larger than this is refused before it is read (the app's checkpoints are far smaller). */
export const MAX_IMPORT_BYTES = 2 * 1024 ** 3;

function refuse(name: ConstructorParameters<typeof TrainerError>[0], message: string): never {
  throw new TrainerError(name, message);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** A model name (`[A-Za-z0-9.-]`, starting with a letter or digit) made from any file name. */
export function modelNameFromFile(fileName: string): string {
  const stem = fileName.replace(/\.(th|pt|pth|bin)$/i, '');
  const name = stem
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 100);
  return name || 'model';
}

/** Opens `.zip` exports into their `.th` entries; other files pass through. */
function expand(sources: readonly ImportSource[], plan: ImportPlan, history: HistorySource[]): ImportSource[] {
  const out: ImportSource[] = [];
  for (const s of sources) {
    const name = baseName(s.path);
    if (name.startsWith('.')) {
      plan.skipped.push(s.path);
      continue;
    }
    try {
      if (s.bytes.byteLength > MAX_IMPORT_BYTES)
        refuse(
          'CheckpointFormatError',
          `it is ${s.bytes.byteLength} bytes, over the ${MAX_IMPORT_BYTES}-byte import limit`,
        );
      if (/\.zip$/i.test(name)) {
        const zip = readZip(s.bytes);
        let found = 0;
        for (const entry of zip.names()) {
          if (entry.endsWith('/') || baseName(entry).startsWith('.')) {
            plan.skipped.push(`${s.path}: ${entry}`);
            continue;
          }
          if (isHistoryFile(baseName(entry))) {
            history.push({ path: `${s.path}:${entry}`, bytes: zip.read(entry) });
            continue;
          }
          if (!entry.endsWith('.th'))
            refuse('CheckpointNameError', `the zip holds ${entry}, which is not a .th checkpoint file`);
          out.push({ path: `${s.path}:${entry}`, bytes: zip.read(entry) });
          found++;
        }
        if (found === 0) refuse('CheckpointFormatError', 'the zip holds no .th checkpoint files');
      } else if (name.endsWith('.th')) {
        out.push(s);
      } else if (isHistoryFile(name)) {
        history.push(s);
      } else {
        refuse('CheckpointNameError', 'only .th checkpoint files and .zip exports can be imported');
      }
    } catch (e) {
      plan.refused.push({ file: s.path, error: toWireError(e) });
    }
  }
  return out;
}

interface ReadFile {
  path: string;
  bytes: Uint8Array;
  /** Undefined for a plain state_dict whose name does not follow the scheme. */
  parsed?: ReturnType<typeof parseCheckpointFileName>;
  model?: { stateDict: Weights; meta?: ModelPartMeta };
  optim?: OptimPart;
  trainer?: TrainerPart;
}

function readOne(s: ImportSource): ReadFile {
  const name = baseName(s.path);
  if (s.bytes.byteLength === 0) refuse('CheckpointFormatError', 'the file is empty');
  const value = readTorchFile(s.bytes);
  if (!name.includes('_cp=')) {
    // Not named by the scheme: only a bare state_dict from elsewhere is welcome.
    const model = (() => {
      try {
        return decodeModelPart(value);
      } catch {
        return undefined;
      }
    })();
    if (!model || model.meta) {
      refuse(
        'CheckpointNameError',
        `"${name}" does not follow the naming scheme {model}_cp={tag}_{part}.th, and it is not a plain PyTorch state_dict`,
      );
    }
    return { path: s.path, bytes: s.bytes, model };
  }
  const parsed = parseCheckpointFileName(name);
  const out: ReadFile = { path: s.path, bytes: s.bytes, parsed };
  if (parsed.part === 'model') out.model = decodeModelPart(value);
  else if (parsed.part === 'optim') out.optim = decodeOptimPart(value);
  else out.trainer = decodeTrainerPart(value);
  return out;
}

const sameCounters = (a: Counters, b: Counters) =>
  a.epoch === b.epoch && a.update === b.update && a.sample === b.sample;
const fmt = (c: Counters) => formatTag(tags.at(c));

function listDiffs(diffs: string[]): string {
  return diffs.length > 6 ? `${diffs.slice(0, 6).join('; ')}; and ${diffs.length - 6} more` : diffs.join('; ');
}

/** Checks the weights against the model their config builds: same names, same shapes. */
async function checkModel(stateDict: Weights, meta: ModelPartMeta, shapesFor: ShapesFor): Promise<void> {
  let shapes: Record<string, number[]>;
  try {
    shapes = await shapesFor(meta.modelConfig);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    refuse(
      'CheckpointFormatError',
      `its model_config (kind ${JSON.stringify(meta.modelConfig.kind)}) is not a model this app knows: ${why}`,
    );
  }
  const diffs: string[] = [];
  for (const [name, shape] of Object.entries(shapes)) {
    const w = stateDict.get(name);
    if (!w) diffs.push(`missing ${name}`);
    else if (w.shape.join('x') !== shape.join('x')) diffs.push(`${name} is [${w.shape}], the model needs [${shape}]`);
  }
  for (const name of stateDict.keys()) if (!(name in shapes)) diffs.push(`unexpected ${name}`);
  if (diffs.length)
    refuse(
      'ShapeMismatchError',
      `its weights do not fit the ${JSON.stringify(meta.modelConfig.kind)} model its config describes: ${listDiffs(diffs)}`,
    );
}

function checkOptim(optim: OptimPart, stateDict: Weights): void {
  const diffs: string[] = [];
  for (const name of optim.paramNames) if (!stateDict.has(name)) diffs.push(`state for unknown parameter ${name}`);
  for (const [name, slots] of optim.slots) {
    const w = stateDict.get(name);
    for (const [slot, t] of Object.entries(slots)) {
      if (w && t.shape.join('x') !== w.shape.join('x'))
        diffs.push(`${name}.${slot} is [${t.shape}], the parameter [${w.shape}]`);
    }
  }
  if (diffs.length) refuse('ShapeMismatchError', `the optimizer state does not fit the model: ${listDiffs(diffs)}`);
}

/**
 * Reads and checks every file; returns what would be written. When `refused` is not empty the
 * caller writes nothing (applyImport refuses such a plan).
 */
export async function planImport(
  sources: readonly ImportSource[],
  opts: { shapesFor: ShapesFor; outputDir?: string; importRunId?: string },
): Promise<ImportPlan> {
  const plan: ImportPlan = { items: [], refused: [], skipped: [], logs: [], records: [] };
  const outputDir = opts.outputDir ?? DEFAULT_OUTPUT_DIR;
  const files: ReadFile[] = [];
  const history: HistorySource[] = [];
  for (const s of expand(sources, plan, history)) {
    try {
      files.push(readOne(s));
    } catch (e) {
      plan.refused.push({ file: s.path, error: toWireError(e) });
    }
  }

  // Parts of one checkpoint sit in one folder under one stem.
  const groups = new Map<string, ReadFile[]>();
  for (const f of files) {
    const stem = f.parsed ? baseName(f.path).slice(0, -`_${f.parsed.part}.th`.length) : baseName(f.path);
    const k = `${dirName(f.path)}/${stem}`;
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }

  const keys = new Map<string, string>();
  for (const group of groups.values()) {
    const names = group.map((f) => f.path);
    try {
      const item = await checkGroup(group, outputDir, opts);
      const other = keys.get(item.key);
      if (other)
        refuse('ImportConflictError', `it is the same checkpoint (${item.key}) as ${other}; import one of them`);
      keys.set(item.key, names.join(', '));
      plan.items.push(item);
    } catch (e) {
      const error = toWireError(e);
      for (const file of names) plan.refused.push({ file, error });
    }
  }
  attachHistory(plan, history);
  return plan;
}

/** Matches each history file to the checkpoints beside it: a log to the stage folder, a record to the run folder. */
function attachHistory(plan: ImportPlan, history: readonly HistorySource[]): void {
  const stages = new Map<string, ImportItem>();
  const runs = new Map<string, ImportItem>();
  for (const item of plan.items) {
    if (item.plain) continue;
    for (const f of item.files) {
      const stageDir = dirName(dirName(f)); // <…>/<run>[/<stage>]/checkpoints/<file>
      stages.set(stageDir, item);
      runs.set(item.id.stageName !== undefined ? dirName(stageDir) : stageDir, item);
    }
  }
  const text = (b: Uint8Array) => new TextDecoder('utf-8', { fatal: false }).decode(b);
  for (const h of history) {
    const dir = dirName(h.path);
    if (h.bytes.byteLength > MAX_LOG_BYTES * 4) {
      plan.skipped.push(`${h.path} (${h.bytes.byteLength} bytes, over the history size limit)`);
      continue;
    }
    if (baseName(h.path) === LOG_FILE_NAME) {
      const item = stages.get(dir);
      if (!item) {
        plan.skipped.push(`${h.path} (no checkpoint of its stage in this import)`);
        continue;
      }
      const parsed = parseLog(text(h.bytes));
      plan.logs.push({
        file: h.path,
        outputDir: item.id.outputDir,
        runId: item.id.runId,
        ...(item.id.stageName !== undefined ? { stageName: item.id.stageName } : {}),
        entries: parsed.entries,
        skippedLines: parsed.skipped,
      });
    } else {
      const item = runs.get(dir);
      let record: RunRecord | null;
      try {
        record = item ? parseRunRecord(JSON.parse(text(h.bytes)), item.id.outputDir, item.id.runId) : null;
      } catch {
        record = null;
      }
      if (!item || !record) {
        plan.skipped.push(`${h.path} (${item ? 'not a run record' : 'no checkpoint of its run in this import'})`);
        continue;
      }
      plan.records.push({ file: h.path, record });
    }
  }
}

async function checkGroup(
  group: ReadFile[],
  outputDir: string,
  opts: { shapesFor: ShapesFor; importRunId?: string },
): Promise<ImportItem> {
  const byPart = new Map<CheckpointPart | 'plain', ReadFile>();
  for (const f of group) {
    const part = f.parsed?.part ?? 'plain';
    if (byPart.has(part)) refuse('ImportConflictError', `two ${part} files for one checkpoint`);
    byPart.set(part, f);
  }
  const files = group.map((f) => f.path);
  const plainFile = byPart.get('plain');
  if (plainFile) {
    const id: CheckpointId = {
      outputDir,
      runId: opts.importRunId ?? IMPORT_RUN_ID,
      modelName: modelNameFromFile(baseName(plainFile.path)),
      tag: tags.last(),
    };
    return {
      id,
      key: checkpointKey(id),
      parts: { model: [plainFile.bytes] },
      counters: { epoch: 0, update: 0, sample: 0 },
      plain: true,
      files,
    };
  }
  const modelFile = byPart.get('model');
  if (!modelFile?.model)
    refuse(
      'CheckpointFormatError',
      'the checkpoint has no _model.th part (its weights); optimizer or trainer state alone cannot be used',
    );
  const parsed = modelFile.parsed!;
  const meta = modelFile.model.meta;
  const optim = byPart.get('optim')?.optim;
  const trainer = byPart.get('trainer')?.trainer;
  if (!meta) {
    // Named by the scheme but a bare state_dict (someone saved one under our naming): weights only.
    if (optim || trainer)
      refuse(
        'CheckpointFormatError',
        'its model part is a bare state_dict without the run and counters that its optim and trainer parts need',
      );
    const id: CheckpointId = {
      outputDir,
      runId: opts.importRunId ?? IMPORT_RUN_ID,
      modelName: parsed.modelName,
      modelInfo: parsed.modelInfo,
      tag: parsed.tag,
    };
    return {
      id,
      key: checkpointKey(id),
      parts: { model: [modelFile.bytes] },
      counters: { epoch: 0, update: 0, sample: 0 },
      plain: true,
      files,
    };
  }
  if (meta.modelName !== parsed.modelName) {
    refuse(
      'CheckpointFormatError',
      `the file is named for model "${parsed.modelName}" but holds model "${meta.modelName}" (a .th of another model)`,
    );
  }
  const id: CheckpointId = {
    outputDir,
    runId: meta.runId,
    ...(meta.stageName !== undefined ? { stageName: meta.stageName } : {}),
    modelName: parsed.modelName,
    ...(parsed.modelInfo !== undefined ? { modelInfo: parsed.modelInfo } : {}),
    tag: parsed.tag,
  };
  const key = checkpointKey(id); // refuses a run or stage name from the file that breaks the scheme
  if (parsed.tag.kind === 'periodic' && !sameCounters(parsed.tag, meta.counters)) {
    refuse(
      'CheckpointFormatError',
      `the name says ${formatTag(parsed.tag)} but the weights were saved at ${fmt(meta.counters)}`,
    );
  }
  await checkModel(modelFile.model.stateDict, meta, opts.shapesFor);
  if (optim) checkOptim(optim, modelFile.model.stateDict);
  if (trainer && !sameCounters(trainer.counters, meta.counters)) {
    refuse(
      'CheckpointFormatError',
      `its parts are from different saves: model at ${fmt(meta.counters)}, trainer at ${fmt(trainer.counters)}`,
    );
  }
  const parts: CheckpointParts = {};
  for (const p of ['model', 'optim', 'trainer'] as const) {
    const f = byPart.get(p);
    if (f) parts[p] = [f.bytes];
  }
  return { id, key, parts, counters: meta.counters, plain: false, files };
}

export interface ImportResult {
  written: string[];
  /** Clashing checkpoints the user chose to keep. */
  kept: string[];
  /** Metrics logs written (their stages had checkpoints written), and run records. */
  logs: number;
  records: number;
}

/**
 * Writes a checked plan. A plan with refusals writes nothing. Checkpoints that already exist
 * are replaced only if `confirmReplace` (asked once, with their keys) says yes; otherwise they
 * are kept and only the new ones are written.
 */
export async function applyImport(
  store: CheckpointStore,
  plan: ImportPlan,
  confirmReplace: (keys: string[]) => Promise<boolean> | boolean,
  records?: RunRecordStore,
): Promise<ImportResult> {
  if (plan.refused.length > 0) {
    const first = plan.refused[0];
    refuse(first.error.name as never, `nothing was imported: ${first.file}: ${first.error.message}`);
  }
  const clashes: string[] = [];
  for (const item of plan.items) if (await store.stat(item.key)) clashes.push(item.key);
  const replace = clashes.length > 0 ? await confirmReplace(clashes) : false;
  const result: ImportResult = { written: [], kept: [], logs: 0, records: 0 };
  for (const item of plan.items) {
    if (clashes.includes(item.key) && !replace) {
      result.kept.push(item.key);
      continue;
    }
    await store.save(item.id, item.parts, { counters: item.counters });
    result.written.push(item.key);
  }
  if (records) {
    // History follows its checkpoints: a stage (or run) none of whose checkpoints was written keeps its own.
    const wrote = plan.items.filter((i) => result.written.includes(i.key));
    for (const log of plan.logs) {
      if (!wrote.some((i) => i.id.runId === log.runId && i.id.stageName === log.stageName)) continue;
      await records.replaceLog(log.outputDir, log.runId, log.stageName, log.entries);
      result.logs++;
    }
    for (const { record } of plan.records) {
      if (!wrote.some((i) => i.id.runId === record.runId)) continue;
      await records.putRecord(record);
      result.records++;
    }
  }
  return result;
}
