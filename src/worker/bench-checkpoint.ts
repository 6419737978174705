/**
 * Checkpoint benchmarks, each beside its raw baseline measured in the same run: the fastest way
 * the platform offers to move the same bytes, without our code in the path.
 * - bytes per checkpoint, and the time to save it to OPFS and to IndexedDB through our stores,
 *   beside the same bytes written raw (OPFS: a sync access handle write + flush; IndexedDB: the
 *   fastest of a few one-transaction shapes), and the old baselines (createWritable; 32 MiB
 *   array records) kept beside them for one run;
 * - SHA-256 throughput of crypto.subtle and of hash-wasm's streaming hasher;
 * - how long the loop is held per checkpoint, beside reading the weights off the device plus one step;
 * - the time from a resume request to the first resumed step, stage by stage, beside a sync-handle
 *   read of the same bytes and their upload as tensors;
 * - the same model saved and loaded by tfjs itself (`model.save('indexeddb://…')`, optimizer included);
 * - tfjs's tensor bytes during a save and a resume, and their time windows for the bench's
 *   samples of the worker's heap.
 */
import * as tf from '@tensorflow/tfjs';
import { deleteDB, openDB } from 'idb';
import { type CheckpointId, checkpointKey, tags } from '../checkpoint/naming';
import { createCheckpointStore, type DualCheckpointStore } from '../checkpoint/store/dual-store';
import { xxh64Hex } from '../checkpoint/store/checksum';
import { recordStages } from '../checkpoint/store/common';
import { nativeSha256Hex, streamingSha256Hex } from '../checkpoint/store/sha256';
import { paramCount } from '../models/types';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import type { SavedEvent } from '../shared/progress';
import { wasmThreads } from './backend';
import { Checkpointer } from './checkpointer';
import { startPosition, TrainingLoop } from './loop';
import { prepareRun } from './prepare';
import { TrainingSession } from './session';
import { readWeights } from './snapshot';

interface Versus {
  storeMs: number;
  rawMs: number;
  ratio: number;
  /** Store throughput, MB/s (10^6 bytes). */
  mbPerS: number;
  /** The baseline this bench used before issue 12, for one run. */
  rawOld: { rawMs: number; ratio: number; how: string };
}

export interface MemoryPeak {
  /** When the operation ran, epoch ms (performance.timeOrigin based): the bench reads the worker's heap samples of that window. */
  window: [number, number];
  /** Highest tfjs tensor bytes seen (tf.memory().numBytes, sampled every 5 ms) above the count before. */
  peakTensorDeltaBytes: number;
}

/** tfjs's own save and load of the same model. */
export interface TfjsFigures {
  tfjsSaveMs: number;
  tfjsLoadMs: number;
  /** The loaded model's first training step (trainOnBatch, its restored Adam state in use): the same work as our first resumed step. */
  tfjsFirstStepMs: number;
  tfjsBytes: number;
  tfjsIncludesOptimizer: boolean;
  /** Why the save fell back to weights only, when it did. */
  fallback?: string;
}

