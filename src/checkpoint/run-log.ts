/**
 * A run's history: its metrics log, one JSON object a line (`metrics.jsonl`), kept per stage next
 * to the stage's `checkpoints/` folder (`<output_dir>/<run_id>[/<stage_name>]/metrics.jsonl`),
 * so that an export zip, an OPFS folder and python/continue_training.py's output all hold it in
 * the same place. Plain data in, plain data out (no DOM, no tfjs, no storage): the stores are in
 * run-record-store.ts.
 *
 * Lines:
 *   {"kind":"train","update":12,"epoch":0.03,"loss":2.31,"time":1733150000000,"backend":"webgpu"}
 *   {"kind":"val","update":200,"epoch":0.5,"metrics":{"val.loss":2.1},"time":…,"backend":"webgpu"}
 *   {"kind":"resume","update":600,"dropped":140,"from":"E1_U600_S9600","time":…,"backend":"wasm"}
 * `epoch` is fractional (update / updates per epoch); `time` is ms since the epoch (wall clock);
 * `backend` is the tfjs backend, or `pytorch` for a continuation in Python.
 *
 * A reader never trusts a log: a torn last line (a crash mid-append), a hostile or foreign line
 * is skipped and counted, never thrown; and what it reads is bounded (MAX_LOG_BYTES, MAX_LOG_ENTRIES).
 */

export interface TrainEntry {
  kind: 'train';
  update: number;
  epoch: number;
  loss: number;
  time: number;
  backend: string;
}

export interface ValEntry {
  kind: 'val';
  update: number;
  epoch: number;
  metrics: Record<string, number>;
  time: number;
  backend: string;
}

/** Written when a run resumes: the points logged past the checkpoint were dropped (see truncateForResume). */
export interface ResumeEntry {
  kind: 'resume';
  update: number;
  dropped: number;
  from: string;
  time: number;
  backend: string;
}

export type LogEntry = TrainEntry | ValEntry | ResumeEntry;

export interface ParsedLog {
  entries: LogEntry[];
  /** Lines that were not a valid entry (torn, foreign, hostile): skipped. */
  skipped: number;
  /** True when the input was over a bound and only part of it (the newest) was read, or train points were thinned. */
  capped: boolean;
}

/** The log's file name in its stage folder. */
export const LOG_FILE_NAME = 'metrics.jsonl';
/** A reader looks at no more than the newest 8 MiB of a log. */
export const MAX_LOG_BYTES = 8 * 1024 * 1024;
/** A log holds at most this many entries: past it, train points are thinned (every other one dropped). */
export const MAX_LOG_ENTRIES = 20_000;
/** A line longer than this is refused before JSON.parse. */
const MAX_LINE_CHARS = 4096;
/** A val entry with more metrics than this is refused. */
const MAX_METRICS = 64;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const shortString = (v: unknown, max = 64): v is string => typeof v === 'string' && v.length <= max;

/** One line to an entry, or null when it is not a valid one. */
export function parseLogLine(line: string): LogEntry | null {
  if (line.length === 0 || line.length > MAX_LINE_CHARS) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (!count(o.update) || !finite(o.time) || !shortString(o.backend)) return null;
  const epoch = o.epoch === undefined ? 0 : o.epoch;
  if (!finite(epoch) || epoch < 0) return null;
  const base = { update: o.update, time: o.time, backend: o.backend };
  if (o.kind === 'train') {
    // A loss may be NaN or infinite in a diverging run; JSON writes those as null.
    const loss = o.loss === null ? NaN : o.loss;
    if (typeof loss !== 'number') return null;
    return { kind: 'train', ...base, epoch, loss };
  }
  if (o.kind === 'val') {
    const m = o.metrics;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return null;
    const pairs = Object.entries(m as Record<string, unknown>);
    if (pairs.length > MAX_METRICS) return null;
    const metrics: Record<string, number> = {};
    for (const [k, x] of pairs) {
      if (!shortString(k) || k === '__proto__') return null;
      if (x === null) metrics[k] = NaN;
      else if (typeof x === 'number') metrics[k] = x;
      else return null;
    }
    return { kind: 'val', ...base, epoch, metrics };
  }
  if (o.kind === 'resume') {
    if (!count(o.dropped) || !shortString(o.from, 200)) return null;
    return { kind: 'resume', ...base, dropped: o.dropped, from: o.from };
  }
  return null;
}

