/**
 * The checkpoint stores as the browser holds them, read with the raw OPFS and IndexedDB APIs
 * inside a page, never through the app's own store code: the specs check the app against an
 * independent reader. Part bytes are checked here, in Node, with node:crypto (SHA-256),
 * hash-wasm (XXH64, its standalone build in the page) and the project's PyTorch-file decoders. Also: damage at rest (flip a byte) and losing one store entirely.
 */
import { createHash } from 'node:crypto';
import type { Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeModelPart, decodeOptimPart, decodeTrainerPart } from '../src/checkpoint/contents';
import { readTorchFile } from '../src/checkpoint/torch/index';

export type StoreKind = 'opfs' | 'idb';

interface PartMeta {
  part: string;
  path: string;
  size: number;
  /** Saves since issue 12 record XXH64; older ones SHA-256. */
  xxh64?: string;
  sha256?: string;
}
interface Meta {
  key: string;
  parts: PartMeta[];
  counters: { epoch: number; update: number; sample: number };
  generation: string;
}

/** One file of the OPFS tree, or one part of an IndexedDB checkpoint (its chunks joined). */
interface Blob64 {
  path: string;
  size: number;
  /** Base64 of the bytes; only when asked for and the file is not too big. */
  b64?: string;
  sha256: string;
  /** XXH64 of every checkpoint part file (hash-wasm's standalone build, injected into the page). */
  xxh64?: string;
}

/** What a page reads out of both stores: everything, with hashes; bytes on request. */
export interface RawStores {
  opfs: Blob64[];
  /** IndexedDB `checkpoints`: meta records as JSON, and each (key, part)'s chunks joined. */
  idbMeta: Record<string, string>;
  idbParts: Record<string, Blob64 & { records: number }>;
}

/**
 * Runs in the page. Walks OPFS, reads the `checkpoints` database; hashes with crypto.subtle.
 * `bytesOf` is a regexp source: parts whose path matches come back as base64.
 */
async function readStoresInPage(opts: { bytesOf: string | null; maxBytes: number }): Promise<RawStores> {
  const want = opts.bytesOf === null ? null : new RegExp(opts.bytesOf);
  // Part files are hashed with XXH64 too (crypto.subtle has none): hash-wasm's own UMD build,
  // which readStores() injects, not the app's code.
  const part = /\.th(\.g[a-z0-9]+\.tmp)?$/;
  const hw = (globalThis as unknown as { hashwasm?: { xxhash64(d: Uint8Array): Promise<string> } }).hashwasm;
  if (!hw) throw new Error('hash-wasm was not injected into the page');
  const hex = (d: ArrayBuffer) => [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const b64 = (u: Uint8Array) => {
    let s = '';
    for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const describe = async (path: string, u: Uint8Array): Promise<Blob64> => ({
    path,
    size: u.byteLength,
    // Every buffer here is a plain ArrayBuffer read from a file or a record; the type cannot say so.
    sha256: hex(await crypto.subtle.digest('SHA-256', u as Uint8Array<ArrayBuffer>)),
    ...(part.test(path) ? { xxh64: await hw.xxhash64(u) } : {}),
    ...(want && want.test(path) && u.byteLength <= opts.maxBytes ? { b64: b64(u) } : {}),
  });
  type Dir = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
  const opfs: Blob64[] = [];
  const walk = async (dir: Dir, prefix: string): Promise<void> => {
    for await (const [name, h] of dir.entries()) {
      try {
        if (h.kind === 'directory') await walk(h as Dir, `${prefix}${name}/`);
        else
          opfs.push(
            await describe(
              prefix + name,
              new Uint8Array(await (await (h as FileSystemFileHandle).getFile()).arrayBuffer()),
            ),
          );
      } catch (e) {
        // A training run may move a staged file into place (or delete an old one) between the listing
        // and the read: what vanished is not there any more, so it is not reported.
        if ((e as Error).name !== 'NotFoundError') throw e;
      }
    }
  };
  await walk((await navigator.storage.getDirectory()) as Dir, '');

  const idbMeta: Record<string, string> = {};
  const idbParts: RawStores['idbParts'] = {};
  const dbs = await indexedDB.databases();
  if (dbs.some((d) => d.name === 'checkpoints')) {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('checkpoints');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
    });
    const all = <T>(store: string, what: 'getAll' | 'getAllKeys') =>
      new Promise<T[]>((resolve, reject) => {
        const r = db.transaction(store).objectStore(store)[what]();
        r.onsuccess = () => resolve(r.result as T[]);
        r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
      });
    try {
      if (db.objectStoreNames.contains('meta'))
        for (const m of await all<{ key: string }>('meta', 'getAll')) idbMeta[m.key] = JSON.stringify(m);
      if (db.objectStoreNames.contains('chunks')) {
        // One part at a time (its chunks joined, hashed, dropped), so big checkpoints never sit in memory together.
        const keys = await all<[string, string, number]>('chunks', 'getAllKeys');
        const byPart = new Map<string, [string, string, number][]>();
        for (const k of keys) byPart.set(`${k[0]}_${k[1]}.th`, [...(byPart.get(`${k[0]}_${k[1]}.th`) ?? []), k]);
        const get = (k: [string, string, number]) =>
          new Promise<Uint8Array>((resolve, reject) => {
            const r = db.transaction('chunks').objectStore('chunks').get(k);
            // Records are Blobs (older saves: Uint8Arrays).
            r.onsuccess = () =>
              r.result instanceof Blob
                ? r.result.arrayBuffer().then((b) => resolve(new Uint8Array(b)), reject)
                : resolve(r.result as Uint8Array);
            r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
          });
        for (const [path, partKeys] of byPart) {
          const chunks: Uint8Array[] = [];
          for (const k of partKeys.sort((a, b) => a[2] - b[2])) chunks.push(await get(k));
          const u = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
          let at = 0;
          for (const c of chunks) {
            u.set(c, at);
            at += c.byteLength;
          }
          idbParts[path] = { ...(await describe(path, u)), records: chunks.length };
        }
      }
    } finally {
      db.close();
    }
  }
  return { opfs, idbMeta, idbParts };
}

