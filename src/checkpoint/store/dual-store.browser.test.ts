import { describe, expect, it } from 'vitest';
import { checkpointFileName, tags } from '../naming';
import { createCheckpointStore, createDualStore } from './dual-store';
import { openCheckpointDb } from './idb-store';
import { storeContract } from './store-contract';
import { bytes, counters, id, scratchIdb, scratchOpfs } from './test-helpers';

async function scratchDual() {
  const a = await scratchOpfs();
  const b = await scratchIdb({ chunkSize: 64 });
  return { store: createDualStore([a.store, b.store]), opfs: a, idb: b, cleanup: () => Promise.all([a.cleanup(), b.cleanup()]) };
}

async function flipInOpfs(root: FileSystemDirectoryHandle, name: string): Promise<void> {
  let d = root;
  for (const s of 'runs/run1/train/checkpoints'.split('/')) d = await d.getDirectoryHandle(s);
  const h = await d.getFileHandle(name);
  const b = new Uint8Array(await (await h.getFile()).arrayBuffer());
  b[b.length >> 1] ^= 0xff;
  const w = await h.createWritable();
  await w.write(b);
  await w.close();
}

describe('dual store', () => {
  storeContract(scratchDual);

  it('writes both and says so; list says which stores hold each checkpoint', async () => {
    const { store, opfs, idb, cleanup } = await scratchDual();
    try {
      const r = await store.save(id(), { model: [bytes(200, 1)] }, { counters: counters(1) });
      expect(r.stores).toEqual(['opfs', 'idb']);
      expect(r.failures).toEqual([]);
      const [o] = await opfs.store.list();
      const [i] = await idb.store.list();
      expect(o).toEqual(i); // one save, one generation, the same metadata in both
      expect((await store.list()).map((m) => m.stores)).toEqual([['opfs', 'idb']]);
      await idb.store.delete(r.key);
      expect((await store.list()).map((m) => m.stores)).toEqual([['opfs']]);
    } finally {
      await cleanup();
    }
  });

  it('a damaged OPFS copy is passed over and IndexedDB serves; and the other way round', async () => {
    const { store, opfs, idb, cleanup } = await scratchDual();
    try {
      const r = await store.save(id(), { model: [bytes(200, 1)], optim: [bytes(300, 2)] }, { counters: counters(1) });
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'model'));
      await expect(opfs.store.read(r.key, 'model')).rejects.toMatchObject({ name: 'ChecksumMismatchError' });
      const got = await store.readWithSource(r.key, 'model');
      expect(got.bytes).toEqual(bytes(200, 1));
      expect(got.servedBy).toBe('idb');
      expect(got.failures).toEqual([{ store: 'opfs', error: expect.objectContaining({ name: 'ChecksumMismatchError' }) }]);
      expect((await store.readWithSource(r.key, 'optim')).servedBy).toBe('opfs');

      const db = await openCheckpointDb(idb.dbName);
      const rec = (await db.get('chunks', [r.key, 'optim', 1]))!;
      rec[0] ^= 1;
      await db.put('chunks', rec, [r.key, 'optim', 1]);
      db.close();
      await expect(idb.store.read(r.key, 'optim')).rejects.toMatchObject({ name: 'ChecksumMismatchError' });
      expect((await store.readWithSource(r.key, 'optim')).servedBy).toBe('opfs');

      // Both copies damaged: nothing is served.
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'optim'));
      await expect(store.read(r.key, 'optim')).rejects.toMatchObject({ name: 'ChecksumMismatchError', message: /opfs: .*idb: / });
    } finally {
      await cleanup();
    }
  });

  it('a missing copy: the other serves', async () => {
    const { store, opfs, idb, cleanup } = await scratchDual();
    try {
      const a = await store.save(id(tags.last()), { model: [bytes(10, 1)] }, { counters: counters(1) });
      const b = await store.save(id(tags.best('loss')), { model: [bytes(10, 2)] }, { counters: counters(1) });
      await opfs.store.delete(a.key);
      await idb.store.delete(b.key);
      expect(await store.readWithSource(a.key, 'model')).toMatchObject({ servedBy: 'idb', bytes: bytes(10, 1) });
      expect(await store.readWithSource(b.key, 'model')).toMatchObject({ servedBy: 'opfs', bytes: bytes(10, 2) });
      await opfs.store.delete(b.key);
      await expect(store.read(b.key, 'model')).rejects.toMatchObject({ name: 'CheckpointNotFoundError' });
    } finally {
      await cleanup();
    }
  });

  it('never mixes an older copy into a newer checkpoint', async () => {
    const { store, opfs, cleanup } = await scratchDual();
    try {
      await store.save(id(), { model: [bytes(50, 1)], optim: [bytes(50, 2)] }, { counters: counters(1) });
      // Only OPFS gets the next latest (as if IndexedDB's save had failed).
      await opfs.store.save(id(), { model: [bytes(50, 3)], optim: [bytes(50, 4)] }, { counters: counters(2), createdAt: Date.now() + 1000 });
      const [m] = await store.list();
      expect(m.counters).toEqual(counters(2));
      expect(m.stores).toEqual(['opfs']);
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'optim'));
      expect(await store.read(m.key, 'model')).toEqual(bytes(50, 3));
      // IndexedDB's optim is from the older save: it must not stand in for the damaged new one.
      await expect(store.read(m.key, 'optim')).rejects.toMatchObject({ name: 'ChecksumMismatchError', message: /older copy/ });
    } finally {
      await cleanup();
    }
  });

  it('createCheckpointStore picks the stores', async () => {
    expect(createCheckpointStore().stores.map((s) => s.kind)).toEqual(['opfs', 'idb']);
    expect(createCheckpointStore({ use: 'idb' }).kind).toBe('idb');
    expect(createCheckpointStore({ use: 'opfs' }).stores.map((s) => s.kind)).toEqual(['opfs']);
  });
});
