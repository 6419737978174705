import { afterEach, describe, expect, it } from 'vitest';
import { cdp } from 'vitest/browser';
import { createDualStore } from './dual-store';
import { requestPersistence, storageStatus } from './quota';
import { bytes, counters, id, scratchIdb, scratchOpfs } from './test-helpers';

// A real full disk: Chromium's DevTools protocol lowers this origin's quota.
async function setQuota(quotaSize?: number): Promise<void> {
  await cdp().send('Storage.overrideQuotaForOrigin', { origin: location.origin, ...(quotaSize !== undefined ? { quotaSize } : {}) });
}

async function fillDisk(): Promise<void> {
  const { usage } = await storageStatus();
  await setQuota(usage + 256 * 1024);
}

function bigParts() {
  const big = bytes(4 * 1024 * 1024, 5);
  return { model: [big.subarray(0, 1 << 20), big.subarray(1 << 20)], optim: [bytes(1000, 6)] };
}

describe('a full disk', () => {
  afterEach(() => setQuota());

  // IndexedDB checks against a quota snapshot taken when its connection opened, so an override
  // made mid-test does not reach it; its full-disk case belongs to the e2e suite (Playwright + CDP).
  it('OPFS: QuotaExceededError with the way out; earlier checkpoints stay, nothing half-written shows', async () => {
    const { store, cleanup } = await scratchOpfs();
    try {
      const old = await store.save(id(), { model: [bytes(1000, 1)], optim: [bytes(1000, 2)] }, { counters: counters(1) });
      const periodic = await store.save(id({ kind: 'periodic', epoch: 0, update: 1, sample: 4 }), { model: [bytes(1000, 3)] }, { counters: counters(1) });
      await fillDisk();
      await expect(store.save(id(), bigParts(), { counters: counters(2) })).rejects.toMatchObject({
        name: 'QuotaExceededError',
        message: expect.stringMatching(/Delete old checkpoints.*free disk space/),
      });
      await setQuota();
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

  // Relies on the snapshot above: the IndexedDB copy still fits while OPFS is full.
  it('both: the copy that fits is kept and the failure is reported', async () => {
    const a = await scratchOpfs();
    const b = await scratchIdb();
    const store = createDualStore([a.store, b.store]);
    try {
      await store.save(id(), { model: [bytes(1000, 1)] }, { counters: counters(1) });
      await fillDisk();
      const r = await store.save(id(), bigParts(), { counters: counters(2) });
      await setQuota();
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
