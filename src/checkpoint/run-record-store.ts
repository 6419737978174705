/**
 * Where a run's record (its name, task, model, date) and its metrics logs live, in both stores,
 * beside its checkpoints but apart from the checkpoint stores' own data:
 * - OPFS: `<output_dir>/<run_id>/run.json` and `<output_dir>/<run_id>[/<stage>]/metrics.jsonl`
 *   (the checkpoint store lists only `checkpoints/` folders and leaves other files alone);
 * - IndexedDB: its own small database `run-records` (`runs` keyed by `<output_dir>/<run_id>`,
 *   `logs` as appended chunks of JSONL text, indexed by the stage's log key).
 * A log is append-only while a run trains (one append per flush); a resume or a compaction
 * rewrites it. Reading takes whichever store's copy holds more valid entries, so a torn or
 * missing copy in one store is served by the other. Safe to call from the page or the worker.
 */
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';
import type { StoreChoice } from '../shared/config';
import {
  LOG_FILE_NAME,
  MAX_LOG_BYTES,
  RUN_RECORD_FILE_NAME,
  boundLog,
  cleanRunName,
  formatLog,
  formatRunRecord,
  parseLog,
  parseRunRecord,
  type LogEntry,
  type ParsedLog,
  type RunRecord,
} from './run-log';
import { validateOutputDir, validateRunId, validateStageName } from './naming';

interface RunRecordDB extends DBSchema {
  runs: { key: string; value: RunRecord };
  logs: { key: number; value: { log: string; text: string }; indexes: { byLog: string } };
}

export const RUN_RECORD_DB = 'run-records';

export interface RunRecordStoreOptions {
  use?: StoreChoice;
  /** Database name; tests use their own. */
  dbName?: string;
  /** OPFS root folder; tests use their own. */
  root?: FileSystemDirectoryHandle;
}

export interface RunRecordStore {
  getRecord(outputDir: string, runId: string): Promise<RunRecord | undefined>;
  /** Every run with a record, in both stores (the newest copy of each). */
  listRecords(): Promise<RunRecord[]>;
  putRecord(r: RunRecord): Promise<void>;
  /** Renames a run (creates its record when it has none); returns the stored name. */
  rename(outputDir: string, runId: string, name: string, fallback?: Omit<RunRecord, 'name'>): Promise<string>;
  appendLog(
    outputDir: string,
    runId: string,
    stageName: string | undefined,
    entries: readonly LogEntry[],
  ): Promise<void>;
  replaceLog(
    outputDir: string,
    runId: string,
    stageName: string | undefined,
    entries: readonly LogEntry[],
  ): Promise<void>;
  readLog(outputDir: string, runId: string, stageName?: string): Promise<ParsedLog>;
  /** The raw text of a log as stored (for an export), bounded by MAX_LOG_BYTES; '' when there is none. */
  readLogText(outputDir: string, runId: string, stageName?: string): Promise<string>;
  deleteStage(outputDir: string, runId: string, stageName?: string): Promise<void>;
  deleteRun(outputDir: string, runId: string): Promise<void>;
}

const runKey = (outputDir: string, runId: string) => `${outputDir}/${runId}`;
const logKey = (outputDir: string, runId: string, stage?: string) => `${outputDir}/${runId}/${stage ?? ''}`;

function check(outputDir: string, runId: string, stage?: string): void {
  validateOutputDir(outputDir);
  validateRunId(runId);
  if (stage !== undefined) validateStageName(stage);
}

// ---- IndexedDB -------------------------------------------------------------------------------

function idbSide(dbName: string) {
  let dbp: Promise<IDBPDatabase<RunRecordDB>> | null = null;
  const db = () => {
    dbp ??= openDB<RunRecordDB>(dbName, 1, {
      upgrade(d) {
        d.createObjectStore('runs');
        d.createObjectStore('logs', { autoIncrement: true }).createIndex('byLog', 'log');
      },
      blocking() {
        void dbp?.then((x) => x.close());
        dbp = null;
      },
    });
    return dbp;
  };
  return {
    async get(k: string) {
      return (await db()).get('runs', k);
    },
    async all() {
      return (await db()).getAll('runs');
    },
    async put(k: string, r: RunRecord) {
      await (await db()).put('runs', r, k);
    },
    async append(k: string, text: string) {
      await (await db()).add('logs', { log: k, text });
    },
    async replace(k: string, text: string) {
      const tx = (await db()).transaction('logs', 'readwrite');
      for (const key of await tx.store.index('byLog').getAllKeys(k)) await tx.store.delete(key);
      if (text) await tx.store.add({ log: k, text });
      await tx.done;
    },
    async text(k: string) {
      // Newest chunks first until the byte bound, so a hostile store cannot make the reader hold more.
      const tx = (await db()).transaction('logs');
      const parts: string[] = [];
      let size = 0;
      for (let c = await tx.store.index('byLog').openCursor(k, 'prev'); c; c = await c.continue()) {
        const t = typeof c.value.text === 'string' ? c.value.text : '';
        parts.push(t);
        size += t.length;
        if (size > MAX_LOG_BYTES) break;
      }
      await tx.done;
      return parts.reverse().join('');
    },
    async deletePrefix(prefix: string, recordKey?: string) {
      const tx = (await db()).transaction(['logs', 'runs'], 'readwrite');
      const logs = tx.objectStore('logs');
      for (let c = await logs.openCursor(); c; c = await c.continue())
        if (c.value.log.startsWith(prefix)) await c.delete();
      if (recordKey) await tx.objectStore('runs').delete(recordKey);
      await tx.done;
    },
  };
}

