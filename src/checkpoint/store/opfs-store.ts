/**
 * Checkpoints as real folders and files in the Origin Private File System, under the naming
 * scheme. A checkpoint is committed by its manifest (`{stem}.manifest.json`, stem = the file name
 * without `_{part}.th`); see README.md for why a crash at any instant leaves a complete one.
 */
import { TrainerError } from '../../shared/errors';
import {
  CHECKPOINTS_DIR,
  type CheckpointId,
  checkpointKey,
  type CheckpointPart,
  checkpointFileName,
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
  newGeneration,
  notFound,
  SerialQueue,
  SimulatedCrash,
  stage,
} from './common';
import { toStorageError } from './quota';
import { checksumName, verifyPart } from './checksum';
import type { CheckpointMeta, CheckpointParts, CheckpointStore, ListFilter, SaveInfo } from './types';

export interface OpfsStoreOptions {
  /** The folder output dirs live in; default the OPFS root. Tests pass a scratch folder. */
  root?: FileSystemDirectoryHandle;
  /** Test hook: returning true stops the save there, as a crash would. */
  crashAt?: CrashAt;
}

const MANIFEST_SUFFIX = '.manifest.json';
const STAGED_RE = /^(.*)\.(g[a-z0-9]+)\.tmp$/;
const SWAP_SUFFIX = '.crswap';
const MANIFEST_FORMAT = 1;

/** The temporary name a part is written under before the commit. */
export function stagedFileName(finalName: string, generation: string): string {
  return `${finalName}.${generation}.tmp`;
}

/** The commit record's file name for a checkpoint whose part files start with `stem`. */
export function manifestFileName(stem: string): string {
  return `${stem}${MANIFEST_SUFFIX}`;
}

interface Manifest extends CheckpointMeta {
  format: number;
}

// TypeScript's DOM and WebWorker libs type directory iteration only in their *.AsyncIterable
// variants, which this project does not load; Chromium has had entries() since OPFS shipped.
type Iterable = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
// move() is in Chromium (it replaces an existing target) but not yet in the TS libs.
type Movable = FileSystemFileHandle & { move?: (dir: FileSystemDirectoryHandle, name: string) => Promise<void> };

async function entries(dir: FileSystemDirectoryHandle): Promise<[string, FileSystemHandle][]> {
  const out: [string, FileSystemHandle][] = [];
  for await (const e of (dir as Iterable).entries()) out.push(e);
  return out;
}

function isNotFound(e: unknown): boolean {
  const n = (e as { name?: unknown } | null)?.name;
  return n === 'NotFoundError' || n === 'TypeMismatchError';
}

async function subdir(
  dir: FileSystemDirectoryHandle,
  name: string,
  create = false,
): Promise<FileSystemDirectoryHandle | undefined> {
  try {
    return await dir.getDirectoryHandle(name, { create });
  } catch (e) {
    if (!create && isNotFound(e)) return undefined;
    throw e;
  }
}

/** A file found by name: its handle, and its contents as they were when looked up. */
interface Found {
  handle: FileSystemFileHandle;
  file: File;
}

