import { describe, expect, it } from 'vitest';
import { createDualStore } from './dual-store';
import { requestPersistence, storageStatus } from './quota';
import { createOpfsStore } from './opfs-store';
import { bytes, counters, id, scratchIdb, scratchName } from './test-helpers';

// A real full disk without touching the origin's quota (test files run in parallel on one
// origin): a Storage Bucket with its own small quota, whose OPFS root the store writes into.
interface Bucket {
  getDirectory(): Promise<FileSystemDirectoryHandle>;
}
interface Buckets {
  open(name: string, options: { quota: number }): Promise<Bucket>;
  delete(name: string): Promise<void>;
}

async function smallBucket(quota = 512 * 1024) {
  const buckets = (navigator as Navigator & { storageBuckets: Buckets }).storageBuckets;
  const name = scratchName();
  const bucket = await buckets.open(name, { quota });
  const root = await bucket.getDirectory();
  return { store: createOpfsStore({ root }), cleanup: () => buckets.delete(name) };
}

function bigParts() {
  const big = bytes(4 * 1024 * 1024, 5);
  return { model: [big.subarray(0, 1 << 20), big.subarray(1 << 20)], optim: [bytes(1000, 6)] };
}

describe('a full disk', () => {
  // IndexedDB's full-disk case needs the origin's quota lowered, which would disturb the other
  // test files running beside this one; it belongs to the e2e suite (Playwright + CDP).
  it('OPFS: QuotaExceededError with the way out; earlier checkpoints stay, nothing half-written shows', async () => {
    const { store, cleanup } = await smallBucket();
    try {
      const old = await store.save(
        id(),
        { model: [bytes(1000, 1)], optim: [bytes(1000, 2)] },
        { counters: counters(1) },
      );
      const periodic = await store.save(
        id({ kind: 'periodic', epoch: 0, update: 1, sample: 4 }),
        { model: [bytes(1000, 3)] },
        { counters: counters(1) },
      );
      await expect(store.save(id(), bigParts(), { counters: counters(2) })).rejects.toMatchObject({
        name: 'QuotaExceededError',
        message: expect.stringMatching(/Delete old checkpoints.*free disk space/),
      });
      const listed = await store.list();
      expect(listed.map((m) => m.generation).sort()).toEqual([old.generation, periodic.generation].sort());
      expect(await store.read(old.key, 'model')).toEqual(bytes(1000, 1));
      expect(await store.read(old.key, 'optim')).toEqual(bytes(1000, 2));
      expect(await store.read(periodic.key, 'model')).toEqual(bytes(1000, 3));
      expect(await store.sweep()).toBe(0); // no staged file was left behind
    } finally {
      await cleanup();
    }
  });

  it('both: the copy that fits is kept and the failure is reported', async () => {
    const a = await smallBucket();
    const b = await scratchIdb();
    const store = createDualStore([a.store, b.store]);
    try {
      await store.save(id(), { model: [bytes(1000, 1)] }, { counters: counters(1) });
      const r = await store.save(id(), bigParts(), { counters: counters(2) });
      expect(r.stores).toEqual(['idb']);
      expect(r.failures).toEqual([{ store: 'opfs', error: expect.objectContaining({ name: 'QuotaExceededError' }) }]);
      const [listed] = await store.list();
      expect(listed.stores).toEqual(['idb']);
      expect(listed.counters).toEqual(counters(2));
      const got = await store.readWithSource(listed.key, 'optim');
      expect(got.servedBy).toBe('idb');
      expect(got.bytes).toEqual(bytes(1000, 6));
      // OPFS still holds the previous latest, complete, and never serves it as part of the new one.
      expect((await a.store.list()).map((m) => m.counters)).toEqual([counters(1)]);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });

  it('reports usage, quota and persistence', async () => {
    const s = await storageStatus();
    expect(s.quota).toBeGreaterThan(0);
    expect(typeof s.persisted).toBe('boolean');
    expect(typeof (await requestPersistence())).toBe('boolean');
  });
});
