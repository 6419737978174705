import { describe, expect, it } from 'vitest';
import { openCheckpointDb } from './idb-store';
import { storeContract } from './store-contract';
import { bytes, counters, flipIdbRecord, id, sameBytes, scratchIdb } from './test-helpers';

describe('IndexedDB store', () => {
  storeContract(scratchIdb);

  it('stores a large part given as many chunks as one Blob record, and round-trips it', async () => {
    const { store, dbName, cleanup } = await scratchIdb();
    try {
      const big = bytes(33 * 1024 * 1024 + 5, 7);
      const chunks = [big.subarray(0, 1), big.subarray(1, 20 * 1024 * 1024), big.subarray(20 * 1024 * 1024)];
      const meta = await store.save(id(), { model: chunks }, { counters: counters(1) });
      const db = await openCheckpointDb(dbName);
      const records = await db.getAll('chunks');
      db.close();
      // Blobs: Chromium keeps their bytes beside the database instead of cloning them through it.
      expect(records.map((r) => (r instanceof Blob ? r.size : `array of ${r.byteLength}`))).toEqual([big.byteLength]);
      expect(sameBytes(await store.read(meta.key, 'model'), big)).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it('still reads a checkpoint stored as array records (written before Blob records)', async () => {
    const { store, dbName, cleanup } = await scratchIdb({ chunkSize: 16 });
    try {
      const b = bytes(40, 9);
      const meta = await store.save(id(), { model: [b] }, { counters: counters(1) });
      const db = await openCheckpointDb(dbName);
      // The same bytes, rewritten the old way: Uint8Array records of 16 bytes.
      for (const [i, at] of [0, 16, 32].entries()) await db.put('chunks', b.slice(at, at + 16), [meta.key, 'model', i]);
      expect((await db.getAll('chunks')).every((r) => r instanceof Uint8Array)).toBe(true);
      db.close();
      expect(await store.read(meta.key, 'model')).toEqual(b);
    } finally {
      await cleanup();
    }
  });

  it('splits at small chunk sizes exactly', async () => {
    const { store, cleanup } = await scratchIdb({ chunkSize: 7 });
    try {
      for (const size of [0, 1, 6, 7, 8, 14, 15, 100]) {
        const b = bytes(size, size);
        const meta = await store.save(
          id(),
          { model: [b.subarray(0, size >> 1), b.subarray(size >> 1)], trainer: [] },
          { counters: counters(size) },
        );
        expect(await store.read(meta.key, 'model')).toEqual(b);
        expect(await store.read(meta.key, 'trainer')).toEqual(new Uint8Array(0));
      }
    } finally {
      await cleanup();
    }
  });

  it('a damaged record gives ChecksumMismatchError', async () => {
    const { store, dbName, cleanup } = await scratchIdb({ chunkSize: 16 });
    try {
      const meta = await store.save(id(), { model: [bytes(40, 1)] }, { counters: counters(1) });
      const db = await openCheckpointDb(dbName);
      await flipIdbRecord(db, [meta.key, 'model', 1], 3);
      await expect(store.read(meta.key, 'model')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /SHA-256/,
      });
      await db.delete('chunks', [meta.key, 'model', 2]);
      await expect(store.read(meta.key, 'model')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /size/,
      });
      await db.delete('chunks', [meta.key, 'model', 0]);
      await db.delete('chunks', [meta.key, 'model', 1]);
      await expect(store.read(meta.key, 'model')).rejects.toMatchObject({ name: 'CheckpointCorruptError' });
      db.close();
    } finally {
      await cleanup();
    }
  });

  it('an interrupted save changes nothing; sweep removes orphan records', async () => {
    let crash = false;
    const { store, dbName, cleanup } = await scratchIdb({
      chunkSize: 8,
      crashAt: (step, i) => crash && step === 'chunks-put' && i === 2,
    });
    try {
      const old = await store.save(id(), { model: [bytes(30, 1)], optim: [bytes(30, 2)] }, { counters: counters(1) });
      crash = true;
      await expect(
        store.save(id(), { model: [bytes(30, 3)], optim: [bytes(30, 4)] }, { counters: counters(2) }),
      ).rejects.toThrow(/simulated crash/);
      const listed = await store.list();
      expect(listed.map((m) => m.generation)).toEqual([old.generation]);
      expect(await store.read(old.key, 'model')).toEqual(bytes(30, 1));
      expect(await store.read(old.key, 'optim')).toEqual(bytes(30, 2));
      const db = await openCheckpointDb(dbName);
      await db.put('chunks', bytes(3, 3), ['runs/run1/checkpoints/ghost_cp=last', 'model', 0]);
      db.close();
      expect(await store.sweep()).toBe(1);
      expect(await store.sweep()).toBe(0);
      expect(await store.read(old.key, 'model')).toEqual(bytes(30, 1));
    } finally {
      await cleanup();
    }
  });
});