// ---- OPFS ------------------------------------------------------------------------------------

function opfsSide(rootOpt?: FileSystemDirectoryHandle) {
  const root = async () => rootOpt ?? navigator.storage.getDirectory();
  const dir = async (segments: string[], create: boolean) => {
    let d = await root();
    for (const s of segments) {
      try {
        d = await d.getDirectoryHandle(s, { create });
      } catch (e) {
        if (!create && (e as Error).name === 'NotFoundError') return undefined;
        throw e;
      }
    }
    return d;
  };
  const readFile = async (segments: string[], name: string): Promise<string | undefined> => {
    const d = await dir(segments, false);
    if (!d) return undefined;
    let f: File;
    try {
      f = await (await d.getFileHandle(name)).getFile();
    } catch (e) {
      if ((e as Error).name === 'NotFoundError') return undefined;
      throw e;
    }
    // Bounded: only the newest MAX_LOG_BYTES are read.
    return f.size > MAX_LOG_BYTES ? f.slice(f.size - MAX_LOG_BYTES).text() : f.text();
  };
  const write = async (segments: string[], name: string, text: string, append: boolean) => {
    const d = (await dir(segments, true))!;
    const h = await d.getFileHandle(name, { create: true });
    const w = await h.createWritable({ keepExistingData: append });
    try {
      if (append) await w.seek((await h.getFile()).size);
      await w.write(text);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    }
  };
  const remove = async (segments: string[], name: string) => {
    const d = await dir(segments, false);
    try {
      await d?.removeEntry(name);
    } catch (e) {
      if ((e as Error).name !== 'NotFoundError') throw e;
    }
  };
  return { readFile, write, remove, dir };
}

const stagePath = (outputDir: string, runId: string, stage?: string) => [outputDir, runId, ...(stage ? [stage] : [])];

