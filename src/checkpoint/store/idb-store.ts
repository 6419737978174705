/**
 * Checkpoints in IndexedDB. The key is the same path string as in OPFS. Metadata lives in its
 * own object store so listing never touches the bytes; parts are stored as Blobs, in records of
 * at most `chunkSize` bytes.
 * A save is one readwrite transaction, so it is atomic by itself.
 */
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';
import { TrainerError } from '../../shared/errors';
import {
  type CheckpointPart,
  parseCheckpointKey,
  validateOutputDir,
  validateRunId,
  validateStageName,
} from '../naming';
import {
  checksumMismatch,
  type CrashAt,
  describeSave,
  givenParts,
  notFound,
  replacedSince,
  SerialQueue,
  matchesFilter,
  measureStage,
  SimulatedCrash,
  stage,
} from './common';
import { toStorageError } from './quota';
import { checksumName, verifyPart } from './checksum';
import type { CheckpointMeta, CheckpointParts, CheckpointStore, ListFilter, SaveInfo } from './types';

/** The database's whole shape. */
export interface CheckpointDB extends DBSchema {
  /** One record per complete checkpoint, keyed by checkpointKey(id). */
  meta: {
    key: string;
    value: CheckpointMeta;
    indexes: { byRun: string };
  };
  /**
   * A part's bytes in order: key [checkpointKey, part, index]. Saves write Blobs; databases
   * written before them hold Uint8Arrays, which are still read.
   */
  chunks: {
    key: [string, CheckpointPart, number];
    value: Blob | Uint8Array;
  };
}

export const DEFAULT_DB_NAME = 'checkpoints';
/**
 * Largest record in bytes. Records are Blobs, whose bytes live outside the value (Chromium's
 * limit of about 127 MiB per value is for cloned bytes, not Blobs), so a part of a 20M-parameter
 * model is one record.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024 * 1024;

export interface IdbStoreOptions {
  /** Database name; tests use their own. */
  dbName?: string;
  /** Largest record in bytes (default 1 GiB). */
  chunkSize?: number;
  /** Test hook: returning true aborts the save's transaction, as a crash before commit would. */
  crashAt?: CrashAt;
}

/**
 * Opens (and on first use creates) the checkpoint database. The connection closes itself when
 * another wants to upgrade or delete the database, so a newer tab is never blocked by an older.
 */
export function openCheckpointDb(name = DEFAULT_DB_NAME, onClose?: () => void): Promise<IDBPDatabase<CheckpointDB>> {
  const dbp = openDB<CheckpointDB>(name, 1, {
    upgrade(db) {
      const meta = db.createObjectStore('meta', { keyPath: 'key' });
      meta.createIndex('byRun', 'id.runId');
      db.createObjectStore('chunks');
    },
    blocking() {
      void dbp.then((db) => db.close());
      onClose?.();
    },
    terminated() {
      onClose?.();
    },
  });
  return dbp;
}

/** Every chunk key of one checkpoint, or of one of its parts. */
function chunkRange(key: string, part?: CheckpointPart): IDBKeyRange {
  // Arrays sort after numbers and strings, so [key, []] bounds every [key, part, n] from above.
  return part === undefined
    ? IDBKeyRange.bound([key], [key, []])
    : IDBKeyRange.bound([key, part, 0], [key, part, Infinity]);
}

