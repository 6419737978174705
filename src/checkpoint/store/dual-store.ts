/**
 * Both stores behind the one interface: every save goes to each, every read is served by the
 * first copy that verifies. Copies are matched by their parts' SHA-256, so a fallback never
 * mixes parts of two different saves under one key.
 */
import type { StoreName } from '../../shared/config';
import { TrainerError, type WireError, isNamed, toWireError } from '../../shared/errors';
import type { StoreFailure } from '../../shared/progress';
import { type CheckpointId, type CheckpointPart, parseCheckpointKey } from '../naming';
import { sameChecksum } from './checksum';
import { hashParts, matchesFilter, newGeneration, replacedSince } from './common';
import { createIdbStore, type IdbStoreOptions } from './idb-store';
import { createOpfsStore, type OpfsStoreOptions } from './opfs-store';
import type { CheckpointMeta, CheckpointParts, CheckpointStore, ListFilter, PartInfo, SaveInfo } from './types';

/** A checkpoint as the dual store sees it: the newest copy, and which stores hold that copy. */
export interface DualCheckpointMeta extends CheckpointMeta {
  stores: StoreName[];
}

/** A save's result: which stores now hold it, and why any other did not. */
export interface DualSaveResult extends DualCheckpointMeta {
  failures: StoreFailure[];
}

/** Verified bytes and the store that served them; failures lists the copies passed over, and why. */
export interface DualReadResult {
  bytes: Uint8Array;
  servedBy: StoreName;
  failures: StoreFailure[];
  /** The save the bytes come from (repair() takes them as read only for the same save). */
  generation: string;
}

/** A store's copy of one checkpoint that repair() rewrote from an intact copy, and what was wrong with it. */
export interface RepairedCopy {
  key: string;
  store: StoreName;
  /** ChecksumMismatchError / CheckpointCorruptError: damaged; CheckpointNotFoundError: missing or older. */
  error: WireError;
}

export interface DualCheckpointStore extends CheckpointStore {
  readonly stores: readonly CheckpointStore[];
  /**
   * Reads every copy of a checkpoint (every part, verified) and rewrites each store whose copy is
   * missing, older or damaged from an intact one, under the same generation. Throws, writing
   * nothing, when no store holds an intact copy. `known`: parts the caller has just read with
   * readWithSource (a resume): the copy that served each is not read again, nor one that failed.
   */
  repair(key: string, known?: Partial<Record<CheckpointPart, DualReadResult>>): Promise<RepairedCopy[]>;
  /**
   * repair() for every checkpoint the filter admits that some store lacks (judged from metadata:
   * cheap when nothing is missing). A checkpoint with no intact copy is left as it is.
   * `listed`: a listing the caller has just made (a resume's), used instead of listing again.
   */
  mirrorMissing(filter?: ListFilter, opts?: { listed?: readonly DualCheckpointMeta[] }): Promise<RepairedCopy[]>;
  save(id: CheckpointId, parts: CheckpointParts, info: SaveInfo): Promise<DualSaveResult>;
  list(filter?: ListFilter): Promise<DualCheckpointMeta[]>;
  stat(key: string): Promise<DualCheckpointMeta | undefined>;
  /** Like read(), and says which store served and which copies failed. */
  readWithSource(key: string, part: CheckpointPart): Promise<DualReadResult>;
}

export interface CreateCheckpointStoreOptions {
  /** Which stores hold checkpoints; default both. */
  use?: 'both' | 'opfs' | 'idb';
  opfs?: OpfsStoreOptions;
  idb?: IdbStoreOptions;
}

/** The checkpoint store the app uses: OPFS and IndexedDB (default), or one of them. */
export function createCheckpointStore(options: CreateCheckpointStoreOptions = {}): DualCheckpointStore {
  const use = options.use ?? 'both';
  const stores: CheckpointStore[] = [];
  if (use !== 'idb') stores.push(createOpfsStore(options.opfs));
  if (use !== 'opfs') stores.push(createIdbStore(options.idb));
  return createDualStore(stores);
}

function storeName(s: CheckpointStore): StoreName {
  return s.kind === 'both' ? 'opfs' : s.kind;
}

function newest(metas: CheckpointMeta[]): CheckpointMeta {
  return metas.reduce((a, b) =>
    b.createdAt > a.createdAt || (b.createdAt === a.createdAt && b.generation > a.generation) ? b : a,
  );
}

/**
 * Two copies hold the same bytes when every part's size and checksum agree (copies whose records
 * use different checksum algorithms: when they come from the same save).
 */
function sameContent(a: CheckpointMeta, b: CheckpointMeta): boolean {
  return a.parts.length === b.parts.length && a.parts.every((p) => samePart(a, p, b));
}

function samePart(a: CheckpointMeta, p: PartInfo, b: CheckpointMeta): boolean {
  const q = b.parts.find((x) => x.part === p.part);
  return !!q && (sameChecksum(p, q) ?? (p.size === q.size && a.generation === b.generation));
}