/** Both stores as the page sees them. `bytesOf`: a regexp of part paths whose bytes to fetch. */
export async function readStores(
  page: Page,
  bytesOf: RegExp | null = null,
  maxBytes = 32 * 1024 * 1024,
): Promise<RawStores> {
  // Evaluated as a script rather than added as a tag: the bare documents some specs read from have no <head>.
  await page.evaluate(readFileSync(resolve('node_modules/hash-wasm/dist/xxhash64.umd.min.js'), 'utf8'));
  return page.evaluate(readStoresInPage, { bytesOf: bytesOf?.source ?? null, maxBytes });
}

/** Whether a file's independently computed hash is the one the record names (XXH64, or SHA-256 in older records). */
function recorded(f: Blob64, p: PartMeta): boolean {
  return f.size === p.size && (p.xxh64 !== undefined ? f.xxh64 === p.xxh64 : f.sha256 === p.sha256);
}

/** Every byte both stores hold, as a comparable map: OPFS paths with sizes and hashes, IndexedDB keys with values. */
export async function snapshotStores(page: Page): Promise<Record<string, string>> {
  const s = await readStores(page);
  const out: Record<string, string> = {};
  for (const f of s.opfs) out[`opfs:${f.path}`] = `${f.size} ${f.sha256}`;
  for (const [k, v] of Object.entries(s.idbMeta)) out[`idb meta:${k}`] = v;
  for (const [k, v] of Object.entries(s.idbParts))
    out[`idb chunks:${k}`] = `${v.records} records, ${v.size} ${v.sha256}`;
  return out;
}

