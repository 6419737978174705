/**
 * Checkpoint benchmarks, each beside its raw baseline measured in the same run:
 * - bytes per checkpoint, and the time to save it to OPFS and to IndexedDB through our stores,
 *   beside writing the same bytes raw through the same API (one createWritable; one put);
 * - how long the loop is held per checkpoint, beside reading the weights off the device plus one step;
 * - the time from a resume request to the first resumed step, beside reading the same bytes raw
 *   and uploading them as tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { deleteDB, openDB } from 'idb';
import { createCheckpointStore, type DualCheckpointStore } from '../checkpoint/store/dual-store';
import { DEFAULT_CHUNK_SIZE } from '../checkpoint/store/idb-store';
import { paramCount } from '../models/types';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import type { SavedEvent } from '../shared/progress';
import { Checkpointer } from './checkpointer';
import { startPosition, TrainingLoop } from './loop';
import { prepareRun } from './prepare';
import { TrainingSession } from './session';
import { readWeights } from './snapshot';

export interface CheckpointBench {
  params: number;
  backend: string;
  bytesPerCheckpoint: number;
  /** Device read + encode + hash + write of one checkpoint, as the app does it. */
  endToEndMs: { opfs: number; idb: number };
  /** Writing the encoded parts through our store (hashing included) against the same bytes raw. */
  opfs: { storeMs: number; rawMs: number; ratio: number };
  idb: { storeMs: number; rawMs: number; ratio: number };
  loopHeld: { heldMs: number; deviceReadMs: number; stepMs: number; ratio: number };
  resume: { toFirstStepMs: number; rawReadAndUploadMs: number; ratio: number };
}

/** char-mlp sizes of about 1M and 20M parameters (27 characters), and a small one for quick checks. */
export const BENCH_SIZES: Record<string, Partial<RunConfig>> = {
  '40K': { context: 3, embed: 16, hidden: 500 },
  '1M': { context: 8, embed: 64, hidden: 1850 },
  '20M': { context: 16, embed: 256, hidden: 4800 },
};

/** Where the raw baselines write: an OPFS folder and an IndexedDB database of their own. */
export const RAW_OPFS_DIR = 'bench-raw';
export const RAW_IDB_NAME = 'bench-raw';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** The median of `n` timed runs, one after another. */
async function medianTime(n: number, fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await time(fn));
  return median(xs);
}

async function rawOpfsWrite(name: string, chunks: readonly Uint8Array[]): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(RAW_OPFS_DIR, { create: true });
  const handle = await dir.getFileHandle(name, { create: true });
  const w = await handle.createWritable({ keepExistingData: false });
  for (const c of chunks) await w.write(c as Uint8Array<ArrayBuffer>);
  await w.close();
}

/** The same bytes in one transaction, in records of the store's chunk size (Chromium refuses one value of 127 MiB or more). */
async function rawIdbWrite(chunks: readonly Uint8Array[]): Promise<void> {
  const db = await openDB(RAW_IDB_NAME, 1, { upgrade: (d) => d.createObjectStore('blobs') });
  const tx = db.transaction('blobs', 'readwrite');
  const store = tx.objectStore('blobs');
  const puts: Promise<unknown>[] = [];
  chunks.forEach((c, i) => {
    for (let at = 0, j = 0; at < c.byteLength || j === 0; at += DEFAULT_CHUNK_SIZE, j++) {
      puts.push(store.put(c.slice(at, at + DEFAULT_CHUNK_SIZE), [i, j]));
    }
  });
  await Promise.all([...puts, tx.done]);
  db.close();
}

/** Removes everything a checkpoint benchmark writes: its run in both stores and the raw baselines. */
async function removeBenchData(runId: string, opfs: DualCheckpointStore, idb: DualCheckpointStore): Promise<void> {
  await opfs.deleteRun(runId);
  await idb.deleteRun(runId);
  const root = await navigator.storage.getDirectory();
  try {
    await root.removeEntry(RAW_OPFS_DIR, { recursive: true });
  } catch (e) {
    if ((e as Error).name !== 'NotFoundError') throw e;
  }
  await deleteDB(RAW_IDB_NAME);
}

