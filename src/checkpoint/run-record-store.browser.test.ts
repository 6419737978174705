// Run records and metrics logs in real Chromium storage (IndexedDB and OPFS): both stores hold
// them, either one alone serves, torn and hostile lines are skipped with a count, a huge log is
// read bounded, deletes leave nothing, and an export zip carries the log and the name through an
// import into fresh stores.
/// <reference types="vite/client" />
import { deleteDB } from 'idb';
import modelUrl from '../../test-data/import-good/char-mlp_cp=E0_U10_S320_model.th?url';
import optimUrl from '../../test-data/import-good/char-mlp_cp=E0_U10_S320_optim.th?url';
import trainerUrl from '../../test-data/import-good/char-mlp_cp=E0_U10_S320_trainer.th?url';
import { describe, expect, it } from 'vitest';
import { modelShapes } from '../worker/model-shapes';
import { exportFiles, exportZipChunks, historyFiles } from './export';
import { applyImport, planImport } from './import';
import { MAX_LOG_BYTES, MAX_LOG_ENTRIES, formatLog, parseLog, type LogEntry } from './run-log';
import { createRunRecordStore } from './run-record-store';
import { createIdbStore } from './store/idb-store';
import type { CheckpointMeta } from './store/types';
import { scratchName } from './store/test-helpers';
import { concatChunks } from './torch/index';

const train = (update: number, loss = 2): LogEntry => ({
  kind: 'train',
  update,
  epoch: update / 50,
  loss,
  time: 1_700_000_000_000 + update,
  backend: 'webgpu',
});
const val = (update: number): LogEntry => ({
  kind: 'val',
  update,
  epoch: update / 50,
  metrics: { 'val/loss': 1.5, 'val/accuracy': 0.7 },
  time: 1_700_000_000_000 + update,
  backend: 'webgpu',
});

async function scratch(use: 'both' | 'idb' | 'opfs' = 'both') {
  const name = scratchName();
  const top = await navigator.storage.getDirectory();
  const root = await top.getDirectoryHandle(name, { create: true });
  const open = (u = use) => createRunRecordStore({ use: u, dbName: name, root });
  return {
    store: open(),
    open,
    root,
    name,
    cleanup: async () => {
      await top.removeEntry(name, { recursive: true });
      await deleteDB(name);
    },
  };
}

async function opfsText(root: FileSystemDirectoryHandle, path: string[]): Promise<string | undefined> {
  let d = root;
  for (const s of path.slice(0, -1)) d = await d.getDirectoryHandle(s);
  return (await (await d.getFileHandle(path.at(-1)!)).getFile()).text();
}

async function writeOpfs(root: FileSystemDirectoryHandle, path: string[], text: string): Promise<void> {
  let d = root;
  for (const s of path.slice(0, -1)) d = await d.getDirectoryHandle(s, { create: true });
  const w = await (await d.getFileHandle(path.at(-1)!, { create: true })).createWritable();
  await w.write(text);
  await w.close();
}