/** One store's copy of one checkpoint, as an independent reader finds it. */
export interface CopyCheck {
  store: StoreKind;
  key: string;
  /** The commit record's counters. */
  update: number;
  /** How many parts the record names (3 for a full checkpoint, 1 for weights only). */
  parts: number;
  /** Listed by the store as complete: every part present at its recorded size (what the app would try to load). */
  complete: boolean;
  /** Complete, every part's bytes match the recorded checksum, and (when decoded) agree on the counters. */
  intact: boolean;
  problems: string[];
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Decodes the parts that came with bytes; says where their counters disagree with the commit record. */
function crossCheck(meta: Meta, bytes: Map<string, Buffer>): string[] {
  const problems: string[] = [];
  const c = meta.counters;
  const same = (what: string, d: { epoch: number; update: number; sample: number }) => {
    if (d.epoch !== c.epoch || d.update !== c.update || d.sample !== c.sample)
      problems.push(`${what} counters ${JSON.stringify(d)} differ from the record's ${JSON.stringify(c)}`);
  };
  try {
    const model = bytes.get('model');
    if (model) {
      const m = decodeModelPart(readTorchFile(new Uint8Array(model)));
      if (m.meta) same('model', m.meta.counters);
    }
    const trainer = bytes.get('trainer');
    if (trainer) same('trainer', decodeTrainerPart(readTorchFile(new Uint8Array(trainer))).counters);
    const optim = bytes.get('optim');
    // The optimizer's step counts the updates it applied since it was created: at most the update counter.
    if (optim && decodeOptimPart(readTorchFile(new Uint8Array(optim))).step > c.update)
      problems.push(`optim step is past update ${c.update}`);
  } catch (e) {
    problems.push(`does not decode: ${(e as Error).name}: ${(e as Error).message}`);
  }
  return problems;
}

/**
 * Checks every checkpoint copy in both stores the way the app's readers pick files (OPFS: the
 * part under its own name if it matches the manifest, else the staged file of the manifest's
 * generation), but with an independent hash and, for parts whose bytes were fetched, a decode.
 */
export function checkCopies(s: RawStores, runId?: string): CopyCheck[] {
  const out: CopyCheck[] = [];
  const mine = (key: string) => runId === undefined || key.split('/')[1] === runId;
  const opfsFiles = new Map(s.opfs.map((f) => [f.path, f]));
  for (const f of s.opfs) {
    if (!f.path.endsWith('.manifest.json')) continue;
    const text = f.b64 === undefined ? null : Buffer.from(f.b64, 'base64').toString('utf8');
    if (text === null) throw new Error(`readStores must fetch manifests (bytesOf should match ${f.path})`);
    let m: Meta;
    try {
      m = JSON.parse(text) as Meta;
    } catch {
      out.push({
        store: 'opfs',
        key: f.path,
        update: -1,
        parts: 0,
        complete: false,
        intact: false,
        problems: ['manifest is not JSON'],
      });
      continue;
    }
    if (!mine(m.key)) continue;
    const dir = f.path.slice(0, f.path.lastIndexOf('/') + 1);
    const problems: string[] = [];
    let complete = true;
    const bytes = new Map<string, Buffer>();
    for (const p of m.parts) {
      const name = p.path.slice(p.path.lastIndexOf('/') + 1);
      const candidates = [opfsFiles.get(dir + name), opfsFiles.get(`${dir}${name}.${m.generation}.tmp`)].filter(
        (x): x is Blob64 => !!x,
      );
      if (!candidates.some((c) => c.size === p.size)) {
        complete = false;
        problems.push(`${p.part}: no file of ${p.size} bytes`);
        continue;
      }
      const good = candidates.find((c) => recorded(c, p));
      if (!good) problems.push(`${p.part}: ${p.xxh64 !== undefined ? 'XXH64' : 'SHA-256'} differs from the manifest`);
      else if (good.b64 !== undefined) {
        const b = Buffer.from(good.b64, 'base64');
        if (sha(b) !== good.sha256) problems.push(`${p.part}: bytes differ from the hash the page computed`);
        bytes.set(p.part, b);
      }
    }
    if (complete && problems.length === 0) problems.push(...crossCheck(m, bytes));
    out.push({
      store: 'opfs',
      key: m.key,
      update: m.counters.update,
      parts: m.parts.length,
      complete,
      intact: complete && problems.length === 0,
      problems,
    });
  }
  for (const [key, json] of Object.entries(s.idbMeta)) {
    if (!mine(key)) continue;
    const m = JSON.parse(json) as Meta;
    const problems: string[] = [];
    const bytes = new Map<string, Buffer>();
    for (const p of m.parts) {
      const got = s.idbParts[`${key}_${p.part}.th`];
      if (!got) problems.push(`${p.part}: no chunks`);
      else if (!recorded(got, p)) problems.push(`${p.part}: checksum or size differs from the record`);
      else if (got.b64 !== undefined) bytes.set(p.part, Buffer.from(got.b64, 'base64'));
    }
    if (problems.length === 0) problems.push(...crossCheck(m, bytes));
    // IndexedDB lists a checkpoint from its meta record alone: a record is a listed checkpoint.
    out.push({
      store: 'idb',
      key,
      update: m.counters.update,
      parts: m.parts.length,
      complete: true,
      intact: problems.length === 0,
      problems,
    });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.store < b.store ? -1 : 1));
}