/** Creates the IndexedDB checkpoint store. */
export function createIdbStore(options: IdbStoreOptions = {}): CheckpointStore {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const crashAt = options.crashAt ?? (() => false);
  const queue = new SerialQueue();
  let dbp: Promise<IDBPDatabase<CheckpointDB>> | undefined;
  // Reopened on next use after the browser or another connection closed it.
  const db = () => (dbp ??= openCheckpointDb(options.dbName, () => (dbp = undefined)));

  async function save(
    id: Parameters<CheckpointStore['save']>[0],
    parts: CheckpointParts,
    info: SaveInfo,
  ): Promise<CheckpointMeta> {
    const describing = describeSave(id, parts, info);
    describing.catch(() => undefined); // awaited below
    const given = givenParts(parts);
    return queue.run(async () => {
      // Blob records: Chromium stores a Blob's bytes as a file beside the database instead of
      // cloning them through LevelDB, several times faster for large parts. Each part's Blob is
      // built from its chunks (no join in JS) while the hashing runs off the thread.
      const blobs = given.map(
        ([part, chunks]) => [part, new Blob([...(chunks as Uint8Array<ArrayBuffer>[])])] as const,
      );
      // Awaited before the transaction opens: an await on anything but IndexedDB inside it would let it commit.
      const meta = await describing;
      const d = await db();
      const tx = d.transaction(['meta', 'chunks'], 'readwrite');
      const chunks = tx.objectStore('chunks');
      const pending: Promise<unknown>[] = [chunks.delete(chunkRange(meta.key))];
      try {
        let puts = 0;
        for (const [part, blob] of blobs) {
          // In slices of at most chunkSize bytes (slices share the Blob's bytes).
          let index = 0;
          for (let at = 0; at < blob.size || index === 0; at += chunkSize) {
            pending.push(chunks.put(blob.slice(at, at + chunkSize), [meta.key, part, index++]));
            if (crashAt('chunks-put', puts++)) throw new SimulatedCrash('chunks-put');
          }
        }
        pending.push(tx.objectStore('meta').put(meta));
      } catch (e) {
        tx.abort();
        await Promise.allSettled([...pending, tx.done]);
        throw e;
      }
      try {
        await Promise.all([...pending, tx.done]);
      } catch (e) {
        // A failed transaction changed nothing: the previous checkpoint under this key is intact.
        throw await toStorageError(tx.error ?? e, `save checkpoint ${meta.key}`);
      }
      return meta;
    });
  }

  async function list(filter: ListFilter = {}): Promise<CheckpointMeta[]> {
    const d = await db();
    const all =
      filter.runId !== undefined ? await d.getAllFromIndex('meta', 'byRun', filter.runId) : await d.getAll('meta');
    return all
      .filter((m) => matchesFilter(m, filter))
      .sort((a, b) => a.createdAt - b.createdAt || (a.key < b.key ? -1 : 1));
  }

  async function stat(key: string): Promise<CheckpointMeta | undefined> {
    parseCheckpointKey(key);
    return (await db()).get('meta', key);
  }

  async function read(key: string, part: CheckpointPart, expected?: CheckpointMeta): Promise<Uint8Array> {
    parseCheckpointKey(key);
    const d = await db();
    const tx = d.transaction(['meta', 'chunks'], 'readonly');
    const meta = await tx.objectStore('meta').get(key);
    if (!meta) throw notFound('IndexedDB', key);
    if (expected && meta.generation !== expected.generation) throw replacedSince(key, 'IndexedDB');
    const want = meta.parts.find((p) => p.part === part);
    if (!want) throw notFound('IndexedDB', key, part);
    // Records are collected as the cursor walks (nothing else may be awaited inside the
    // transaction); array records (databases written before Blobs) are copied at once into one
    // buffer of the recorded size, so only one chunk is extra; Blob records are read afterwards.
    let out: Uint8Array | undefined;
    const buffer = () => (out ??= new Uint8Array(want.size));
    const blobs: [Blob, number][] = [];
    let at = 0;
    let records = 0;
    let tooLong = false;
    const t0 = performance.now();
    for (let cur = await tx.objectStore('chunks').openCursor(chunkRange(key, part)); cur; cur = await cur.continue()) {
      const v = cur.value;
      records++;
      const size = v instanceof Blob ? v.size : v.byteLength;
      if (at + size > want.size) {
        tooLong = true;
        break;
      }
      if (v instanceof Blob) blobs.push([v, at]);
      else buffer().set(v, at);
      at += size;
    }
    await tx.done;
    if (records === 0) {
      throw new TrainerError(
        'CheckpointCorruptError',
        `The ${part} part of checkpoint ${key} in IndexedDB is missing; it will not be loaded.`,
      );
    }
    if (tooLong || at !== want.size) throw checksumMismatch('IndexedDB', key, part, `size differs from ${want.size}`);
    let bytes: Uint8Array | undefined;
    for (const [b, offset] of blobs) {
      const got = new Uint8Array(await b.arrayBuffer());
      if (got.byteLength !== b.size) throw checksumMismatch('IndexedDB', key, part, 'a record was cut short');
      // A part stored as one record needs no copy.
      if (records === 1) bytes = got;
      else buffer().set(got, offset);
    }
    bytes ??= buffer();
    measureStage('checkpoint:read', t0);
    const whole = bytes;
    if (!(await stage('checkpoint:verify', () => verifyPart(want, whole))))
      throw checksumMismatch('IndexedDB', key, part, `${checksumName(want)} differs`);
    return bytes;
  }

  /** Deletes the checkpoints the predicate picks, all in one transaction. */
  async function deleteWhere(runId: string | undefined, pick: (m: CheckpointMeta) => boolean): Promise<void> {
    await queue.run(async () => {
      const d = await db();
      const tx = d.transaction(['meta', 'chunks'], 'readwrite');
      const metaStore = tx.objectStore('meta');
      const metas = runId !== undefined ? await metaStore.index('byRun').getAll(runId) : await metaStore.getAll();
      const ops: Promise<unknown>[] = [];
      for (const m of metas.filter(pick))
        ops.push(metaStore.delete(m.key), tx.objectStore('chunks').delete(chunkRange(m.key)));
      await Promise.all([...ops, tx.done]);
    });
  }

  async function deleteKey(key: string): Promise<void> {
    parseCheckpointKey(key);
    await queue.run(async () => {
      const d = await db();
      const tx = d.transaction(['meta', 'chunks'], 'readwrite');
      await Promise.all([
        tx.objectStore('meta').delete(key),
        tx.objectStore('chunks').delete(chunkRange(key)),
        tx.done,
      ]);
    });
  }

  async function deleteStage(runId: string, stageName?: string, outputDir?: string): Promise<void> {
    validateRunId(runId);
    if (stageName !== undefined) validateStageName(stageName);
    if (outputDir !== undefined) validateOutputDir(outputDir);
    await deleteWhere(
      runId,
      (m) => m.id.stageName === stageName && (outputDir === undefined || m.id.outputDir === outputDir),
    );
  }

  async function deleteRun(runId: string, outputDir?: string): Promise<void> {
    validateRunId(runId);
    if (outputDir !== undefined) validateOutputDir(outputDir);
    await deleteWhere(runId, (m) => outputDir === undefined || m.id.outputDir === outputDir);
  }

  async function sweep(): Promise<number> {
    // Saves are atomic here, so only damage can leave chunks without metadata; remove those.
    return queue.run(async () => {
      const d = await db();
      const tx = d.transaction(['meta', 'chunks'], 'readwrite');
      const keys = new Set(await tx.objectStore('meta').getAllKeys());
      const orphans = new Set<string>();
      for (let cur = await tx.objectStore('chunks').openKeyCursor(); cur; cur = await cur.continue()) {
        const [key, part] = cur.key;
        if (!keys.has(key)) orphans.add(JSON.stringify([key, part]));
      }
      const ops: Promise<unknown>[] = [];
      for (const o of orphans) {
        const [key, part] = JSON.parse(o) as [string, CheckpointPart];
        ops.push(tx.objectStore('chunks').delete(chunkRange(key, part)));
      }
      await Promise.all([...ops, tx.done]);
      return orphans.size;
    });
  }

  return { kind: 'idb', save, list, stat, read, delete: deleteKey, deleteStage, deleteRun, sweep };
}
