/**
 * Backend timings kept per device and model shape, in IndexedDB (the worker has no localStorage):
 * a resume, a recovery or a second run of the same shape reuses them instead of timing every
 * backend again, and the page reads them to estimate an epoch before Start.
 */
import { openDB, type IDBPDatabase } from 'idb';
import type { BackendName } from '../shared/config';

export interface CachedTiming {
  backend: BackendName;
  /** Milliseconds per step of the backend chosen. */
  msPerStep: number;
  updatesPerEpoch: number;
  /** When measured (ms since the epoch). */
  at: number;
  timings: Partial<Record<BackendName, number>>;
  reasons: Partial<Record<BackendName, string>>;
}

const DB = 'trainer-backend-timings';
const STORE = 'timings';

let db: Promise<IDBPDatabase> | null = null;
function open(): Promise<IDBPDatabase> {
  db ??= openDB(DB, 1, {
    upgrade(d) {
      d.createObjectStore(STORE);
    },
  });
  return db;
}

let device: Promise<string> | null = null;
/** This browser on this machine: its user agent, its cores and its WebGPU adapter, as far as they tell. */
export function deviceKey(): Promise<string> {
  device ??= (async () => {
    let gpu = 'none';
    try {
      const nav = navigator as unknown as {
        gpu?: {
          requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
        };
      };
      const info = (await nav.gpu?.requestAdapter())?.info;
      if (info) gpu = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed';
    } catch {
      gpu = 'unavailable';
    }
    return `${navigator.userAgent}|cores=${navigator.hardwareConcurrency}|gpu=${gpu}`;
  })();
  return device;
}

/** A cached timing, or null (also when IndexedDB cannot be opened: timing again is the fallback). */
export async function readTiming(shapeKey: string): Promise<CachedTiming | null> {
  try {
    return ((await (await open()).get(STORE, `${await deviceKey()}\n${shapeKey}`)) as CachedTiming | undefined) ?? null;
  } catch {
    return null;
  }
}

export async function writeTiming(shapeKey: string, t: CachedTiming): Promise<void> {
  try {
    await (await open()).put(STORE, t, `${await deviceKey()}\n${shapeKey}`);
  } catch (e) {
    console.warn('backend timing not cached:', e);
  }
}

/** Every cached timing of this device, by shape key. */
export async function timingsOfThisDevice(): Promise<Record<string, CachedTiming>> {
  const out: Record<string, CachedTiming> = {};
  try {
    const d = await open();
    const prefix = `${await deviceKey()}\n`;
    const keys = (await d.getAllKeys(STORE)) as string[];
    for (const k of keys)
      if (k.startsWith(prefix)) out[k.slice(prefix.length)] = (await d.get(STORE, k)) as CachedTiming;
  } catch {
    // none
  }
  return out;
}

/** "Measure backends again": forgets this device's timing of one shape, or all of them. */
export async function forgetTimings(shapeKey?: string): Promise<void> {
  const d = await open();
  const prefix = `${await deviceKey()}\n`;
  for (const k of (await d.getAllKeys(STORE)) as string[])
    if (shapeKey === undefined ? k.startsWith(prefix) : k === prefix + shapeKey) await d.delete(STORE, k);
}