describe('run record store', () => {
  it('keeps records and appended logs in both stores, each of which serves alone', async () => {
    const { store, open, root, cleanup } = await scratch();
    try {
      await store.putRecord({
        outputDir: 'runs',
        runId: 'r1',
        name: 'first try',
        task: 'names',
        model: 'gpt',
        createdAt: 42,
      });
      await store.appendLog('runs', 'r1', 'train', [train(1), train(2)]);
      await store.appendLog('runs', 'r1', 'train', [val(2), train(3)]);
      const both = await store.readLog('runs', 'r1', 'train');
      expect(both.entries.map((e) => `${e.kind}@${e.update}`)).toEqual(['train@1', 'train@2', 'val@2', 'train@3']);
      expect(both.skipped).toBe(0);
      // The files are where the export and Python put them.
      expect(parseLog((await opfsText(root, ['runs', 'r1', 'train', 'metrics.jsonl']))!).entries).toEqual(both.entries);
      expect(JSON.parse((await opfsText(root, ['runs', 'r1', 'run.json']))!)).toMatchObject({ name: 'first try' });
      for (const use of ['idb', 'opfs'] as const) {
        const one = open(use);
        expect((await one.readLog('runs', 'r1', 'train')).entries, use).toEqual(both.entries);
        expect((await one.getRecord('runs', 'r1'))?.name, use).toBe('first try');
      }
      expect(await store.rename('runs', 'r1', '  lr 0.01\n(best) ')).toBe('lr 0.01 (best)');
      expect((await open('opfs').getRecord('runs', 'r1'))?.name).toBe('lr 0.01 (best)');
      expect((await open('idb').listRecords()).map((r) => r.name)).toEqual(['lr 0.01 (best)']);
    } finally {
      await cleanup();
    }
  });

  it('skips torn and hostile lines with a count, and takes the copy with more good entries', async () => {
    const { store, open, root, cleanup } = await scratch();
    try {
      await store.appendLog('runs', 'r2', undefined, [train(1), train(2), val(2)]);
      // OPFS copy: a hostile line and one torn by a crash mid-append.
      const good = formatLog([train(1), train(2), val(2)]);
      await writeOpfs(
        root,
        ['runs', 'r2', 'metrics.jsonl'],
        good + '{"kind":"train","update":"<img src=x onerror=alert(1)>","loss":1,"time":1,"backend":"x"}\n{"kind":"tra',
      );
      const opfsOnly = await open('opfs').readLog('runs', 'r2');
      expect(opfsOnly.skipped).toBe(2);
      expect(opfsOnly.entries).toHaveLength(3);
      // The IndexedDB copy lost its data: the OPFS copy serves.
      await open('idb').replaceLog('runs', 'r2', undefined, []);
      const read = await store.readLog('runs', 'r2');
      expect(read.entries).toHaveLength(3);
    } finally {
      await cleanup();
    }
  });

  it('reads a huge log bounded: the newest MAX_LOG_BYTES, at most MAX_LOG_ENTRIES entries', async () => {
    const { open, root, cleanup } = await scratch('opfs');
    try {
      const line = formatLog([train(1)]);
      const n = Math.ceil((MAX_LOG_BYTES * 1.25) / line.length);
      const big = formatLog(Array.from({ length: n }, (_, i) => train(i + 1)));
      await writeOpfs(root, ['runs', 'r3', 'metrics.jsonl'], big);
      const log = await open().readLog('runs', 'r3');
      expect(log.capped).toBe(true);
      expect(log.entries.length).toBeLessThanOrEqual(MAX_LOG_ENTRIES);
      expect(log.entries.at(-1)!.update).toBe(n);
    } finally {
      await cleanup();
    }
  });

  it('replaces a log whole (a resume, a compaction) and deletes a run without trace', async () => {
    const { store, root, cleanup } = await scratch();
    try {
      await store.appendLog('runs', 'r4', 's', [train(1), train(2), train(3)]);
      await store.replaceLog('runs', 'r4', 's', [train(1)]);
      expect((await store.readLog('runs', 'r4', 's')).entries).toEqual([train(1)]);
      await store.putRecord({ outputDir: 'runs', runId: 'r4', name: 'x', task: 't', model: 'm', createdAt: 1 });
      await store.deleteRun('runs', 'r4');
      expect((await store.readLog('runs', 'r4', 's')).entries).toEqual([]);
      expect(await store.getRecord('runs', 'r4')).toBeUndefined();
      await expect(root.getDirectoryHandle('runs').then((d) => d.getDirectoryHandle('r4'))).rejects.toMatchObject({
        name: 'NotFoundError',
      });
    } finally {
      await cleanup();
    }
  });

  it('an export zip carries the log and the name through an import into other stores', async () => {
    const a = await scratch();
    const b = await scratch();
    const checkpoints = createIdbStore({ dbName: scratchName() });
    try {
      // A real checkpoint from the import corpus, as the app wrote it.
      const files = await Promise.all(
        Object.entries({ model: modelUrl, optim: optimUrl, trainer: trainerUrl }).map(async ([p, url]) => {
          const name = `char-mlp_cp=E0_U10_S320_${p}.th`;
          const r = await fetch(url);
          expect(r.headers.get('content-type'), name).not.toContain('html');
          return { path: name, bytes: new Uint8Array(await r.arrayBuffer()) };
        }),
      );
      const shapesFor = async (c: Record<string, unknown>) => modelShapes(c);
      const plan = await planImport(files, { shapesFor });
      expect(plan.refused).toEqual([]);
      const { id, key, parts } = plan.items[0];
      const meta = {
        key,
        parts: (['model', 'optim', 'trainer'] as const).map((p) => ({
          part: p,
          path: `${key}_${p}.th`,
          size: parts[p]![0].length,
          xxh64: '',
        })),
      } as unknown as CheckpointMeta;
      const log = [train(9), val(10), train(10)];
      await a.store.appendLog(id.outputDir, id.runId, id.stageName, log);
      await a.store.putRecord({ ...id, name: 'my names model', task: 'names', model: 'char-mlp', createdAt: 7 });
      const extras = historyFiles(
        id.runId,
        await a.store.getRecord(id.outputDir, id.runId),
        new Map([[id.stageName ?? '', await a.store.readLogText(id.outputDir, id.runId, id.stageName)]]),
      );
      expect(extras.map((x) => x.zipPath)).toEqual([
        `${id.runId}/run.json`,
        `${id.runId}/${id.stageName}/metrics.jsonl`,
      ]);
      const chunks: Uint8Array[] = [];
      for await (const c of exportZipChunks(exportFiles([meta]), async (f) => parts[f.part]![0], extras))
        chunks.push(c);
      const again = await planImport([{ path: 'run.zip', bytes: concatChunks(chunks) }], { shapesFor });
      expect(again.refused).toEqual([]);
      expect(again.logs.map((l) => l.entries)).toEqual([log]);
      const result = await applyImport(checkpoints, again, () => true, b.store);
      expect(result).toMatchObject({ written: [key], logs: 1, records: 1 });
      expect((await b.store.readLog(id.outputDir, id.runId, id.stageName)).entries).toEqual(log);
      expect(await b.store.getRecord(id.outputDir, id.runId)).toMatchObject({ name: 'my names model', createdAt: 7 });
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });
});
