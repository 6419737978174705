import { describe, expect, it } from 'vitest';
import { checkpointFileName, tags } from '../naming';
import { createCheckpointStore, createDualStore } from './dual-store';
import { openCheckpointDb } from './idb-store';
import { manifestFileName } from './opfs-store';
import { nativeSha256Hex } from './sha256';
import type { CheckpointStore } from './types';
import { storeContract } from './store-contract';
import {
  bytes,
  counters,
  flipIdbRecord,
  id,
  scratchDual as scratchWithBoth,
  scratchIdb,
  scratchOpfs,
} from './test-helpers';

const scratchDual = () => scratchWithBoth({ chunkSize: 64 });

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
      expect(got.failures).toEqual([
        { store: 'opfs', error: expect.objectContaining({ name: 'ChecksumMismatchError' }) },
      ]);
      expect((await store.readWithSource(r.key, 'optim')).servedBy).toBe('opfs');

      const db = await openCheckpointDb(idb.dbName);
      await flipIdbRecord(db, [r.key, 'optim', 1]);
      db.close();
      await expect(idb.store.read(r.key, 'optim')).rejects.toMatchObject({ name: 'ChecksumMismatchError' });
      expect((await store.readWithSource(r.key, 'optim')).servedBy).toBe('opfs');

      // Both copies damaged: nothing is served.
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'optim'));
      await expect(store.read(r.key, 'optim')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /opfs: .*idb: /,
      });
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
      await opfs.store.save(
        id(),
        { model: [bytes(50, 3)], optim: [bytes(50, 4)] },
        { counters: counters(2), createdAt: Date.now() + 1000 },
      );
      const [m] = await store.list();
      expect(m.counters).toEqual(counters(2));
      expect(m.stores).toEqual(['opfs']);
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'optim'));
      expect(await store.read(m.key, 'model')).toEqual(bytes(50, 3));
      // IndexedDB's optim is from the older save: it must not stand in for the damaged new one.
      await expect(store.read(m.key, 'optim')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /older copy/,
      });
    } finally {
      await cleanup();
    }
  });

  it('repair rewrites a damaged copy from the intact one, under the same generation, and says which and why', async () => {
    const { store, opfs, idb, cleanup } = await scratchDual();
    try {
      const r = await store.save(id(), { model: [bytes(200, 1)], optim: [bytes(300, 2)] }, { counters: counters(3) });
      expect(await store.repair(r.key)).toEqual([]); // nothing wrong: nothing written
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'optim'));
      const fixed = await store.repair(r.key);
      expect(fixed).toEqual([
        { key: r.key, store: 'opfs', error: expect.objectContaining({ name: 'ChecksumMismatchError' }) },
      ]);
      expect(await opfs.store.read(r.key, 'optim')).toEqual(bytes(300, 2));
      const [o] = await opfs.store.list();
      const [i] = await idb.store.list();
      expect(o).toEqual(i);

      // Both copies of one part damaged: nothing to repair from, and nothing is written.
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'model'));
      const db = await openCheckpointDb(idb.dbName);
      await flipIdbRecord(db, [r.key, 'model', 0]);
      db.close();
      await expect(store.repair(r.key)).rejects.toMatchObject({ name: 'ChecksumMismatchError' });
      await expect(opfs.store.read(r.key, 'model')).rejects.toMatchObject({ name: 'ChecksumMismatchError' });
    } finally {
      await cleanup();
    }
  });

  it('mirrorMissing copies back what one store lost, and an older copy is replaced by the newer', async () => {
    const { store, opfs, idb, cleanup } = await scratchDual();
    try {
      const saved = [];
      for (const [u, tag] of [
        [10, tags.periodic(1, 10, 40)],
        [20, tags.periodic(2, 20, 80)],
        [20, tags.latest()],
      ] as const) {
        saved.push(
          await store.save(id(tag), { model: [bytes(100, u)], trainer: [bytes(20, u + 1)] }, { counters: counters(u) }),
        );
      }
      // OPFS loses everything.
      await opfs.store.deleteRun('run1');
      const back = await store.mirrorMissing({ runId: 'run1' });
      expect(back.map((b) => [b.key, b.store, b.error.name]).sort()).toEqual(
        saved.map((m) => [m.key, 'opfs', 'CheckpointNotFoundError']).sort(),
      );
      for (const m of saved) {
        expect((await store.stat(m.key))!.stores, m.key).toEqual(['opfs', 'idb']);
        expect(await opfs.store.read(m.key, 'model')).toEqual(await idb.store.read(m.key, 'model'));
      }
      // A newer `latest` reached OPFS only (a crash between the two writes): IndexedDB's older copy is replaced.
      const newer = await opfs.store.save(
        id(tags.latest()),
        { model: [bytes(100, 30)], trainer: [bytes(20, 31)] },
        { counters: counters(30), createdAt: Date.now() + 1000 },
      );
      expect(await store.mirrorMissing({ runId: 'run1' })).toEqual([
        {
          key: newer.key,
          store: 'idb',
          error: expect.objectContaining({ message: expect.stringContaining('older copy') }),
        },
      ]);
      expect(await idb.store.read(newer.key, 'model')).toEqual(bytes(100, 30));
      expect((await idb.store.stat(newer.key))!.generation).toBe(newer.generation);
      expect(await store.mirrorMissing({ runId: 'run1' })).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it("mirrorMissing takes a caller's fresh listing instead of listing again, within its filter", async () => {
    const { store, opfs, cleanup } = await scratchDual();
    try {
      const a = await store.save(id(tags.periodic(1, 10, 40)), { model: [bytes(50, 1)] }, { counters: counters(10) });
      const b = await store.save(
        id(tags.periodic(1, 10, 40), { stageName: 'other' }),
        { model: [bytes(50, 2)] },
        { counters: counters(10) },
      );
      await opfs.store.delete(a.key);
      await opfs.store.delete(b.key);
      const listed = await store.list({ runId: 'run1' });
      // Only what the listing names and the filter admits is copied back (b is another stage).
      const back = await store.mirrorMissing({ runId: 'run1', stageName: 'train' }, { listed });
      expect(back.map((r) => [r.key, r.store])).toEqual([[a.key, 'opfs']]);
      // A listing that leaves a checkpoint out: it is not looked at.
      expect(await store.mirrorMissing({ runId: 'run1' }, { listed: [] })).toEqual([]);
      expect((await store.stat(b.key))!.stores).toEqual(['idb']);
    } finally {
      await cleanup();
    }
  });

  it('createCheckpointStore picks the stores', async () => {
    expect(createCheckpointStore().stores.map((s) => s.kind)).toEqual(['opfs', 'idb']);
    expect(createCheckpointStore({ use: 'idb' }).kind).toBe('idb');
    expect(createCheckpointStore({ use: 'opfs' }).stores.map((s) => s.kind)).toEqual(['opfs']);
  });

  it('reads checkpoints recorded with SHA-256 (saved before XXH64), refuses a damaged one, and repairs beside them', async () => {
    const { store, opfs, idb, cleanup } = await scratchDual();
    try {
      const parts = { model: [bytes(200, 1)], optim: [bytes(300, 2)] };
      const r = await store.save(id(), parts, { counters: counters(1) });
      expect(r.parts.every((p) => /^[0-9a-f]{16}$/.test(p.xxh64 ?? ''))).toBe(true);
      // Rewrite both copies' records as an older version of the app wrote them: SHA-256, no XXH64.
      const legacy = await Promise.all(
        r.parts.map(async ({ xxh64: _x, ...p }) => ({
          ...p,
          sha256: await nativeSha256Hex(parts[p.part as 'model' | 'optim'][0]),
        })),
      );
      const { stores: _s, failures: _f, ...meta } = r;
      let dir = opfs.root;
      for (const seg of 'runs/run1/train/checkpoints'.split('/')) dir = await dir.getDirectoryHandle(seg);
      const w = await (
        await dir.getFileHandle(manifestFileName(r.key.slice(r.key.lastIndexOf('/') + 1)))
      ).createWritable();
      await w.write(JSON.stringify({ format: 1, ...meta, parts: legacy }));
      await w.close();
      const db = await openCheckpointDb(idb.dbName);
      await db.put('meta', { ...meta, parts: legacy });
      db.close();

      expect((await store.list()).map((m) => [m.parts[0].sha256 !== undefined, m.stores])).toEqual([
        [true, ['opfs', 'idb']],
      ]);
      expect(await opfs.store.read(r.key, 'model')).toEqual(bytes(200, 1));
      expect(await idb.store.read(r.key, 'optim')).toEqual(bytes(300, 2));
      await flipInOpfs(opfs.root, checkpointFileName(id(), 'model'));
      await expect(opfs.store.read(r.key, 'model')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /SHA-256 differs/,
      });
      expect(await store.readWithSource(r.key, 'model')).toMatchObject({ servedBy: 'idb', bytes: bytes(200, 1) });
      // The repair rewrites the damaged copy (recorded with XXH64 now); the two copies, one recorded
      // each way, are one save (same generation) and are listed as such.
      const repaired = await store.repair(r.key);
      expect(repaired.map((x) => [x.store, x.error.name])).toEqual([['opfs', 'ChecksumMismatchError']]);
      const [o] = await opfs.store.list();
      expect(o.parts.every((p) => p.xxh64 !== undefined && p.sha256 === undefined)).toBe(true);
      expect((await store.list()).map((m) => m.stores)).toEqual([['opfs', 'idb']]);
      expect(await opfs.store.read(r.key, 'model')).toEqual(bytes(200, 1));
    } finally {
      await cleanup();
    }
  });

  it("repair after a resume's reads reads only the copies the resume did not, and still finds their damage", async () => {
    const a = await scratchOpfs();
    const b = await scratchIdb();
    const reads: string[] = [];
    const counting = (s: CheckpointStore): CheckpointStore => ({
      ...s,
      read: (key, part) => {
        reads.push(`${s.kind}:${part}`);
        return s.read(key, part);
      },
    });
    const store = createDualStore([counting(a.store), counting(b.store)]);
    try {
      const r = await store.save(id(), { model: [bytes(200, 1)], optim: [bytes(300, 2)] }, { counters: counters(1) });
      // Two parts read together, as a resume reads them.
      const [model, optim] = await Promise.all([
        store.readWithSource(r.key, 'model'),
        store.readWithSource(r.key, 'optim'),
      ]);
      expect(reads.sort()).toEqual(['opfs:model', 'opfs:optim']);
      reads.length = 0;
      expect(await store.repair(r.key, { model, optim })).toEqual([]);
      expect(reads.sort()).toEqual(['idb:model', 'idb:optim']);

      const db = await openCheckpointDb(b.dbName);
      await flipIdbRecord(db, [r.key, 'optim', 0]);
      db.close();
      reads.length = 0;
      const repaired = await store.repair(r.key, { model, optim });
      expect(repaired.map((x) => [x.store, x.error.name])).toEqual([['idb', 'ChecksumMismatchError']]);
      expect(reads.sort()).toEqual(['idb:model', 'idb:optim']);
      expect(await b.store.read(r.key, 'optim')).toEqual(bytes(300, 2));

      // Reads of an older save are not taken as this one's.
      const newer = await store.save(
        id(),
        { model: [bytes(200, 3)], optim: [bytes(300, 4)] },
        { counters: counters(2) },
      );
      reads.length = 0;
      expect(await store.repair(newer.key, { model, optim })).toEqual([]);
      expect(reads.sort()).toEqual(['idb:model', 'idb:optim', 'opfs:model', 'opfs:optim']);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });
});