export interface CheckpointBench {
  params: number;
  backend: string;
  wasmThreads?: number;
  bytesPerCheckpoint: number;
  /**
   * Device read + encode + hash + write of one checkpoint, as the app does it; `periodic`: a
   * periodic save to both stores, which writes the checkpoint twice (its E*_U* tag and `latest`).
   */
  endToEndMs: { opfs: number; idb: number; both: number; periodic: number };
  /**
   * Writing the encoded parts through our store (hashing included) against the same bytes raw:
   * replacing a committed checkpoint (`last`, as `latest` is replaced each period), and
   * `newCheckpoint`: a checkpoint under a new tag (as each periodic save's E*_U* tag), which has
   * nothing to replace. Store and raw writes take turns, so the machine's drift weighs on each alike.
   */
  opfs: Versus & {
    rawHow: string;
    stagesMs: Record<string, number>;
    newCheckpoint: { storeMs: number; ratio: number; stagesMs: Record<string, number> };
  };
  idb: Versus & { rawHow: string; rawShapesMs: Record<string, number> };
  /**
   * Checksum MB/s over the largest part: SHA-256 native (one buffer) and hash-wasm streaming (its
   * chunks), and XXH64 (hash-wasm, the chunks), which the stores record since issue 12.
   */
  hash: { bytes: number; nativeMbPerS: number; hashWasmMbPerS: number; xxh64MbPerS: number };
  loopHeld: { heldMs: number; deviceReadMs: number; stepMs: number; ratio: number };
  resume: {
    /** The app's stores (both): request → the first resumed step done. */
    toFirstStepMs: number;
    /** The resumed session's second step: the steady step (the repair starts after it here). */
    nextStepMs: number;
    /** What the resume adds beyond a steady training step: toFirstStepMs − nextStepMs. */
    beyondStepMs: number;
    rawReadAndUploadMs: number;
    /** beyondStepMs / rawReadAndUploadMs. */
    ratio: number;
    rawHow: string;
    rawOld: { rawMs: number; ratio: number; how: string };
    /** Summed time per stage (parallel stages overlap, so the sum may exceed the total). */
    stagesMs: Record<string, number>;
    /** Per stage, when it first began and last ended, ms from the resume's start (its critical path). */
    windowsMs: Record<string, [number, number]>;
  };
  /** tfjs's own save and load of the same model, optimizer included; our time over theirs. */
  vsTfjs:
    | { error: string; ourSaveMs: number; ourResumeMs: number }
    | (TfjsFigures & {
        ourSaveMs: number;
        ourResumeMs: number;
        saveRatio: number;
        /** Load and first step, ours over tfjs's. */
        loadRatio: number;
        /** Without the first step (the same training work for both): to the step's start, ours over tfjs's load. */
        ourLoadMs: number;
        loadOnlyRatio: number;
      });
  memory: { stateBytes: number; save: MemoryPeak; resume: MemoryPeak };
}

/** char-mlp sizes of about 1M and 20M parameters (27 characters), and a small one for quick checks. */
export const BENCH_SIZES: Record<string, Partial<RunConfig>> = {
  '40K': { context: 3, embed: 16, hidden: 500 },
  '1M': { context: 8, embed: 64, hidden: 1850 },
  '20M': { context: 16, embed: 256, hidden: 4800 },
};

/** The small size is the smoke run's: every figure once, one repeat. */
const repeatsFor = (size: string) => (size === '40K' ? 1 : 3);
/** Store writes against raw ones: short, and noisy on a shared machine, so more turns. */
const writeRepeatsFor = (size: string) => (size === '40K' ? 1 : 9);

/** Where the raw baselines write: an OPFS folder and an IndexedDB database of their own. */
export const RAW_OPFS_DIR = 'bench-raw';
export const RAW_IDB_NAME = 'bench-raw';
/** tfjs's own save, under its IndexedDB scheme. */
const TFJS_URL = 'indexeddb://bench-tfjs';
const TFJS_LIMIT_S = 150;

/** Progress on the worker's console (the bench forwards it to stderr), so a stall shows where. */
const progress = (size: string, what: string) => console.info(`bench ${size}: ${what}`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbPerS = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Times each operation `n` times, taking turns (a, b, c, b, c, a, …), so that the machine's
 * drift over the run weighs on each alike: each one's median, and the app's stages recorded while
 * it ran, averaged over its runs.
 */
async function takingTurns(
  n: number,
  ops: Record<string, () => Promise<unknown>>,
): Promise<Record<string, { ms: number; stagesMs: Record<string, number> }>> {
  const names = Object.keys(ops);
  const times = new Map<string, number[]>(names.map((k) => [k, []]));
  const stages = new Map<string, Record<string, number>>(names.map((k) => [k, {}]));
  for (let i = 0; i < n; i++) {
    // Each turn starts one further along: a write pays for the disk's flushing of the one before
    // it, and each should follow each in turn.
    for (const k of [...names.slice(i % names.length), ...names.slice(0, i % names.length)]) {
      const t0 = performance.now();
      await ops[k]();
      const t1 = performance.now();
      times.get(k)!.push(t1 - t0);
      const sum = stages.get(k)!;
      for (const [stage, ms] of Object.entries(stagesSince(t0, t1))) sum[stage] = (sum[stage] ?? 0) + ms / n;
    }
  }
  return Object.fromEntries(names.map((k) => [k, { ms: median(times.get(k)!), stagesMs: stages.get(k)! }]));
}

/** The median of `n` timed runs, one after another. */
async function medianTime(n: number, fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await time(fn));
  return median(xs);
}