async function fileIn(dir: FileSystemDirectoryHandle, name: string): Promise<Found | undefined> {
  try {
    const handle = await dir.getFileHandle(name);
    return { handle, file: await handle.getFile() };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function remove(dir: FileSystemDirectoryHandle, name: string, recursive = false): Promise<boolean> {
  try {
    await dir.removeEntry(name, { recursive });
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Writes one file atomically: Chromium writes to a swap file and replaces the target on close(). */
async function writeFile(
  dir: FileSystemDirectoryHandle,
  name: string,
  chunks: readonly (Uint8Array | Blob | string)[],
): Promise<void> {
  const handle = await dir.getFileHandle(name, { create: true });
  const w = await handle.createWritable({ keepExistingData: false });
  try {
    // write() accepts no SharedArrayBuffer views in its types; parts are ordinary ArrayBuffers.
    for (const c of chunks) await w.write(c as Uint8Array<ArrayBuffer>);
    await w.close();
  } catch (e) {
    await w.abort().catch(() => undefined);
    throw e;
  }
}

// The sync access handle is in the TS WebWorker lib but not the DOM one this module also compiles under.
interface SyncHandle {
  write(data: Uint8Array, opts: { at: number }): number;
  read(data: Uint8Array, opts: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}
type SyncCapable = FileSystemFileHandle & { createSyncAccessHandle?: () => Promise<SyncHandle> };

/** Chunks below this size are copied together into buffers of this size before they are written. */
const COALESCE_BYTES = 1 << 20;
/** How many manifests a listing reads at once: side by side, yet not thousands together. */
const LIST_WINDOW = 32;

/**
 * The chunks with runs of small ones joined, in order: a sync handle's write() costs milliseconds
 * a call in Chromium whatever its size (measured: about 3 ms each, 52 calls for a small optimizer
 * part), so a zip's many small headers and tensors go in few calls. Chunks of COALESCE_BYTES or
 * more pass through uncopied. Every joined run is a view of one buffer of that size, reused: a
 * joined view holds its bytes only until the next chunk is asked for (a sync write copies them at
 * once), so a part of many small tensors leaves no trail of buffers for the collector.
 */
export function* coalesced(chunks: readonly Uint8Array[], limit = COALESCE_BYTES): Generator<Uint8Array> {
  let buf: Uint8Array | undefined;
  let used = 0;
  for (const c of chunks) {
    if (c.byteLength >= limit) {
      if (used > 0) yield buf!.subarray(0, used);
      used = 0;
      yield c;
      continue;
    }
    if (used + c.byteLength > limit) {
      yield buf!.subarray(0, used);
      used = 0;
    }
    buf ??= new Uint8Array(limit);
    buf.set(c, used);
    used += c.byteLength;
  }
  if (used > 0) yield buf!.subarray(0, used);
}

/**
 * Writes a part not yet committed (under its staged name, or its final name when no checkpoint of
 * that stem exists yet). In a worker, through a sync access handle and one
 * flush: several times faster than createWritable, whose swap file and copy-on-close buy an
 * atomicity the manifest commit already gives. Elsewhere (the page), createWritable.
 */
async function writeUncommitted(
  dir: FileSystemDirectoryHandle,
  name: string,
  chunks: readonly Uint8Array[],
): Promise<void> {
  const handle = (await dir.getFileHandle(name, { create: true })) as SyncCapable;
  if (typeof handle.createSyncAccessHandle !== 'function') return writeFile(dir, name, chunks);
  const h = await handle.createSyncAccessHandle();
  try {
    // Sized once up front: Chromium grants a sync handle's file its space in steps, one request to
    // the browser process each, so a part written as many small chunks (a zip's headers and
    // tensors) into a growing file paid for each step; now the writes fall within it.
    h.truncate(chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of coalesced(chunks)) {
      const n = h.write(c, { at });
      // A short write is the disk or the quota running out; Chromium may report it only this way.
      if (n !== c.byteLength) throw new DOMException(`wrote ${n} of ${c.byteLength} bytes`, 'QuotaExceededError');
      at += n;
    }
    h.flush();
  } finally {
    h.close();
  }
}

/**
 * A file's bytes: in a worker through a sync access handle (one read into one buffer), else (the
 * page, or the file busy in another context) through getFile().
 */
async function readBytes(handle: FileSystemFileHandle, file: File): Promise<Uint8Array> {
  const sync = handle as SyncCapable;
  if (typeof sync.createSyncAccessHandle === 'function') {
    let h: SyncHandle | undefined;
    try {
      h = await sync.createSyncAccessHandle();
    } catch {
      // Held open elsewhere (NoModificationAllowedError): the snapshot read below still works.
    }
    if (h) {
      try {
        const out = new Uint8Array(file.size);
        const n = h.read(out, { at: 0 });
        if (n === out.byteLength) return out;
      } finally {
        h.close();
      }
    }
  }
  return new Uint8Array(await file.arrayBuffer());
}

function parseManifest(text: string, stem: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.parts) || typeof m.generation !== 'string') return undefined;
    if (!m.key.endsWith(`/${stem}`)) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

async function readManifest(dir: FileSystemDirectoryHandle, stem: string): Promise<Manifest | undefined> {
  const f = await fileIn(dir, manifestFileName(stem));
  return f ? parseManifest(await f.file.text(), stem) : undefined;
}

function stemOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

function dirSegments(id: Pick<CheckpointId, 'outputDir' | 'runId' | 'stageName'>): string[] {
  return id.stageName !== undefined
    ? [id.outputDir, id.runId, id.stageName, CHECKPOINTS_DIR]
    : [id.outputDir, id.runId, CHECKPOINTS_DIR];
}

/** What a file in a checkpoints folder is, judged by its name alone. */
type FileRole =
  | { role: 'manifest'; stem: string }
  | { role: 'part'; stem: string; part: CheckpointPart }
  | { role: 'staged'; stem: string; part: CheckpointPart; generation: string }
  | { role: 'swap' }
  | { role: 'other' };

function partName(name: string): { stem: string; part: CheckpointPart } | undefined {
  for (const part of ['model', 'optim', 'trainer'] as const) {
    const suffix = `_${part}.th`;
    if (name.endsWith(suffix) && name.length > suffix.length) return { stem: name.slice(0, -suffix.length), part };
  }
  return undefined;
}

function roleOf(name: string): FileRole {
  if (name.endsWith(SWAP_SUFFIX)) return { role: 'swap' };
  if (name.endsWith(MANIFEST_SUFFIX)) return { role: 'manifest', stem: name.slice(0, -MANIFEST_SUFFIX.length) };
  const staged = STAGED_RE.exec(name);
  if (staged) {
    const p = partName(staged[1]);
    return p ? { role: 'staged', ...p, generation: staged[2] } : { role: 'other' };
  }
  const p = partName(name);
  return p ? { role: 'part', ...p } : { role: 'other' };
}

/**
 * A file's current contents by name, or undefined when there is none. `known`: the folder's files
 * as just listed (a listing reads many manifests), so a name not among them costs no lookup.
 */
async function fileOf(
  dir: FileSystemDirectoryHandle,
  name: string,
  known?: ReadonlyMap<string, FileSystemFileHandle>,
): Promise<Found | undefined> {
  if (!known) return fileIn(dir, name);
  const handle = known.get(name);
  if (!handle) return undefined;
  try {
    return { handle, file: await handle.getFile() };
  } catch (e) {
    if (isNotFound(e)) return undefined; // removed since it was listed
    throw e;
  }
}

/** A checkpoint's manifest plus which file currently holds each part (looked up side by side). */
async function locateParts(
  dir: FileSystemDirectoryHandle,
  m: Manifest,
  known?: ReadonlyMap<string, FileSystemFileHandle>,
): Promise<Map<CheckpointPart, Found[]> | undefined> {
  const located = await Promise.all(
    m.parts.map(async (p) => {
      const final = p.path.slice(p.path.lastIndexOf('/') + 1);
      const staged = stagedFileName(final, m.generation);
      let files = (await Promise.all([final, staged].map((n) => fileOf(dir, n, known)))).filter((f): f is Found => !!f);
      // Moved from its staged name since the folder was listed: looked up again, staged name
      // first, so that a move between the two lookups still finds it under the final one.
      if (files.length === 0 && known) {
        const now = await fileIn(dir, staged);
        files = [now ?? (await fileIn(dir, final))].filter((f): f is Found => !!f);
      }
      return [p.part, files] as const;
    }),
  );
  if (located.some(([, files]) => files.length === 0)) return undefined;
  return new Map(located);
}

/** Complete means: every part has a file of the manifest's size (contents are checked on read). */
async function isComplete(
  dir: FileSystemDirectoryHandle,
  m: Manifest,
  known?: ReadonlyMap<string, FileSystemFileHandle>,
): Promise<boolean> {
  const found = await locateParts(dir, m, known);
  if (!found) return false;
  return m.parts.every((p) => found.get(p.part)!.some((f) => f.file.size === p.size));
}

function toMeta(m: Manifest): CheckpointMeta {
  const { format: _format, ...meta } = m;
  return meta;
}

/** Creates the OPFS checkpoint store. */
export function createOpfsStore(options: OpfsStoreOptions = {}): CheckpointStore {
  const queue = new SerialQueue();
  const crashAt = options.crashAt ?? (() => false);
  const rootDir = async () => options.root ?? navigator.storage.getDirectory();

  // Folders by path, once found or made: a lookup walks four levels (milliseconds a save or a
  // read). Chromium's handles name a path, so a folder removed and made again elsewhere is still
  // reached through its old handle; one removed and not made again fails with NotFoundError,
  // which save() answers by looking the folder up afresh. This store's own deletes forget them.
  const folders = new Map<string, FileSystemDirectoryHandle>();

  async function folder(segments: string[], create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
    const path = segments.join('/');
    const known = folders.get(path);
    if (known) return known;
    let dir: FileSystemDirectoryHandle | undefined = await rootDir();
    for (const s of segments) {
      dir = await subdir(dir, s, create);
      if (!dir) return undefined;
    }
    folders.set(path, dir);
    return dir;
  }

  /** The subfolders of `dir` named `name`, or all of them when no name is given (looked up, not listed, when named). */
  async function subdirs(
    dir: FileSystemDirectoryHandle,
    name?: string,
  ): Promise<[string, FileSystemDirectoryHandle][]> {
    if (name !== undefined) {
      try {
        const d = await subdir(dir, name);
        return d ? [[name, d]] : [];
      } catch (e) {
        if (e instanceof TypeError) return []; // not a name a folder can have: none matches
        throw e;
      }
    }
    return (await entries(dir)).flatMap(([n, h]) =>
      h.kind === 'directory' ? [[n, h as FileSystemDirectoryHandle] as [string, FileSystemDirectoryHandle]] : [],
    );
  }

  /** Every checkpoints folder the filter admits (and remembered, for the reads that follow a listing). */
  async function checkpointFolders(filter: ListFilter = {}): Promise<FileSystemDirectoryHandle[]> {
    const out: FileSystemDirectoryHandle[] = [];
    const found = (segments: string[], dir: FileSystemDirectoryHandle) => {
      folders.set(segments.join('/'), dir);
      out.push(dir);
    };
    for (const [outName, outDir] of await subdirs(await rootDir(), filter.outputDir)) {
      for (const [runName, runDir] of await subdirs(outDir, filter.runId)) {
        for (const [name, h] of await entries(runDir)) {
          if (h.kind !== 'directory') continue;
          if (name === CHECKPOINTS_DIR) {
            if (filter.stageName === undefined) found([outName, runName, name], h as FileSystemDirectoryHandle);
          } else if (filter.stageName === undefined || filter.stageName === name) {
            const cp = await subdir(h as FileSystemDirectoryHandle, CHECKPOINTS_DIR);
            if (cp) found([outName, runName, name, CHECKPOINTS_DIR], cp);
          }
        }
      }
    }
    return out;
  }

  /** Removes a stem's files that the committed manifest does not use; returns how many. */
  async function tidyStem(
    dir: FileSystemDirectoryHandle,
    stem: string,
    m: Manifest | undefined,
    names: string[],
  ): Promise<number> {
    let removed = 0;
    const parts = new Set(m?.parts.map((p) => p.part));
    for (const name of names) {
      const r = roleOf(name);
      if (r.role !== 'part' && r.role !== 'staged') continue;
      if (r.stem !== stem) continue;
      const keep = m !== undefined && parts.has(r.part) && (r.role === 'part' || r.generation === m.generation);
      if (!keep && (await remove(dir, name))) removed++;
    }
    return removed;
  }

  /** Moves committed staged parts to their final names; a crash mid-way leaves the staged copy to read. */
  async function promote(
    dir: FileSystemDirectoryHandle,
    m: Manifest,
    onPromoted?: (i: number) => void,
  ): Promise<number> {
    let done = 0;
    for (const [i, p] of m.parts.entries()) {
      const final = p.path.slice(p.path.lastIndexOf('/') + 1);
      const stagedName = stagedFileName(final, m.generation);
      let staged: FileSystemFileHandle;
      try {
        staged = await dir.getFileHandle(stagedName);
      } catch (e) {
        if (isNotFound(e)) continue;
        throw e;
      }
      const movable = staged as Movable;
      if (typeof movable.move === 'function') {
        await movable.move(dir, final);
      } else {
        // Without move() the bytes are copied (streamed from the file, not held in memory).
        await writeFile(dir, final, [await staged.getFile()]);
        await remove(dir, stagedName);
      }
      done++;
      onPromoted?.(i);
    }
    return done;
  }

  /**
   * Writes a save's parts before its commit, and says whether they went under their final names.
   * A checkpoint with no manifest yet (a periodic one, a first `latest`) has its parts written
   * under their final names: without a manifest no reader takes them, and sweep() removes them
   * after a crash, so nothing needs moving once committed. Replacing a committed checkpoint writes
   * staged names, moved into place after the commit.
   */
  async function writeParts(
    dir: FileSystemDirectoryHandle,
    id: CheckpointId,
    given: readonly [CheckpointPart, readonly Uint8Array[]][],
    generation: string,
    touched: string[],
  ): Promise<{ fresh: boolean; names: string[] }> {
    const names = (await entries(dir)).map(([n]) => n);
    const fresh = !names.includes(manifestFileName(stemOf(checkpointKey(id))));
    for (const [i, [part, chunks]] of given.entries()) {
      const final = checkpointFileName(id, part);
      const name = fresh ? final : stagedFileName(final, generation);
      touched.push(name);
      await stage('opfs-save:write', () => writeUncommitted(dir, name, chunks));
      if (crashAt('part-written', i)) throw new SimulatedCrash('part-written');
    }
    return { fresh, names };
  }

  async function save(id: CheckpointId, parts: CheckpointParts, info: SaveInfo): Promise<CheckpointMeta> {
    const generation = info.generation ?? newGeneration();
    // Hashing starts now and interleaves with the writes; the commit waits for it.
    const describing = describeSave(id, parts, { ...info, generation });
    describing.catch(() => undefined); // awaited below
    const given = givenParts(parts);
    const segments = dirSegments(id);
    return queue.run(async () => {
      let dir: FileSystemDirectoryHandle | undefined;
      let committed = false;
      let meta: CheckpointMeta | undefined;
      let before: { fresh: boolean; names: string[] } | undefined;
      // The files this save wrote or began to write: an uncommitted save removes them.
      const touched: string[] = [];
      try {
        dir = (await stage('opfs-save:folder', () => folder(segments, true)))!;
        try {
          before = await writeParts(dir, id, given, generation, touched);
        } catch (e) {
          // The folder was removed since this store last used it: found or made afresh, once.
          if (!isNotFound(e) || touched.length > 0) throw e;
          folders.delete(segments.join('/'));
          dir = (await folder(segments, true))!;
          before = await writeParts(dir, id, given, generation, touched);
        }
        const described = await stage('opfs-save:hash wait', () => describing);
        meta = described;
        // The commit: once this file is replaced, the new checkpoint is the one under the key.
        await stage('opfs-save:commit', () =>
          writeFile(dir!, manifestFileName(stemOf(described.key)), [
            JSON.stringify({ format: MANIFEST_FORMAT, ...described } satisfies Manifest),
          ]),
        );
        committed = true;
        if (crashAt('manifest-written', 0)) throw new SimulatedCrash('manifest-written');
      } catch (e) {
        if (e instanceof SimulatedCrash) throw e;
        if (!committed && dir) {
          // Only this save's own files go; the previous checkpoint was never touched.
          for (const name of touched) await remove(dir, name).catch(() => false);
        }
        throw await toStorageError(e, `save checkpoint ${checkpointKey(id)}`);
      }
      const manifest: Manifest = { format: MANIFEST_FORMAT, ...meta };
      try {
        if (!before.fresh) {
          await stage('opfs-save:promote', () =>
            promote(dir, manifest, (i) => {
              if (crashAt('part-promoted', i)) throw new SimulatedCrash('part-promoted');
            }),
          );
        }
        // What the folder held before this save is what may be left over: earlier staged files,
        // parts the new checkpoint does not have.
        await stage('opfs-save:tidy', () => tidyStem(dir, stemOf(meta.key), manifest, before.names));
      } catch (e) {
        // The checkpoint is committed and readable from its staged files; sweep() finishes the move.
        if (e instanceof SimulatedCrash) throw e;
      }
      return meta;
    });
  }

  async function list(filter: ListFilter = {}): Promise<CheckpointMeta[]> {
    // Manifests are read side by side, each checked against its folder's listing: a listing's
    // cost is a few round trips per window of manifests, not a few per checkpoint.
    const manifests = (
      await Promise.all(
        (await checkpointFolders(filter)).map(async (dir) => {
          const files = new Map<string, FileSystemFileHandle>();
          for (const [name, h] of await entries(dir)) if (h.kind === 'file') files.set(name, h as FileSystemFileHandle);
          return [...files.keys()].flatMap((name) => {
            const r = roleOf(name);
            return r.role === 'manifest' ? [{ dir, files, name, stem: r.stem }] : [];
          });
        }),
      )
    ).flat();
    const out: CheckpointMeta[] = [];
    for (let i = 0; i < manifests.length; i += LIST_WINDOW) {
      const window = await Promise.all(
        manifests.slice(i, i + LIST_WINDOW).map(async ({ dir, files, name, stem }) => {
          const f = await fileOf(dir, name, files);
          const m = f && parseManifest(await f.file.text(), stem);
          return m && (await isComplete(dir, m, files)) ? toMeta(m) : undefined;
        }),
      );
      for (const m of window) if (m) out.push(m);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.key < b.key ? -1 : 1));
  }

  async function openKey(key: string): Promise<{ dir: FileSystemDirectoryHandle; stem: string } | undefined> {
    const id = parseCheckpointKey(key);
    const dir = await folder(dirSegments(id), false);
    return dir ? { dir, stem: stemOf(key) } : undefined;
  }

  async function stat(key: string): Promise<CheckpointMeta | undefined> {
    const at = await openKey(key);
    if (!at) return undefined;
    const m = await readManifest(at.dir, at.stem);
    return m && (await isComplete(at.dir, m)) ? toMeta(m) : undefined;
  }

  async function read(key: string, part: CheckpointPart, expected?: CheckpointMeta): Promise<Uint8Array> {
    const at = await openKey(key);
    // The metadata the caller has just read stands for the manifest: the part is found and
    // verified as it records, without reading the manifest again.
    const m = at && (expected ? { format: MANIFEST_FORMAT, ...expected } : await readManifest(at.dir, at.stem));
    if (!at || !m) throw notFound('OPFS', key);
    const want = m.parts.find((p) => p.part === part);
    if (!want) throw notFound('OPFS', key, part);
    const files = (await locateParts(at.dir, { ...m, parts: [want] }))?.get(part);
    if (!files) {
      throw new TrainerError(
        'CheckpointCorruptError',
        `The ${part} part of checkpoint ${key} in OPFS is missing; it will not be loaded.`,
      );
    }
    // The final file first; after a crash during promotion the staged copy holds the committed bytes.
    let why = '';
    for (const { handle, file } of files) {
      if (file.size !== want.size) {
        why = `size ${file.size}, expected ${want.size}`;
        continue;
      }
      const bytes = await stage('checkpoint:read', () => readBytes(handle, file));
      if (await stage('checkpoint:verify', () => verifyPart(want, bytes))) return bytes;
      why = `${checksumName(want)} differs`;
    }
    throw checksumMismatch('OPFS', key, part, why);
  }

  async function deleteKey(key: string): Promise<void> {
    await queue.run(async () => {
      const at = await openKey(key);
      if (!at) return;
      // The manifest goes first, so an interrupted delete leaves orphans for sweep(), never a torn checkpoint.
      await remove(at.dir, manifestFileName(at.stem));
      await tidyStem(
        at.dir,
        at.stem,
        undefined,
        (await entries(at.dir)).map(([n]) => n),
      );
    });
  }

  /** Uncommits every checkpoint in a folder, then removes the folder. */
  async function dropCheckpointsFolder(parent: FileSystemDirectoryHandle): Promise<void> {
    const dir = await subdir(parent, CHECKPOINTS_DIR);
    if (!dir) return;
    for (const [name] of await entries(dir)) if (roleOf(name).role === 'manifest') await remove(dir, name);
    await remove(parent, CHECKPOINTS_DIR, true);
  }

  async function removeIfEmpty(parent: FileSystemDirectoryHandle, name: string): Promise<void> {
    const dir = await subdir(parent, name);
    if (dir && (await entries(dir)).length === 0) await remove(parent, name);
  }

  async function outputDirs(outputDir?: string): Promise<FileSystemDirectoryHandle[]> {
    if (outputDir !== undefined) validateOutputDir(outputDir);
    return (await subdirs(await rootDir(), outputDir)).map(([, d]) => d);
  }

  async function deleteStage(runId: string, stageName?: string, outputDir?: string): Promise<void> {
    validateRunId(runId);
    if (stageName !== undefined) validateStageName(stageName);
    await queue.run(async () => {
      folders.clear();
      for (const out of await outputDirs(outputDir)) {
        const run = await subdir(out, runId);
        if (!run) continue;
        if (stageName === undefined) {
          await dropCheckpointsFolder(run);
        } else {
          const stage = await subdir(run, stageName);
          if (stage) await dropCheckpointsFolder(stage);
          await removeIfEmpty(run, stageName);
        }
        await removeIfEmpty(out, runId);
      }
    });
  }

  async function deleteRun(runId: string, outputDir?: string): Promise<void> {
    validateRunId(runId);
    await queue.run(async () => {
      folders.clear();
      for (const out of await outputDirs(outputDir)) {
        const run = await subdir(out, runId);
        if (!run) continue;
        await dropCheckpointsFolder(run);
        for (const [name, h] of await entries(run)) {
          if (h.kind !== 'directory') continue;
          await dropCheckpointsFolder(h as FileSystemDirectoryHandle);
          await removeIfEmpty(run, name);
        }
        // Files in the run folder that are not checkpoints were not written by the store: it leaves them.
        await removeIfEmpty(out, runId);
      }
    });
  }

  async function sweep(): Promise<number> {
    return queue.run(async () => {
      let count = 0;
      for (const dir of await checkpointFolders()) {
        const names = (await entries(dir)).map(([n]) => n);
        const stems = new Set<string>();
        for (const name of names) {
          const r = roleOf(name);
          if (r.role === 'swap') {
            if (await remove(dir, name)) count++;
          } else if (r.role !== 'other') {
            stems.add(r.stem);
          }
        }
        for (const stem of stems) {
          let m = await readManifest(dir, stem);
          if (m && !(await isComplete(dir, m))) {
            // A manifest whose parts are gone (an interrupted delete): nothing of it can load.
            await remove(dir, manifestFileName(stem));
            count++;
            m = undefined;
          } else if (!m && (await remove(dir, manifestFileName(stem)))) {
            count++; // unreadable manifest
          }
          if (m) count += await promote(dir, m);
          count += await tidyStem(
            dir,
            stem,
            m,
            (await entries(dir)).map(([n]) => n),
          );
        }
      }
      return count;
    });
  }

  return { kind: 'opfs', save, list, stat, read, delete: deleteKey, deleteStage, deleteRun, sweep };
}
