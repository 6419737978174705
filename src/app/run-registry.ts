/**
 * The page's memory of the run it is training, kept so that it survives a crash: if the app opens
 * and the last run was still marked as training, the tab died under it.
 *
 * localStorage is the page's synchronous copy, but Chromium writes it to disk lazily (seconds
 * after a change, and at most about once a minute): a killed browser loses what was not written
 * yet, such as a run started a minute ago. So every write is also mirrored into IndexedDB with
 * strict durability, and `restoreDurableCopy` brings the newer of the two back on opening.
 */
import { openDB, type IDBPDatabase } from 'idb';
import type { RunConfig } from '../shared/config';

const KEY = 'trainer.activeRun';
const AUTO_RESUME_KEY = 'trainer.autoResume';

export interface ActiveRun {
  runId: string;
  stageName?: string;
  modelName: string;
  config: RunConfig;
  /** The newest update the page saw, to say how many a crash lost. */
  lastUpdate: number;
  /** The newest checkpoint the page heard of. */
  lastCheckpoint?: string;
  state: 'training' | 'stopped' | 'done' | 'failed';
  /** When this copy was written (ms since the epoch): the newer of the two copies wins on opening. */
  writtenAt?: number;
}

const DB_NAME = 'trainer-registry';
const DB_STORE = 'kv';
let dbp: Promise<IDBPDatabase> | null = null;
const db = () =>
  (dbp ??= openDB(DB_NAME, 1, {
    upgrade: (d) => {
      d.createObjectStore(DB_STORE);
    },
  }));

/** Values waiting for the IndexedDB copy; one transaction at a time, the newest value of each key. */
const pending = new Map<string, unknown>();
let flushing: Promise<void> | null = null;

function mirror(key: string, value: unknown): void {
  pending.set(key, value);
  flushing ??= flush().finally(() => (flushing = null));
}

async function flush(): Promise<void> {
  try {
    while (pending.size > 0) {
      const entries = [...pending];
      pending.clear();
      const tx = (await db()).transaction(DB_STORE, 'readwrite', { durability: 'strict' });
      for (const [k, v] of entries) void tx.store.put(v, k);
      await tx.done;
    }
  } catch (e) {
    // No IndexedDB (private mode, full disk): localStorage alone, as before.
    pending.clear();
    console.warn('crash-recovery record not mirrored:', e);
  }
}

/**
 * On opening: where the durable copy is newer than localStorage (the browser was killed before
 * localStorage reached the disk), it becomes the page's copy again.
 */
export async function restoreDurableCopy(): Promise<void> {
  try {
    const d = await db();
    const [run, autoResume] = await Promise.all([
      d.get(DB_STORE, KEY) as Promise<ActiveRun | undefined>,
      d.get(DB_STORE, AUTO_RESUME_KEY) as Promise<string | undefined>,
    ]);
    const local = readActiveRun();
    if (run && (!local || (local.writtenAt ?? 0) < (run.writtenAt ?? 0)))
      localStorage.setItem(KEY, JSON.stringify(run));
    if (autoResume && localStorage.getItem(AUTO_RESUME_KEY) === null) localStorage.setItem(AUTO_RESUME_KEY, autoResume);
  } catch (e) {
    console.warn('crash-recovery record: the durable copy was not read:', e);
  }
}

export function readActiveRun(): ActiveRun | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as ActiveRun) : null;
  } catch {
    return null;
  }
}

export function writeActiveRun(run: ActiveRun): void {
  const record = { ...run, writtenAt: Date.now() };
  mirror(KEY, record);
  try {
    localStorage.setItem(KEY, JSON.stringify(record));
  } catch {
    // A full disk must not stop training; the crash banner is what is lost.
  }
}

export function updateActiveRun(patch: Partial<ActiveRun>): void {
  const current = readActiveRun();
  if (current) writeActiveRun({ ...current, ...patch });
}

/** 'auto' resumes a crashed run at once; 'prompt' asks first. */
export function autoResumeSetting(): 'auto' | 'prompt' {
  return localStorage.getItem(AUTO_RESUME_KEY) === 'prompt' ? 'prompt' : 'auto';
}

/** Set by the page's "after a crash" control. */
export function setAutoResume(value: 'auto' | 'prompt'): void {
  mirror(AUTO_RESUME_KEY, value);
  localStorage.setItem(AUTO_RESUME_KEY, value);
}

/** Whether another tab holds the run's Web Lock (it is training there). */
export async function runIsLockedElsewhere(runId: string): Promise<boolean> {
  if (!navigator.locks) return false;
  const { held = [] } = await navigator.locks.query();
  return held.some((l) => l.name === `run:${runId}`);
}