// The sync access handle is typed in the WebWorker lib only; this module also compiles in page tests.
interface SyncHandle {
  write(d: Uint8Array, o: { at: number }): number;
  read(d: Uint8Array, o: { at: number }): number;
  truncate(n: number): void;
  flush(): void;
  close(): void;
  getSize(): number;
}
type SyncCapable = FileSystemFileHandle & { createSyncAccessHandle?: () => Promise<SyncHandle> };

async function rawDir(): Promise<FileSystemDirectoryHandle> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(RAW_OPFS_DIR, { create: true });
}

/** The floor: each part written through a sync access handle and flushed (workers only). */
async function rawOpfsSyncWrite(parts: readonly Uint8Array[]): Promise<void> {
  const dir = await rawDir();
  for (const [j, b] of parts.entries()) {
    const handle = (await dir.getFileHandle(`bench-raw-${j}`, { create: true })) as SyncCapable;
    if (!handle.createSyncAccessHandle) {
      // Not a worker (a page test): the page's fastest way, createWritable.
      const w = await handle.createWritable();
      await w.write(b as Uint8Array<ArrayBuffer>);
      await w.close();
      continue;
    }
    const h = await handle.createSyncAccessHandle();
    try {
      h.truncate(0);
      h.write(b, { at: 0 });
      h.flush();
    } finally {
      h.close();
    }
  }
}

/** The baseline before issue 12: one createWritable per part. */
async function rawOpfsWritable(parts: readonly Uint8Array[]): Promise<void> {
  const dir = await rawDir();
  for (const [j, b] of parts.entries()) {
    const w = await (await dir.getFileHandle(`bench-old-${j}`, { create: true })).createWritable();
    await w.write(b as Uint8Array<ArrayBuffer>);
    await w.close();
  }
}

