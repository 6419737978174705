/** What both stores share: checking a save's input, describing its parts, serialising work. */
import { TrainerError } from '../../shared/errors';
import { CHECKPOINT_PARTS, type CheckpointId, type CheckpointPart, checkpointKey, checkpointPath } from '../naming';
import { partChecksum } from './checksum';
import type { CheckpointMeta, CheckpointParts, Counters, ListFilter, PartInfo, SaveInfo } from './types';

/** The parts given, in the fixed order model, optim, trainer; refuses an empty save. */
export function givenParts(parts: CheckpointParts): [CheckpointPart, readonly Uint8Array[]][] {
  const out: [CheckpointPart, readonly Uint8Array[]][] = [];
  for (const p of CHECKPOINT_PARTS) {
    const chunks = parts[p];
    if (chunks !== undefined) out.push([p, chunks]);
  }
  if (out.length === 0) throw new TypeError('A checkpoint needs at least one part (model, optim or trainer).');
  return out;
}

function checkCounters(c: Counters): Counters {
  for (const k of ['epoch', 'update', 'sample'] as const) {
    if (!Number.isSafeInteger(c?.[k]) || c[k] < 0)
      throw new TypeError(`Checkpoint counter ${k} must be a non-negative integer, got ${c?.[k]}.`);
  }
  return { epoch: c.epoch, update: c.update, sample: c.sample };
}

/** A fresh save generation: time-ordered, unique, `[a-z0-9]` only (it appears in file names). */
export function newGeneration(): string {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `g${Date.now().toString(36)}${r[0].toString(36)}${r[1].toString(36)}`;
}

/** Every given part's checksum, computed once (and handed to each store's save). */
export async function hashParts(parts: CheckpointParts): Promise<Partial<Record<CheckpointPart, string>>> {
  const out: Partial<Record<CheckpointPart, string>> = {};
  for (const [part, chunks] of givenParts(parts)) out[part] = await partChecksum(chunks);
  return out;
}

/**
 * Checks a save's input and builds the metadata its commit record will hold, hashing every part
 * once (or taking the caller's hashes). Bad input throws synchronously, before anything is written;
 * the hashing is what the returned promise waits for, so a store can write while it runs.
 */
export function describeSave(id: CheckpointId, parts: CheckpointParts, info: SaveInfo): Promise<CheckpointMeta> {
  const key = checkpointKey(id); // validates the id first: nothing is written under a bad name
  const given = givenParts(parts);
  const counters = checkCounters(info.counters);
  const createdAt = info.createdAt ?? Date.now();
  const generation = info.generation ?? newGeneration();
  const described = async (): Promise<CheckpointMeta> => {
    const known = await info.checksums;
    const infos: PartInfo[] = [];
    for (const [part, chunks] of given) {
      const size = chunks.reduce((n, c) => n + c.byteLength, 0);
      infos.push({ part, path: checkpointPath(id, part), size, xxh64: known?.[part] ?? (await partChecksum(chunks)) });
    }
    return {
      key,
      id: structuredClone(id),
      parts: infos,
      counters,
      metrics: { ...(info.metrics ?? {}) },
      createdAt,
      generation,
    };
  };
  return described();
}

/** Whether a checkpoint is one a list() with this filter returns. */
export function matchesFilter(m: CheckpointMeta, f: ListFilter): boolean {
  return (
    (f.outputDir === undefined || m.id.outputDir === f.outputDir) &&
    (f.runId === undefined || m.id.runId === f.runId) &&
    (f.stageName === undefined || m.id.stageName === f.stageName)
  );
}

/** ChecksumMismatchError for one part of one copy. */
export function checksumMismatch(store: string, key: string, part: CheckpointPart, why: string): TrainerError {
  return new TrainerError(
    'ChecksumMismatchError',
    `The ${part} part of checkpoint ${key} in ${store} is damaged (${why}); it will not be loaded.`,
  );
}

/** A copy that changed (a newer save) between the caller's read of its record and of its bytes. */
export function replacedSince(key: string, store?: string): TrainerError {
  return new TrainerError(
    'CheckpointNotFoundError',
    `Checkpoint ${key}${store ? ` in ${store}` : ''} was replaced since it was read.`,
  );
}

export function notFound(store: string, key: string, part?: CheckpointPart): TrainerError {
  return new TrainerError(
    'CheckpointNotFoundError',
    part ? `Checkpoint ${key} in ${store} has no ${part} part.` : `No complete checkpoint ${key} in ${store}.`,
  );
}

/**
 * Runs tasks one after another. Saves, deletes and sweeps of one store instance go through it so
 * that a sweep never mistakes a save in progress for leftovers. Other tabs and workers are the
 * run lock's business (RunLockedError), not this one's.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Lets tests stop a save at a step as a crash would: the save ends without cleaning up. */
export type CrashAt = (
  step: 'part-written' | 'manifest-written' | 'part-promoted' | 'chunks-put',
  index: number,
) => boolean;

export class SimulatedCrash extends Error {
  constructor(step: string) {
    super(`simulated crash at ${step}`);
    this.name = 'SimulatedCrash';
  }
}

let recording = false;

/**
 * Turns stage recording on (the benchmark, for its run) or off. Off by default: nothing reads
 * the measures in production, and a long run would gather a dozen entries a save without end.
 */
export function recordStages(on: boolean): void {
  recording = on;
}

/** Records a stage that began at `start` and ends now, when recording is on. */
export function measureStage(name: string, start: number): void {
  if (recording) performance.measure(name, { start, end: performance.now() });
}

/**
 * Runs one stage of a save or a load and, when recording is on, records its duration as a User
 * Timing measure under `name` (`checkpoint:read`, `resume:parse`, …), which the benchmark sums per stage.
 */
export async function stage<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    measureStage(name, start);
  }
}