/** The run records and logs, in the stores `use` names (default both). */
export function createRunRecordStore(opts: RunRecordStoreOptions = {}): RunRecordStore {
  const use = opts.use ?? 'both';
  const idb = use !== 'opfs' ? idbSide(opts.dbName ?? RUN_RECORD_DB) : null;
  const opfs = use !== 'idb' ? opfsSide(opts.root) : null;

  /** Runs every store's side; fails only when every store failed (the first error). */
  async function both(fns: (() => Promise<unknown>)[]): Promise<void> {
    const results = await Promise.allSettled(fns.map((f) => f()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length === results.length && failed.length > 0) throw failed[0].reason;
  }
  const sides = (i: () => Promise<unknown>, o: () => Promise<unknown>) => [...(idb ? [i] : []), ...(opfs ? [o] : [])];

  async function opfsRecord(outputDir: string, runId: string): Promise<RunRecord | undefined> {
    const text = await opfs?.readFile([outputDir, runId], RUN_RECORD_FILE_NAME).catch(() => undefined);
    if (!text) return undefined;
    try {
      return parseRunRecord(JSON.parse(text), outputDir, runId) ?? undefined;
    } catch {
      return undefined;
    }
  }

  const store: RunRecordStore = {
    async getRecord(outputDir, runId) {
      check(outputDir, runId);
      const a = await idb?.get(runKey(outputDir, runId)).catch(() => undefined);
      const fromIdb = a ? (parseRunRecord(a, outputDir, runId) ?? undefined) : undefined;
      return fromIdb ?? (await opfsRecord(outputDir, runId));
    },

    async listRecords() {
      const out = new Map<string, RunRecord>();
      for (const r of (await idb?.all().catch(() => [])) ?? []) {
        const p = parseRunRecord(r, r.outputDir, r.runId);
        if (p && typeof r.outputDir === 'string' && typeof r.runId === 'string')
          out.set(runKey(r.outputDir, r.runId), p);
      }
      if (opfs) {
        const rootDir = await opfs.dir([], false).catch(() => undefined);
        for await (const [outName, outH] of entriesOf(rootDir)) {
          if (outH.kind !== 'directory') continue;
          for await (const [runName, runH] of entriesOf(outH as FileSystemDirectoryHandle)) {
            if (runH.kind !== 'directory' || out.has(runKey(outName, runName))) continue;
            const r = await opfsRecord(outName, runName);
            if (r) out.set(runKey(outName, runName), r);
          }
        }
      }
      return [...out.values()];
    },

    async putRecord(r) {
      check(r.outputDir, r.runId);
      const rec = { ...r, name: cleanRunName(r.name) || r.runId };
      await both(
        sides(
          () => idb!.put(runKey(r.outputDir, r.runId), rec),
          () => opfs!.write([r.outputDir, r.runId], RUN_RECORD_FILE_NAME, formatRunRecord(rec), false),
        ),
      );
    },

    async rename(outputDir, runId, name, fallback) {
      const current = (await store.getRecord(outputDir, runId)) ?? {
        task: '',
        model: '',
        createdAt: Date.now(),
        ...fallback,
        outputDir,
        runId,
      };
      const clean = cleanRunName(name) || runId;
      await store.putRecord({ ...current, outputDir, runId, name: clean });
      return clean;
    },

    async appendLog(outputDir, runId, stage, entries) {
      check(outputDir, runId, stage);
      if (entries.length === 0) return;
      const text = formatLog(entries);
      await both(
        sides(
          () => idb!.append(logKey(outputDir, runId, stage), text),
          () => opfs!.write(stagePath(outputDir, runId, stage), LOG_FILE_NAME, text, true),
        ),
      );
    },

    async replaceLog(outputDir, runId, stage, entries) {
      check(outputDir, runId, stage);
      const text = formatLog(boundLog([...entries]));
      await both(
        sides(
          () => idb!.replace(logKey(outputDir, runId, stage), text),
          () => opfs!.write(stagePath(outputDir, runId, stage), LOG_FILE_NAME, text, false),
        ),
      );
    },

    async readLog(outputDir, runId, stage) {
      check(outputDir, runId, stage);
      const texts = await Promise.all([
        idb ? idb.text(logKey(outputDir, runId, stage)).catch(() => '') : Promise.resolve(''),
        opfs
          ? opfs
              .readFile(stagePath(outputDir, runId, stage), LOG_FILE_NAME)
              .then((t) => t ?? '')
              .catch(() => '')
          : Promise.resolve(''),
      ]);
      const parsed = texts.map(parseLog);
      // The copy with more valid entries wins: a copy that missed an append (a full disk in one store) is behind.
      return parsed[0].entries.length >= parsed[1].entries.length ? parsed[0] : parsed[1];
    },

    async readLogText(outputDir, runId, stage) {
      const log = await store.readLog(outputDir, runId, stage);
      return log.entries.length ? formatLog(log.entries) : '';
    },

    async deleteStage(outputDir, runId, stage) {
      check(outputDir, runId, stage);
      await both(
        sides(
          () => idb!.deletePrefix(logKey(outputDir, runId, stage)),
          async () => {
            await opfs!.remove(stagePath(outputDir, runId, stage), LOG_FILE_NAME);
            if (stage) await removeIfEmpty(await opfs!.dir([outputDir, runId], false), stage);
          },
        ),
      );
    },

    async deleteRun(outputDir, runId) {
      check(outputDir, runId);
      await both(
        sides(
          () => idb!.deletePrefix(`${runKey(outputDir, runId)}/`, runKey(outputDir, runId)),
          async () => {
            const runDir = await opfs!.dir([outputDir, runId], false);
            if (!runDir) return;
            await opfs!.remove([outputDir, runId], RUN_RECORD_FILE_NAME);
            await opfs!.remove([outputDir, runId], LOG_FILE_NAME);
            for await (const [name, h] of entriesOf(runDir)) {
              if (h.kind !== 'directory') continue;
              await opfs!.remove([outputDir, runId, name], LOG_FILE_NAME);
              await removeIfEmpty(runDir, name);
            }
            await removeIfEmpty(await opfs!.dir([outputDir], false), runId);
          },
        ),
      );
    },
  };
  return store;
}

// Chromium has had entries() on directory handles since OPFS shipped; TS's DOM lib lacks it.
type WithEntries = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };

async function* entriesOf(d: FileSystemDirectoryHandle | undefined): AsyncGenerator<[string, FileSystemHandle]> {
  if (!d) return;
  const all: [string, FileSystemHandle][] = [];
  for await (const e of (d as WithEntries).entries()) all.push(e);
  yield* all;
}

async function removeIfEmpty(parent: FileSystemDirectoryHandle | undefined, name: string): Promise<void> {
  if (!parent) return;
  try {
    const d = await parent.getDirectoryHandle(name);
    const it = entriesOf(d);
    if (!(await it.next()).done) return;
    await parent.removeEntry(name);
  } catch {
    // Gone already, or filled meanwhile: either way nothing to remove.
  }
}