/** Raw resume: each part read through a sync access handle, then uploaded as one tensor. */
async function rawSyncReadAndUpload(count: number): Promise<void> {
  const dir = await rawDir();
  const tensors: tf.Tensor[] = [];
  try {
    for (let j = 0; j < count; j++) {
      const handle = (await dir.getFileHandle(`bench-raw-${j}`)) as SyncCapable;
      let bytes: Uint8Array;
      if (!handle.createSyncAccessHandle) {
        bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
        tensors.push(tf.tensor(new Float32Array(bytes.buffer, 0, bytes.byteLength >> 2)));
        continue;
      }
      const h = await handle.createSyncAccessHandle();
      try {
        bytes = new Uint8Array(h.getSize());
        h.read(bytes, { at: 0 });
      } finally {
        h.close();
      }
      tensors.push(tf.tensor(new Float32Array(bytes.buffer, 0, bytes.byteLength >> 2)));
    }
    await uploaded(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/** WASM and CPU copy a tensor's values in when it is made; other backends upload on first use. */
async function uploaded(tensors: tf.Tensor[]): Promise<void> {
  const b = tf.getBackend();
  if (b === 'wasm' || b === 'cpu') return;
  await Promise.all(tensors.map((t) => tf.tidy(() => t.sum()).data()));
}

/** IndexedDB shapes, one transaction each: whichever is fastest on this machine is the floor. */
const IDB_SHAPES: Record<string, (parts: readonly Uint8Array[]) => unknown[]> = {
  // Before issue 12 the baseline: records of 32 MiB (Chromium refuses one cloned value of 127 MiB or more).
  'arrays-32MiB': (parts) =>
    parts.flatMap((c) => {
      const out: Uint8Array[] = [];
      for (let at = 0; at < c.byteLength || out.length === 0; at += 32 << 20) out.push(c.slice(at, at + (32 << 20)));
      return out;
    }),
  'blob-per-part': (parts) => parts.map((c) => new Blob([c as Uint8Array<ArrayBuffer>])),
  'one-blob': (parts) => [new Blob(parts as Uint8Array<ArrayBuffer>[])],
};

async function rawIdbWrite(shape: string, parts: readonly Uint8Array[]): Promise<void> {
  const db = await openDB(RAW_IDB_NAME, 1, { upgrade: (d) => d.createObjectStore('blobs') });
  try {
    const tx = db.transaction('blobs', 'readwrite');
    const store = tx.objectStore('blobs');
    await Promise.all([...IDB_SHAPES[shape](parts).map((v, i) => store.put(v, i)), tx.done]);
  } finally {
    db.close();
  }
}

/**
 * Runs `fn`, sampling tfjs's tensor bytes every 5 ms (synchronous stretches are not sampled
 * inside, so the peak is a lower bound) and noting its time window, for the JS heap samples the
 * bench takes from outside (performance.memory is not exposed in a dedicated worker). Where the
 * bench's browser exposes `gc()`, garbage of earlier work is collected first and the heap sampled
 * once after (samples come every 20 ms): the window's baseline is then live memory, and its peak
 * what `fn` itself holds or leaves to the collector.
 */
async function peakDuring<T>(fn: () => Promise<T>): Promise<[T, MemoryPeak]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const now = () => performance.timeOrigin + performance.now();
  const tensors0 = tf.memory().numBytes;
  let peakTensors = tensors0;
  const sample = () => (peakTensors = Math.max(peakTensors, tf.memory().numBytes));
  const timer = setInterval(sample, 5);
  const start = now();
  try {
    const out = await fn();
    sample();
    return [out, { window: [start, now()], peakTensorDeltaBytes: peakTensors - tensors0 }];
  } finally {
    clearInterval(timer);
  }
}

/** Stage durations recorded since `since` (and before `until`) by the app's code (User Timing measures), summed by name. */
function stagesSince(since: number, until = Infinity): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of performance.getEntriesByType('measure')) {
    if (m.startTime < since || m.startTime >= until) continue;
    out[m.name] = (out[m.name] ?? 0) + m.duration;
  }
  return out;
}

/**
 * When each stage recorded between `since` and `until` first began and last ended, in ms from
 * `since`: the resume's critical path, which the summed durations above (parts read side by side)
 * do not show.
 */
function windowsSince(since: number, until: number): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const m of performance.getEntriesByType('measure')) {
    if (m.startTime < since || m.startTime >= until) continue;
    const [a, b] = [m.startTime - since, m.startTime + m.duration - since];
    const w = out[m.name];
    out[m.name] = w ? [Math.min(w[0], a), Math.max(w[1], b)] : [a, b];
  }
  return out;
}

/**
 * The same char-mlp as a tfjs LayersModel (the same parameters: the embedding is a bias-free dense
 * layer over one-hot characters, since tfjs's Embedding has no gradient on WASM), compiled with
 * Adam and trained one batch so its moments exist.
 */
async function tfjsTwin(run: RunConfig, vocab: number): Promise<tf.LayersModel> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [run.context, vocab], units: run.embed, useBias: false }),
      tf.layers.flatten(),
      tf.layers.dense({ units: run.hidden, activation: 'tanh' }),
      tf.layers.dense({ units: vocab }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(run.lr), loss: 'sparseCategoricalCrossentropy' });
  // Float labels: tfjs's sparse cross-entropy floors them, which it refuses for int32.
  const x = tf.zeros([run.batch_size, run.context, vocab]);
  const y = tf.zeros([run.batch_size, 1]);
  await model.trainOnBatch(x, y);
  tf.dispose([x, y]);
  return model;
}