function merge(copies: [StoreName, CheckpointMeta][]): DualCheckpointMeta {
  const top = newest(copies.map(([, m]) => m));
  return { ...top, stores: copies.filter(([, m]) => sameContent(m, top)).map(([k]) => k) };
}

/**
 * One save writes several checkpoints (its tag, `latest`, an EMA variant): the stores that hold
 * every one of them, and each store that missed any, once, with its first error.
 */
export function saveOutcome(results: readonly DualSaveResult[]): { stores: StoreName[]; failures: StoreFailure[] } {
  const failures: StoreFailure[] = [];
  for (const r of results) for (const f of r.failures) if (!failures.some((g) => g.store === f.store)) failures.push(f);
  const [first, ...rest] = results;
  const stores = (first?.stores ?? []).filter((s) => rest.every((r) => r.stores.includes(s)));
  return { stores, failures };
}

/** Combines stores (in preference order for reads) into one. */
export function createDualStore(stores: CheckpointStore[]): DualCheckpointStore {
  if (stores.length === 0) throw new TypeError('createDualStore needs at least one store.');

  async function save(id: CheckpointId, parts: CheckpointParts, info: SaveInfo): Promise<DualSaveResult> {
    // One generation and timestamp for every copy, so the copies are recognisably one save.
    const shared: SaveInfo = {
      ...info,
      generation: info.generation ?? newGeneration(),
      createdAt: info.createdAt ?? Date.now(),
    };
    // Hashed once here rather than once per store, while the stores write (they wait for it only
    // to commit). A malformed save (no parts) is left for each store to refuse in its own words.
    if (stores.length > 1 && !info.checksums && Object.values(parts).some((c) => c !== undefined)) {
      const hashing = hashParts(parts);
      hashing.catch(() => undefined); // each store's save reports it
      shared.checksums = hashing;
    }
    const results = await Promise.allSettled(stores.map((s) => s.save(id, parts, shared)));
    const failures: StoreFailure[] = [];
    let meta: CheckpointMeta | undefined;
    const held: StoreName[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        meta ??= r.value;
        held.push(storeName(stores[i]));
      } else {
        failures.push({ store: storeName(stores[i]), error: toWireError(r.reason) });
      }
    });
    if (!meta) {
      // No copy was written; the most telling error (full disk first) is the one to show.
      const reasons = results.map((r): unknown => (r as PromiseRejectedResult).reason);
      throw reasons.find((e) => isNamed(e, 'QuotaExceededError')) ?? reasons[0];
    }
    return { ...meta, stores: held, failures };
  }

  async function list(filter?: ListFilter): Promise<DualCheckpointMeta[]> {
    const byKey = new Map<string, [StoreName, CheckpointMeta][]>();
    const listed = await Promise.allSettled(stores.map((s) => s.list(filter)));
    if (listed.every((r) => r.status === 'rejected')) throw listed[0].reason;
    listed.forEach((r, i) => {
      if (r.status !== 'fulfilled') return; // a store that cannot list holds nothing we can read
      for (const m of r.value) {
        const copies = byKey.get(m.key) ?? [];
        copies.push([storeName(stores[i]), m]);
        byKey.set(m.key, copies);
      }
    });
    return [...byKey.values()].map(merge).sort((a, b) => a.createdAt - b.createdAt || (a.key < b.key ? -1 : 1));
  }

  // Reads of several parts of one checkpoint start together (a resume): they share one look at
  // the copies rather than each stating every store again.
  const statting = new Map<string, Promise<[CheckpointStore, CheckpointMeta][]>>();
  function copiesOf(key: string): Promise<[CheckpointStore, CheckpointMeta][]> {
    parseCheckpointKey(key); // a malformed key is the caller's error, not a missing copy
    let p = statting.get(key);
    if (!p) {
      p = statCopies(key);
      statting.set(key, p);
      const done = () => statting.delete(key);
      p.then(done, done);
    }
    return p;
  }

  async function statCopies(key: string): Promise<[CheckpointStore, CheckpointMeta][]> {
    const stats = await Promise.allSettled(stores.map((s) => s.stat(key)));
    const out: [CheckpointStore, CheckpointMeta][] = [];
    stats.forEach((r, i) => {
      if (r.status === 'fulfilled' && r.value) out.push([stores[i], r.value]);
    });
    return out;
  }

  async function stat(key: string): Promise<DualCheckpointMeta | undefined> {
    const copies = await copiesOf(key);
    return copies.length ? merge(copies.map(([s, m]) => [storeName(s), m])) : undefined;
  }

  async function readWithSource(key: string, part: CheckpointPart): Promise<DualReadResult> {
    const copies = await copiesOf(key);
    if (copies.length === 0)
      throw new TrainerError('CheckpointNotFoundError', `No complete checkpoint ${key} in any store.`);
    const top = newest(copies.map(([, m]) => m));
    const want = top.parts.find((p) => p.part === part);
    if (!want) throw new TrainerError('CheckpointNotFoundError', `Checkpoint ${key} has no ${part} part.`);
    const failures: StoreFailure[] = [];
    for (const [s, m] of copies) {
      const kind = storeName(s);
      if (!samePart(top, want, m)) {
        failures.push({
          store: kind,
          error: { name: 'CheckpointNotFoundError', message: `${kind} holds an older copy of ${key}.` },
        });
        continue;
      }
      try {
        return { bytes: await s.read(key, part, m), servedBy: kind, failures, generation: top.generation };
      } catch (e) {
        failures.push({ store: kind, error: toWireError(e) });
      }
    }
    const detail = failures.map((f) => `${f.store}: ${f.error.message}`).join(' ');
    const damaged = failures.some(
      (f) => f.error.name === 'ChecksumMismatchError' || f.error.name === 'CheckpointCorruptError',
    );
    throw new TrainerError(
      damaged ? 'ChecksumMismatchError' : 'CheckpointNotFoundError',
      `No intact copy of the ${part} part of checkpoint ${key}. ${detail}`,
    );
  }

  async function repair(key: string, known?: Partial<Record<CheckpointPart, DualReadResult>>): Promise<RepairedCopy[]> {
    const copies = await copiesOf(key);
    if (copies.length === 0)
      throw new TrainerError('CheckpointNotFoundError', `No complete checkpoint ${key} in any store.`);
    const top = newest(copies.map(([, m]) => m));
    const bad = new Map<CheckpointStore, WireError>();
    for (const s of stores) {
      const mine = copies.find(([c]) => c === s)?.[1];
      if (!mine) bad.set(s, { name: 'CheckpointNotFoundError', message: `${storeName(s)} has no copy of ${key}` });
      else if (!sameContent(mine, top))
        bad.set(s, { name: 'CheckpointNotFoundError', message: `${storeName(s)} holds an older copy of ${key}` });
    }
    // One store and its copy current: there is no other copy to rewrite or to repair from, so
    // reading (and hashing) it all again would change nothing.
    if (stores.length === 1 && bad.size === 0) return [];
    const parts: CheckpointParts = {};
    for (const p of top.parts) {
      const k = known?.[p.part]?.generation === top.generation ? known[p.part] : undefined;
      for (const s of stores) {
        if (bad.has(s)) continue;
        if (k?.servedBy === storeName(s)) {
          parts[p.part] ??= [k.bytes];
          continue;
        }
        const failed = k?.failures.find((f) => f.store === storeName(s));
        if (failed) {
          bad.set(s, failed.error);
          continue;
        }
        try {
          const bytes = await s.read(key, p.part);
          parts[p.part] ??= [bytes];
        } catch (e) {
          bad.set(s, toWireError(e));
        }
      }
      if (!parts[p.part])
        throw new TrainerError(
          'ChecksumMismatchError',
          `No intact copy of the ${p.part} part of checkpoint ${key} to repair from.`,
        );
    }
    const repaired: RepairedCopy[] = [];
    if (bad.size === 0) return repaired;
    for (const [s, error] of bad) {
      await s.save(top.id, parts, {
        counters: top.counters,
        metrics: top.metrics,
        generation: top.generation,
        createdAt: top.createdAt,
      });
      repaired.push({ key, store: storeName(s), error });
    }
    return repaired;
  }

  async function mirrorMissing(
    filter: ListFilter = {},
    opts: { listed?: readonly DualCheckpointMeta[] } = {},
  ): Promise<RepairedCopy[]> {
    if (stores.length < 2) return [];
    const out: RepairedCopy[] = [];
    const listed = opts.listed ? opts.listed.filter((m) => matchesFilter(m, filter)) : await list(filter);
    for (const m of listed) {
      if (m.stores.length === stores.length) continue;
      try {
        out.push(...(await repair(m.key)));
      } catch (e) {
        // No intact copy: nothing to mirror from; a resume that needs it says so itself.
        if (
          !isNamed(e, 'ChecksumMismatchError') &&
          !isNamed(e, 'CheckpointCorruptError') &&
          !isNamed(e, 'CheckpointNotFoundError')
        )
          throw e;
      }
    }
    return out;
  }

  const each = async (f: (s: CheckpointStore) => Promise<unknown>) => {
    const r = await Promise.allSettled(stores.map(f));
    const failed = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
  };

  return {
    kind: stores.length > 1 ? 'both' : stores[0].kind,
    stores,
    save,
    list,
    stat,
    readWithSource,
    repair,
    mirrorMissing,
    read: async (key, part, expected) => {
      const read = await readWithSource(key, part);
      // Served from the copies as they are now: a newer save than the caller's record is refused.
      if (expected && read.generation !== expected.generation) throw replacedSince(key);
      return read.bytes;
    },
    delete: (key) => each((s) => s.delete(key)),
    deleteStage: (runId, stageName, outputDir) => each((s) => s.deleteStage(runId, stageName, outputDir)),
    deleteRun: (runId, outputDir) => each((s) => s.deleteRun(runId, outputDir)),
    sweep: async () => (await Promise.all(stores.map((s) => s.sweep()))).reduce((a, b) => a + b, 0),
  };
}
