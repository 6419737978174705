// The checkpoint benchmark writes through the real stores and raw OPFS and IndexedDB; afterwards
// none of it is left: not its run, not the raw baselines' folder or database.
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createCheckpointStore } from '../checkpoint/store/dual-store';
import { BENCH_SIZES, RAW_IDB_NAME, RAW_OPFS_DIR, benchmarkCheckpoint } from './bench-checkpoint';

async function opfsHas(path: string[]): Promise<boolean> {
  let dir = await navigator.storage.getDirectory();
  for (const name of path) {
    try {
      dir = await dir.getDirectoryHandle(name);
    } catch {
      return false;
    }
  }
  return true;
}

it('removes everything it wrote', async () => {
  expect(BENCH_SIZES['40K']).toBeDefined();
  await tf.setBackend('cpu');
  const r = await benchmarkCheckpoint('40K', 1);
  // It did write: a checkpoint of the model's size, saved and timed in both stores.
  expect(r.params).toBeGreaterThan(30_000);
  expect(r.bytesPerCheckpoint).toBeGreaterThan(3 * 4 * r.params); // weights and Adam's two moments, float32
  expect(r.opfs.rawMs).toBeGreaterThan(0);
  expect(r.idb.rawMs).toBeGreaterThan(0);
  // The old baselines beside the new, the IndexedDB floor the fastest of the shapes tried.
  expect(r.opfs.rawOld.rawMs).toBeGreaterThan(0);
  expect(r.idb.rawMs).toBe(Math.min(...Object.values(r.idb.rawShapesMs)));
  expect(Object.keys(r.idb.rawShapesMs).length).toBeGreaterThanOrEqual(2);
  // The resume was broken into the app's own stages.
  for (const stage of ['checkpoint:read', 'checkpoint:verify', 'resume:parse', 'resume:dataset', 'resume:upload'])
    expect(r.resume.stagesMs[stage], stage).toBeGreaterThanOrEqual(0);
  // tfjs saved the same model (its optimizer too, at this size) and loaded it back.
  const vs = r.vsTfjs;
  if ('error' in vs) throw new Error(`tfjs's save and load failed: ${vs.error}`);
  expect(vs.tfjsIncludesOptimizer).toBe(true);
  expect(vs.tfjsBytes).toBeGreaterThan(3 * 4 * 0.9 * r.params);
  expect(vs.saveRatio).toBeGreaterThan(0);
  expect(Object.keys(await tf.io.listModels())).not.toContain('indexeddb://bench-tfjs');

  expect(await opfsHas([RAW_OPFS_DIR])).toBe(false);
  expect(await opfsHas(['runs', 'bench-40K'])).toBe(false);
  expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(RAW_IDB_NAME);
  expect(await createCheckpointStore({ use: 'both' }).list({ runId: 'bench-40K' })).toEqual([]);
});

it('refuses a size it does not know, writing nothing', async () => {
  await expect(benchmarkCheckpoint('3B', 1)).rejects.toThrow(/no benchmark size 3B/);
});