/** Entries to JSONL text (each line ends with a newline). */
export function formatLog(entries: readonly LogEntry[]): string {
  let out = '';
  for (const e of entries) out += JSON.stringify(e) + '\n';
  return out;
}

/**
 * The valid entries of a log's text, in file order. Bounded: only the newest MAX_LOG_BYTES
 * characters are read (the cut first line counts as skipped), and past MAX_LOG_ENTRIES the
 * train points are thinned.
 */
export function parseLog(text: string): ParsedLog {
  let capped = false;
  let skipped = 0;
  if (text.length > MAX_LOG_BYTES) {
    text = text.slice(text.length - MAX_LOG_BYTES);
    capped = true;
  }
  const entries: LogEntry[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line.length === 0) continue;
    const e = parseLogLine(line);
    if (e) entries.push(e);
    else skipped++;
  }
  const bounded = boundLog(entries);
  return { entries: bounded, skipped, capped: capped || bounded.length !== entries.length };
}

/** Thins train points (every other one; the newest is always kept) until the log is within MAX_LOG_ENTRIES; val and resume entries stay. */
export function boundLog(entries: LogEntry[], max = MAX_LOG_ENTRIES): LogEntry[] {
  let out = entries;
  while (out.length > max) {
    let left = out.reduce((n, e) => n + (e.kind === 'train' ? 1 : 0), 0);
    const next = out.filter((e) => e.kind !== 'train' || --left % 2 === 0);
    if (next.length === out.length) break; // nothing left to thin: val entries alone over the bound
    out = next;
  }
  if (out.length > max) out = out.slice(out.length - max);
  return out;
}

/**
 * What a resume from the checkpoint at `update` keeps: the entries up to it, and a marker that
 * says how many were dropped. The run trains those updates again from the checkpoint, so the old
 * points past it belong to a line that no longer leads anywhere; keeping them would draw two
 * different losses at one update.
 */
export function truncateForResume(
  entries: readonly LogEntry[],
  update: number,
  from: string,
  backend: string,
  time: number,
): { entries: LogEntry[]; dropped: number } {
  const kept = entries.filter((e) => e.update <= update);
  const dropped = entries.filter((e) => e.update > update && e.kind !== 'resume').length;
  kept.push({ kind: 'resume', update, dropped, from, time, backend });
  return { entries: kept, dropped };
}

/** The path of a stage's log relative to the output_dir: `<run>[/<stage>]/metrics.jsonl`. */
export function logRelativePath(runId: string, stageName?: string): string {
  return stageName ? `${runId}/${stageName}/${LOG_FILE_NAME}` : `${runId}/${LOG_FILE_NAME}`;
}

/** The run record's file name in the run folder. */
export const RUN_RECORD_FILE_NAME = 'run.json';

/** What a run is called and what it is, apart from its checkpoints. */
export interface RunRecord {
  outputDir: string;
  runId: string;
  /** The name the user gave it (default: the run id). */
  name: string;
  task: string;
  model: string;
  /** ms since the epoch, when the run began. */
  createdAt: number;
}

/** Longest name a user may give a run. */
export const MAX_RUN_NAME = 120;

/** A run record from untrusted JSON (an import, a file), or null. */
export function parseRunRecord(v: unknown, outputDir: string, runId: string): RunRecord | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.name !== 'string' || !shortString(o.task) || !shortString(o.model) || !finite(o.createdAt)) return null;
  const name = cleanRunName(o.name) || runId;
  return { outputDir, runId, name, task: o.task, model: o.model, createdAt: o.createdAt };
}

// eslint-disable-next-line no-control-regex -- control characters are what it matches
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;

/** A name as stored: control characters removed, spaces collapsed, at most MAX_RUN_NAME characters. */
export function cleanRunName(name: string): string {
  return name.replace(CONTROL_CHARS, ' ').replace(/\s+/g, ' ').trim().slice(0, MAX_RUN_NAME);
}

/** The record as written to `run.json` (the location fields are the file's place, not its content). */
export function formatRunRecord(r: RunRecord): string {
  return JSON.stringify({ name: r.name, task: r.task, model: r.model, createdAt: r.createdAt }, null, 2) + '\n';
}