/** Reads both stores (manifests and, if `decode`, every part's bytes) and checks every copy. */
export async function checkStores(page: Page, opts: { runId?: string; decode?: boolean } = {}): Promise<CopyCheck[]> {
  return checkCopies(
    await readStores(page, opts.decode ? /\.manifest\.json$|\.th(\.g[a-z0-9]+\.tmp)?$/ : /\.manifest\.json$/),
    opts.runId,
  );
}

/**
 * Files an interrupted OPFS save leaves: staged parts, the parts of a new checkpoint whose
 * manifest never came (those are written under their own names), and Chromium's swap files.
 */
export function leftovers(s: RawStores, runId?: string): string[] {
  const paths = s.opfs.map((f) => f.path).filter((p) => runId === undefined || p.split('/')[1] === runId);
  const partOf = /_(model|optim|trainer)\.th$/;
  const manifest = '.manifest.json';
  const committed = new Set(paths.filter((p) => p.endsWith(manifest)).map((p) => p.slice(0, -manifest.length)));
  return paths.filter((p) => /\.tmp$|\.crswap$/.test(p) || (partOf.test(p) && !committed.has(p.replace(partOf, ''))));
}

/**
 * Flips one byte of a stored part, in place, in one store: damage at rest. `key` is the
 * checkpoint key (`runs/r/stage/checkpoints/model_cp=tag`). The byte is one in the middle of the part.
 */
export async function flipByte(page: Page, store: StoreKind, key: string, part: string): Promise<void> {
  await page.evaluate(
    async ({ store, key, part }) => {
      const path = `${key}_${part}.th`;
      if (store === 'opfs') {
        const segments = path.split('/');
        let dir = await navigator.storage.getDirectory();
        for (const s of segments.slice(0, -1)) dir = await dir.getDirectoryHandle(s);
        const handle = await dir.getFileHandle(segments.at(-1)!);
        const file = await handle.getFile();
        const at = Math.floor(file.size / 2);
        const old = new Uint8Array(await file.slice(at, at + 1).arrayBuffer())[0];
        const w = await handle.createWritable({ keepExistingData: true });
        await w.write({ type: 'write', position: at, data: new Uint8Array([old ^ 0xff]) });
        await w.close();
        return;
      }
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('checkpoints');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
      });
      try {
        const k = [key, part, 0];
        const request = <T>(r: IDBRequest<T>) =>
          new Promise<T>((resolve, reject) => {
            r.onsuccess = () => resolve(r.result);
            r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
          });
        // Records are Blobs (older saves: Uint8Arrays); a Blob is read outside the transaction.
        const rec = await request<unknown>(db.transaction('chunks').objectStore('chunks').get(k));
        const v = rec instanceof Blob ? new Uint8Array(await rec.arrayBuffer()) : new Uint8Array(rec as Uint8Array);
        if (v.length === 0) throw new Error(`no chunk ${JSON.stringify(k)}`);
        v[Math.floor(v.length / 2)] ^= 0xff;
        await request(
          db
            .transaction('chunks', 'readwrite')
            .objectStore('chunks')
            .put(rec instanceof Blob ? new Blob([v]) : v, k),
        );
      } finally {
        db.close();
      }
    },
    { store, key, part },
  );
}

/** Loses one store entirely: the whole OPFS tree, or the checkpoints database. */
export async function loseStore(page: Page, store: StoreKind): Promise<void> {
  await page.evaluate(async (store) => {
    if (store === 'opfs') {
      const root = (await navigator.storage.getDirectory()) as FileSystemDirectoryHandle & {
        keys(): AsyncIterable<string>;
      };
      const names: string[] = [];
      for await (const n of root.keys()) names.push(n);
      for (const n of names) await root.removeEntry(n, { recursive: true });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase('checkpoints');
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
      r.onblocked = () => reject(new Error('deleting the checkpoints database is blocked by an open connection'));
    });
  }, store);
}

/** A same-origin document that runs none of the app: a place to read or damage the stores while no run is open. */
export async function openBareDocument(page: Page): Promise<void> {
  await page.goto('/icons/icon.svg');
}