async function tfjsSaveAndLoad(run: RunConfig, vocab: number): Promise<TfjsFigures> {
  const model = await tfjsTwin(run, vocab);
  let saveMs: number;
  let includes = true;
  let fallback: string | undefined;
  let bytes = 0;
  try {
    try {
      saveMs = await time(async () => {
        const r = await model.save(TFJS_URL, { includeOptimizer: true });
        bytes = r.modelArtifactsInfo.weightDataBytes ?? 0;
      });
    } catch (e) {
      // tfjs's save has failed here at 20M with its optimizer (one value too large for IndexedDB):
      // the weights alone are still a comparison, marked as such.
      fallback = `save with includeOptimizer failed (${(e as Error).name}: ${(e as Error).message.slice(0, 200)}); timed the weights-only save instead`;
      includes = false;
      await tf.io.removeModel(TFJS_URL).catch(() => undefined);
      saveMs = await time(async () => {
        const r = await model.save(TFJS_URL, { includeOptimizer: false });
        bytes = r.modelArtifactsInfo.weightDataBytes ?? 0;
      });
    }
  } finally {
    model.dispose();
  }
  let loaded: tf.LayersModel | undefined;
  try {
    const loadMs = await time(async () => (loaded = await tf.loadLayersModel(TFJS_URL)));
    // loadLayersModel restores the optimizer's weights it was saved with; the first trainOnBatch
    // builds the training function and steps with them, as our first resumed step does.
    const firstMs = await time(async () => {
      const x = tf.zeros([run.batch_size, run.context, vocab]);
      const y = tf.zeros([run.batch_size, 1]);
      await loaded!.trainOnBatch(x, y);
      tf.dispose([x, y]);
    });
    return {
      tfjsSaveMs: saveMs,
      tfjsLoadMs: loadMs,
      tfjsFirstStepMs: firstMs,
      tfjsBytes: bytes,
      tfjsIncludesOptimizer: includes,
      ...(fallback ? { fallback } : {}),
    };
  } finally {
    loaded?.dispose();
    await tf.io.removeModel(TFJS_URL).catch(() => undefined);
  }
}

/** Removes everything a checkpoint benchmark writes: its run in both stores and the raw baselines. */
async function removeBenchData(runId: string, store: DualCheckpointStore): Promise<void> {
  await store.deleteRun(runId);
  const root = await navigator.storage.getDirectory();
  try {
    await root.removeEntry(RAW_OPFS_DIR, { recursive: true });
  } catch (e) {
    if ((e as Error).name !== 'NotFoundError') throw e;
  }
  await deleteDB(RAW_IDB_NAME);
  await tf.io.removeModel(TFJS_URL).catch(() => undefined);
}