/** Times checkpoints of a model of `size` (a BENCH_SIZES key); removes all it wrote, even when it fails. */
export async function benchmarkCheckpoint(size: string, repeats = 3): Promise<CheckpointBench> {
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
  // Leftovers of an interrupted earlier run would be timed as part of this one.
  await removeBenchData(run.run_id, opfs, idb);
  const prepared = await prepareRun(run, opfs);
  const session = new TrainingSession(prepared.run, prepared.task);
  try {
    const loop = new TrainingLoop(session, prepared.run, startPosition(prepared.run), () => {});
    await loop.runToEnd(2); // Adam's moments exist after a step
    const stepMs = await medianTime(3, () => loop.runToEnd(1));
    const deviceReadMs = await medianTime(3, () => readWeights(session.params));

    const saves: SavedEvent[] = [];
    const measure = async (store: typeof opfs) => {
      const cp = new Checkpointer(
        prepared.run,
        prepared.names,
        session,
        (e) => e.type === 'saved' && saves.push(e),
        undefined,
        store,
      );
      // `last` is one checkpoint (model + optim + trainer), written once.
      return medianTime(repeats, () => cp.saveFinal(loop.position(), loop.totalUpdates, true));
    };
    const endOpfs = await measure(opfs);
    const endIdb = await measure(idb);
    const bytes = saves[0].bytes;
    const heldMs = median(saves.map((s) => s.heldMs));

    // The store's write of the encoded parts, against the same bytes written raw through the same APIs.
    const meta = (await opfs.list({ runId: run.run_id })).find((m) => m.id.tag.kind === 'last')!;
    const partBytes = await Promise.all(meta.parts.map((p) => opfs.read(meta.key, p.part)));
    const parts = Object.fromEntries(meta.parts.map((p, i) => [p.part, [partBytes[i]]]));
    const opfsMs = await medianTime(repeats, () => opfs.save(meta.id, parts, { counters: meta.counters }));
    const idbMs = await medianTime(repeats, () => idb.save(meta.id, parts, { counters: meta.counters }));
    const ro = await medianTime(repeats, async () => {
      for (const [j, b] of partBytes.entries()) await rawOpfsWrite(`bench-raw-${j}`, [b]);
    });
    const ri = await medianTime(repeats, () => rawIdbWrite(partBytes));

    // Resume: from request to the first resumed step, against raw read + upload of the same bytes.
    const toFirstStep = await time(async () => {
      const resumed = await prepareRun(
        { ...prepared.run, resume_run_id: run.run_id, resume_checkpoint: 'last', epochs: 200 },
        opfs,
      );
      const s2 = new TrainingSession(resumed.run, resumed.task, 'resumed/');
      try {
        const { position } = await resumed.restore(s2);
        const l2 = new TrainingLoop(s2, resumed.run, position, () => {});
        await l2.runToEnd(1);
      } finally {
        s2.dispose();
      }
    });
    const rawResume = await time(async () => {
      const bufs = await Promise.all(meta.parts.map((p) => opfs.read(meta.key, p.part)));
      const tensors = bufs.map((b) =>
        tf.tensor(new Float32Array(b.buffer, b.byteOffset, Math.floor(b.byteLength / 4))),
      );
      await Promise.all(tensors.map((t) => t.data()));
      tf.dispose(tensors);
    });

    return {
      params: paramCount(session.specs),
      backend: tf.getBackend(),
      bytesPerCheckpoint: bytes,
      endToEndMs: { opfs: endOpfs, idb: endIdb },
      opfs: { storeMs: opfsMs, rawMs: ro, ratio: opfsMs / ro },
      idb: { storeMs: idbMs, rawMs: ri, ratio: idbMs / ri },
      loopHeld: { heldMs, deviceReadMs, stepMs, ratio: heldMs / (deviceReadMs + stepMs) },
      resume: { toFirstStepMs: toFirstStep, rawReadAndUploadMs: rawResume, ratio: toFirstStep / rawResume },
    };
  } finally {
    session.dispose();
    await removeBenchData(run.run_id, opfs, idb);
  }
}
