/** Scratch stores for the browser tests: each test gets its own OPFS folder and database. */
import { deleteDB, type IDBPDatabase } from 'idb';
import { type CheckpointId, type CheckpointPart, tags } from '../naming';
import type { CrashAt } from './common';
import { createDualStore } from './dual-store';
import { type CheckpointDB, createIdbStore } from './idb-store';
import { createOpfsStore } from './opfs-store';

let n = 0;
export function scratchName(): string {
  return `t${Date.now().toString(36)}${(n++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export async function scratchOpfs(crashAt?: CrashAt) {
  const name = scratchName();
  const top = await navigator.storage.getDirectory();
  const root = await top.getDirectoryHandle(name, { create: true });
  return { store: createOpfsStore({ root, crashAt }), root, cleanup: () => top.removeEntry(name, { recursive: true }) };
}

export async function scratchIdb(opts: { chunkSize?: number; crashAt?: CrashAt } = {}) {
  const dbName = scratchName();
  return { store: createIdbStore({ dbName, ...opts }), dbName, cleanup: () => deleteDB(dbName) };
}

/** Both scratch stores behind one dual store, as the app uses them. */
export async function scratchDual(idbOpts: { chunkSize?: number } = {}) {
  const opfs = await scratchOpfs();
  const idb = await scratchIdb(idbOpts);
  return {
    store: createDualStore([opfs.store, idb.store]),
    opfs,
    idb,
    cleanup: async () => {
      await Promise.all([opfs.cleanup(), idb.cleanup()]);
    },
  };
}

export function id(tag = tags.latest(), patch: Partial<CheckpointId> = {}): CheckpointId {
  return { outputDir: 'runs', runId: 'run1', stageName: 'train', modelName: 'net', tag, ...patch };
}

/** Deterministic bytes, distinct per seed. */
export function bytes(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export const counters = (u: number) => ({ epoch: Math.floor(u / 10), update: u, sample: u * 4 });

/** Byte equality without toEqual, whose element-wise diff takes minutes on tens of MiB. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Flips one bit of an IndexedDB chunk record in place, whether it is a Blob (saves now) or an array (older saves). */
export async function flipIdbRecord(
  db: IDBPDatabase<CheckpointDB>,
  key: [string, CheckpointPart, number],
  at = 0,
): Promise<void> {
  const rec = (await db.get('chunks', key))!;
  const bytes = rec instanceof Blob ? new Uint8Array(await rec.arrayBuffer()) : rec;
  bytes[at] ^= 1;
  // Records come from this origin's own ArrayBuffers; the cast only narrows ArrayBufferLike.
  await db.put('chunks', rec instanceof Blob ? new Blob([bytes as Uint8Array<ArrayBuffer>]) : bytes, key);
}