/** Times checkpoints of a model of `size` (a BENCH_SIZES key); removes all it wrote, even when it fails. */
export async function benchmarkCheckpoint(size: string, repeats = repeatsFor(size)): Promise<CheckpointBench> {
  if (!(size in BENCH_SIZES))
    throw new RangeError(`no benchmark size ${size}: use one of ${Object.keys(BENCH_SIZES).join(', ')}`);
  const run: RunConfig = {
    ...DEFAULT_CONFIG,
    ...BENCH_SIZES[size],
    batch_size: 32,
    epochs: 100,
    eval_every: 0,
    save_every: 0,
    save_at_epoch_end: false,
    best_metrics: '',
    keep_checkpoint: -1,
    run_id: `bench-${size}`,
  };
  const opfs = createCheckpointStore({ use: 'opfs' });
  const idb = createCheckpointStore({ use: 'idb' });
  const both = createCheckpointStore({ use: 'both' });
  // Leftovers of an interrupted earlier run would be timed as part of this one.
  await removeBenchData(run.run_id, both);
  const prepared = await prepareRun(run, opfs);
  const session = new TrainingSession(prepared.run, prepared.task);
  recordStages(true);
  try {
    const loop = new TrainingLoop(session, prepared.run, startPosition(prepared.run), () => {});
    await loop.runToEnd(2); // Adam's moments exist after a step
    const stepMs = await medianTime(3, () => loop.runToEnd(1));
    const deviceReadMs = await medianTime(3, () => readWeights(session.params));

    progress(size, 'steps timed');
    const saves: SavedEvent[] = [];
    const checkpointer = (store: DualCheckpointStore) =>
      new Checkpointer(
        prepared.run,
        prepared.names,
        session,
        (e) => e.type === 'saved' && saves.push(e),
        undefined,
        store,
      );
    // `last` is one checkpoint (model + optim + trainer), written once.
    const saveOnce = (store: DualCheckpointStore) =>
      checkpointer(store).saveFinal(loop.position(), loop.totalUpdates, true);
    const stateBytes = 3 * 4 * paramCount(session.specs); // weights and Adam's two moments, float32
    const [, saveMemory] = await peakDuring(() => saveOnce(opfs));
    progress(size, 'memory save done');
    const e2eSince = performance.now();
    const endOpfs = await medianTime(repeats, () => saveOnce(opfs));
    console.info(`bench ${size}: end-to-end OPFS stages ${JSON.stringify(stagesSince(e2eSince))}`);
    progress(size, 'end-to-end OPFS done');
    const endIdb = await medianTime(repeats, () => saveOnce(idb));
    progress(size, 'end-to-end IndexedDB done');
    const endBoth = await medianTime(repeats, () => saveOnce(both));
    progress(size, 'end-to-end both done');
    const periodic = await medianTime(repeats, () =>
      checkpointer(both).saveFinal(loop.position(), loop.totalUpdates, false),
    );
    progress(size, 'periodic save done');
    const bytes = saves[0].bytes;
    const heldMs = median(saves.map((s) => s.heldMs));

    // The store's write of the encoded parts, against the same bytes written raw.
    const meta = (await opfs.list({ runId: run.run_id })).find((m) => m.id.tag.kind === 'last')!;
    const partBytes = await Promise.all(meta.parts.map((p) => opfs.read(meta.key, p.part)));
    const parts = Object.fromEntries(meta.parts.map((p, i) => [p.part, [partBytes[i]]]));
    const counters = { counters: meta.counters };
    let made = 0;
    const newIds: CheckpointId[] = [];
    const newId = () => {
      const id = { ...meta.id, tag: tags.periodic(meta.counters.epoch, 1_000_000 + ++made, meta.counters.sample) };
      newIds.push(id);
      return id;
    };
    const writes = await takingTurns(writeRepeatsFor(size), {
      opfs: () => opfs.save(meta.id, parts, counters),
      opfsNew: () => opfs.save(newId(), parts, counters),
      rawOpfs: () => rawOpfsSyncWrite(partBytes),
      rawOpfsOld: () => rawOpfsWritable(partBytes),
      idb: () => idb.save(meta.id, parts, counters),
      ...Object.fromEntries(
        Object.keys(IDB_SHAPES).map((shape) => [`idb:${shape}`, () => rawIdbWrite(shape, partBytes)]),
      ),
    });
    // The new checkpoints go before the resume below, which must not see them.
    for (const id of newIds) await opfs.delete(checkpointKey(id));
    progress(size, 'store and raw writes done');
    const storeStages = (k: 'opfs' | 'opfsNew') =>
      Object.fromEntries(
        Object.entries(writes[k].stagesMs)
          .filter(([stage]) => stage.startsWith('opfs-save:'))
          .map(([stage, ms]) => [stage.slice('opfs-save:'.length), ms]),
      );
    const opfsMs = writes.opfs.ms;
    const idbMs = writes.idb.ms;
    const rawOpfs = writes.rawOpfs.ms;
    const rawOpfsOld = writes.rawOpfsOld.ms;
    const rawShapesMs = Object.fromEntries(Object.keys(IDB_SHAPES).map((shape) => [shape, writes[`idb:${shape}`].ms]));
    const [fastestShape, rawIdb] = Object.entries(rawShapesMs).sort((a, b) => a[1] - b[1])[0];

    progress(size, 'raw IndexedDB done');
    // Hash throughput over the largest part, as one buffer (native) and as 8 MiB chunks (hash-wasm).
    const largest = partBytes.reduce((a, b) => (b.byteLength > a.byteLength ? b : a));
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < largest.byteLength; at += 8 << 20) pieces.push(largest.subarray(at, at + (8 << 20)));
    const nativeMs = await medianTime(repeats, () => nativeSha256Hex(largest));
    const wasmMs = await medianTime(repeats, () => streamingSha256Hex(pieces));
    const xxhMs = await medianTime(repeats, () => xxh64Hex(pieces));

    progress(size, 'hashes done');
    // Resume as the app does it, from both stores: from request to the first resumed step, stage
    // by stage. The store saves above left the copies from different saves: one save to both
    // first, or the resume would also rewrite the older copy.
    await saveOnce(both);
    // The repair of the other store's copies starts after the first step, as in the app, so it is
    // outside the clock; it is waited for before the next resume. The median of `repeats` resumes
    // is reported, with that resume's stages.
    let repairing: Promise<unknown> | undefined;
    const resumeOnce = async () => {
      let s2: TrainingSession | undefined;
      let l2: TrainingLoop | undefined;
      let repair: (() => Promise<unknown>) | undefined;
      try {
        const [ms, memory] = await peakDuring(() =>
          time(async () => {
            const resumed = await prepareRun(
              { ...prepared.run, resume_run_id: run.run_id, resume_checkpoint: 'last', epochs: 200 },
              both,
            );
            const sessionStart = performance.now();
            s2 = new TrainingSession(resumed.run, resumed.task, 'resumed/', resumed.initialWeights);
            performance.measure('resume:session', { start: sessionStart, end: performance.now() });
            const restored = await resumed.restore(s2);
            repair = restored.repair;
            l2 = new TrainingLoop(s2, resumed.run, restored.position, () => {});
            const firstStep = await time(() => l2!.runToEnd(1));
            performance.measure('resume:first step', { start: performance.now() - firstStep, end: performance.now() });
          }),
        );
        // The steady step the resume is weighed against: this session's next one. The app starts the
        // repair after the first step; here after the second, so that this step runs undisturbed.
        const nextStepMs = await time(() => l2!.runToEnd(1));
        repairing = repair?.();
        return { ms, memory, nextStepMs };
      } finally {
        s2?.dispose();
      }
    };
    const resumes = [];
    for (let i = 0; i < repeats; i++) {
      const once = await resumeOnce();
      await repairing;
      const until = performance.now();
      // From the request, after the collection that peakDuring() runs before it.
      const since = once.memory.window[0] - performance.timeOrigin;
      resumes.push({ ...once, stages: stagesSince(since, until), windows: windowsSince(since, until) });
    }
    // Memory from the first resume (where gc() is not exposed, a later one starts while the earlier
    // one's buffers await the collector, so its baseline is not the state's).
    const resumeMemory = resumes[0].memory;
    const {
      ms: toFirstStep,
      nextStepMs,
      stages,
      windows,
    } = resumes.sort((a, b) => a.ms - b.ms)[Math.floor(resumes.length / 2)];
    progress(size, 'resume done');
    // What the first step costs beyond a steady one: kernel set-up (shader compiles on WebGPU).
    stages['resume:first step, beyond a steady step'] = Math.max(0, (stages['resume:first step'] ?? 0) - nextStepMs);
    const rawResume = await medianTime(repeats, () => rawSyncReadAndUpload(partBytes.length));
    const rawResumeOld = await time(async () => {
      const bufs = await Promise.all(meta.parts.map((p) => opfs.read(meta.key, p.part)));
      const tensors = bufs.map((b) =>
        tf.tensor(new Float32Array(b.buffer, b.byteOffset, Math.floor(b.byteLength / 4))),
      );
      await Promise.all(tensors.map((t) => t.data()));
      tf.dispose(tensors);
    });

    progress(size, 'raw resume done');
    // Bounded: at 20M tfjs's IndexedDB save has been seen to stall here with no error at all.
    const tfjs = await Promise.race([
      tfjsSaveAndLoad(prepared.run, session.params['embedding.weight'].shape[0]),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`tfjs's save and load did not finish within ${TFJS_LIMIT_S} s`)),
          TFJS_LIMIT_S * 1000,
        ),
      ),
    ]).catch((e: unknown) => ({ error: (e as Error).message }));
    progress(size, 'tfjs done');
    const tfjsLoad = 'error' in tfjs ? NaN : tfjs.tfjsLoadMs + tfjs.tfjsFirstStepMs;
    // To the first resumed step's start: what tfjs's load alone is weighed against.
    const ourLoadMs = toFirstStep - (stages['resume:first step'] ?? NaN);
    const inWorker = typeof (self as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
    const versus = (storeMs: number, rawMs: number, old: number, how: string): Versus => ({
      storeMs,
      rawMs,
      ratio: storeMs / rawMs,
      mbPerS: mbPerS(bytes, storeMs),
      rawOld: { rawMs: old, ratio: storeMs / old, how },
    });
    return {
      params: paramCount(session.specs),
      backend: tf.getBackend(),
      wasmThreads: (await wasmThreads())?.threads,
      bytesPerCheckpoint: bytes,
      endToEndMs: { opfs: endOpfs, idb: endIdb, both: endBoth, periodic },
      opfs: {
        ...versus(opfsMs, rawOpfs, rawOpfsOld, 'createWritable + close per part'),
        rawHow: inWorker
          ? 'sync access handle write + flush per part, in the worker'
          : 'createWritable per part (not a worker: no sync access handles)',
        stagesMs: storeStages('opfs'),
        newCheckpoint: {
          storeMs: writes.opfsNew.ms,
          ratio: writes.opfsNew.ms / rawOpfs,
          stagesMs: storeStages('opfsNew'),
        },
      },
      idb: {
        ...versus(idbMs, rawIdb, rawShapesMs['arrays-32MiB'], 'records of 32 MiB arrays, one transaction'),
        rawHow: `${fastestShape}, one readwrite transaction (fastest of ${Object.keys(IDB_SHAPES).join(', ')})`,
        rawShapesMs,
      },
      hash: {
        bytes: largest.byteLength,
        nativeMbPerS: mbPerS(largest.byteLength, nativeMs),
        hashWasmMbPerS: mbPerS(largest.byteLength, wasmMs),
        xxh64MbPerS: mbPerS(largest.byteLength, xxhMs),
      },
      loopHeld: { heldMs, deviceReadMs, stepMs, ratio: heldMs / (deviceReadMs + stepMs) },
      resume: {
        toFirstStepMs: toFirstStep,
        nextStepMs,
        beyondStepMs: toFirstStep - nextStepMs,
        rawReadAndUploadMs: rawResume,
        ratio: (toFirstStep - nextStepMs) / rawResume,
        rawHow: inWorker
          ? 'sync access handle read per part, then one tensor per part'
          : 'getFile() read per part (not a worker), then one tensor per part',
        rawOld: {
          rawMs: rawResumeOld,
          ratio: (toFirstStep - nextStepMs) / rawResumeOld,
          how: "the store's own read, then tensors read back",
        },
        stagesMs: stages,
        windowsMs: windows,
      },
      vsTfjs:
        'error' in tfjs
          ? { error: tfjs.error, ourSaveMs: endBoth, ourResumeMs: toFirstStep }
          : {
              ...tfjs,
              ourSaveMs: endBoth,
              ourResumeMs: toFirstStep,
              saveRatio: endBoth / tfjs.tfjsSaveMs,
              loadRatio: toFirstStep / tfjsLoad,
              ourLoadMs,
              loadOnlyRatio: ourLoadMs / tfjs.tfjsLoadMs,
            },
      memory: { stateBytes, save: saveMemory, resume: resumeMemory },
    };
  } finally {
    recordStages(false);
    session.dispose();
    await removeBenchData(run.run_id, both);
  }
}
