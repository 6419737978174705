/**
 * Exporting checkpoints: which files, under which names. A checkpoint leaves as its `.th` files
 * under their own names, or inside one `.zip` that keeps `<run_id>/<stage_name>/checkpoints/...`
 * (the output_dir is left out: it is where the files land). The zip is the stored (uncompressed)
 * kind the import reads back; tensors do not compress anyway.
 *
 * A run's export zip also carries its history beside the checkpoints: `<run_id>/run.json` (its
 * name, task, model, date) and each stage's metrics log, `<run_id>[/<stage_name>]/metrics.jsonl`,
 * next to that stage's `checkpoints/` folder (historyFiles). The `.th`-files format leaves them out.
 */
import { CHECKPOINT_PARTS, type CheckpointPart } from './naming';
import type { CheckpointMeta } from './store/types';
import { zipChunks } from './torch/index';
import { LOG_FILE_NAME, RUN_RECORD_FILE_NAME, formatRunRecord, type RunRecord } from './run-log';

/** A small file that rides in an export zip beside the checkpoints (a run's record, a metrics log). */
export interface ExtraFile {
  zipPath: string;
  bytes: Uint8Array;
}

/**
 * The history files of a run's export: its record, and the log of each stage that has one.
 * `logs` maps a stage name ('' for none) to the log's JSONL text.
 */
export function historyFiles(
  runId: string,
  record: RunRecord | undefined,
  logs: ReadonlyMap<string, string>,
): ExtraFile[] {
  const enc = new TextEncoder();
  const out: ExtraFile[] = [];
  if (record) out.push({ zipPath: `${runId}/${RUN_RECORD_FILE_NAME}`, bytes: enc.encode(formatRunRecord(record)) });
  for (const [stage, text] of [...logs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!text) continue;
    out.push({
      zipPath: stage ? `${runId}/${stage}/${LOG_FILE_NAME}` : `${runId}/${LOG_FILE_NAME}`,
      bytes: enc.encode(text),
    });
  }
  return out;
}

export interface ExportFile {
  key: string;
  part: CheckpointPart;
  /** The part's own file name. */
  name: string;
  /** Its path inside an export zip: `<run_id>[/<stage_name>]/checkpoints/<name>`. */
  zipPath: string;
  size: number;
}

/** The files of some checkpoints, in a stable order (by key, then model, optim, trainer). */
export function exportFiles(metas: readonly CheckpointMeta[]): ExportFile[] {
  const out: ExportFile[] = [];
  for (const m of [...metas].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    for (const part of CHECKPOINT_PARTS) {
      const info = m.parts.find((p) => p.part === part);
      if (!info) continue;
      const slash = info.path.indexOf('/');
      out.push({
        key: m.key,
        part,
        name: info.path.slice(info.path.lastIndexOf('/') + 1),
        zipPath: info.path.slice(slash + 1),
        size: info.size,
      });
    }
  }
  return out;
}

/** A file name for an export zip: the run, and the tag when it is one checkpoint. */
export function exportZipName(runId: string, tag?: string): string {
  return tag ? `${runId}_${tag}.zip` : `${runId}.zip`;
}

/**
 * The export zip as chunks, reading one part at a time through `read`: at most two parts are in
 * memory at once, never the whole export, and each chunk goes out as soon as it is ready. (The
 * zip writer needs an entry's bytes for its CRC before its header, so a part is read whole.)
 */
export async function* exportZipChunks(
  files: readonly ExportFile[],
  read: (f: ExportFile) => Promise<Uint8Array>,
  extras: readonly ExtraFile[] = [],
): AsyncGenerator<Uint8Array> {
  const sources = [
    ...files.map((f) => ({ name: f.zipPath, get: () => read(f) })),
    ...extras.map((x) => ({ name: x.zipPath, get: () => Promise.resolve(x.bytes) })),
  ];
  // zipChunks is synchronous and takes entries lazily; it asks for the next one only after it
  // has yielded the previous entry's data chunk (the very array we gave it), so we read the next
  // part just then. When `ready` is empty at its ask, the entries are over.
  const ready: { name: string; data: Uint8Array }[] = [];
  const entries: Iterable<{ name: string; data: Uint8Array }> = {
    *[Symbol.iterator]() {
      while (ready.length > 0) yield ready.shift()!;
    },
  };
  let next = 0;
  let current: Uint8Array | null = null;
  const load = async () => {
    // An empty part yields no data chunk, so keep loading until one is not empty.
    while (next < sources.length) {
      const f = sources[next++];
      const data = await f.get();
      ready.push({ name: f.name, data });
      if (data.length > 0) {
        current = data;
        return;
      }
    }
    current = null;
  };
  await load();
  const gen = zipChunks(entries);
  for (let r = gen.next(); !r.done; r = gen.next()) {
    yield r.value;
    if (r.value === current) await load();
  }
}
