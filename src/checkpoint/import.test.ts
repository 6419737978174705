// The import path in Node: the corpus of bad files (test-data/import-bad, made by
// scripts/make-import-bad.py) is refused file by file with the expected named error and nothing
// is written; a good checkpoint, an export zip and a plain state_dict are accepted; a clash asks
// first; and random mutations of a good file only ever give a plan or named refusals.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { propertyRuns } from '../../tools/property';
import { describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../shared/errors';
import { modelShapes } from '../worker/model-shapes';
import { exportFiles, exportZipChunks } from './export';
import { applyImport, planImport, type ImportSource } from './import';
import type { CheckpointMeta, CheckpointStore } from './store/types';
import { concatChunks } from './torch/index';

const DATA = join(__dirname, '../../test-data');
const shapesFor = async (c: Record<string, unknown>) => modelShapes(c);
const filesIn = (dir: string): ImportSource[] =>
  readdirSync(dir).map((f) => ({ path: f, bytes: new Uint8Array(readFileSync(join(dir, f))) }));

/** Just enough of a store for applyImport: stat and save, in memory. */
function memoryStore(keys: string[] = []): CheckpointStore & { saved: string[] } {
  const held = new Set(keys);
  const saved: string[] = [];
  const meta = (key: string) => ({ key }) as CheckpointMeta;
  return {
    kind: 'idb',
    saved,
    save: async (id, _parts, info) => {
      const { checkpointKey } = await import('./naming');
      const key = checkpointKey(id);
      held.add(key);
      saved.push(key);
      return { ...meta(key), counters: info.counters };
    },
    stat: async (key) => (held.has(key) ? meta(key) : undefined),
    list: async () => [],
    read: async () => new Uint8Array(),
    delete: async () => {},
    deleteStage: async () => {},
    deleteRun: async () => {},
    sweep: async () => 0,
  };
}

describe('import', () => {
  it('refuses every file of the bad corpus with its named error, and writes nothing', async () => {
    const expected = JSON.parse(readFileSync(join(DATA, 'import-bad/expected.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(20);
    for (const [name, error] of Object.entries(expected)) {
      const plan = await planImport(filesIn(join(DATA, 'import-bad', name)), { shapesFor });
      expect(plan.refused.length, name).toBeGreaterThan(0);
      expect(
        plan.refused.map((r) => r.error.name),
        name,
      ).toContain(error);
      for (const r of plan.refused) expect(r.error.message.length, name).toBeGreaterThan(10);
      const store = memoryStore();
      await expect(
        applyImport(store, plan, () => true),
        name,
      ).rejects.toThrow(/nothing was imported/);
      expect(store.saved, name).toEqual([]);
    }
  });

  it('accepts a good checkpoint, and as an export zip', async () => {
    const plan = await planImport(filesIn(join(DATA, 'import-good')), { shapesFor });
    expect(plan.refused).toEqual([]);
    expect(plan.items.map((i) => i.key)).toEqual(['runs/corpus-base/train/checkpoints/char-mlp_cp=E0_U10_S320']);
    expect(Object.keys(plan.items[0].parts).sort()).toEqual(['model', 'optim', 'trainer']);

    // Round trip through the exporter's zip.
    const parts = plan.items[0].parts;
    const meta = {
      key: plan.items[0].key,
      parts: (['model', 'optim', 'trainer'] as const).map((p) => ({
        part: p,
        path: `${plan.items[0].key}_${p}.th`,
        size: parts[p]![0].length,
        xxh64: '',
      })),
      // Only the fields the import reads; the rest of CheckpointMeta does not matter here.
    } as unknown as CheckpointMeta;
    const files = exportFiles([meta]);
    expect(files.map((f) => f.zipPath)).toEqual([
      'corpus-base/train/checkpoints/char-mlp_cp=E0_U10_S320_model.th',
      'corpus-base/train/checkpoints/char-mlp_cp=E0_U10_S320_optim.th',
      'corpus-base/train/checkpoints/char-mlp_cp=E0_U10_S320_trainer.th',
    ]);
    const chunks: Uint8Array[] = [];
    for await (const c of exportZipChunks(files, async (f) => parts[f.part]![0])) chunks.push(c);
    const again = await planImport([{ path: 'run.zip', bytes: concatChunks(chunks) }], { shapesFor });
    expect(again.refused).toEqual([]);
    expect(again.items.map((i) => i.key)).toEqual(plan.items.map((i) => i.key));
  });

  it('stores a plain PyTorch state_dict under the import run, for a warm start', async () => {
    const bytes = new Uint8Array(readFileSync(join(DATA, 'torch/mlp_model.th')));
    const plan = await planImport([{ path: 'my_mlp.th', bytes }], { shapesFor });
    expect(plan.refused).toEqual([]);
    expect(plan.items[0]).toMatchObject({ plain: true, key: 'runs/imported/checkpoints/my-mlp_cp=last' });
  });

  it('asks before replacing an existing checkpoint, and keeps it when told no', async () => {
    const plan = await planImport(filesIn(join(DATA, 'import-good')), { shapesFor });
    const store = memoryStore([plan.items[0].key]);
    const asked: string[][] = [];
    const r = await applyImport(store, plan, (keys) => (asked.push(keys), false));
    expect(asked).toEqual([[plan.items[0].key]]);
    expect(r).toEqual({ written: [], kept: [plan.items[0].key], logs: 0, records: 0 });
    expect(store.saved).toEqual([]);
    const yes = await applyImport(store, plan, () => true);
    expect(yes.written).toEqual([plan.items[0].key]);
  });

  it('turns any mutation of a good file into a plan or named refusals, never a stray throw', async () => {
    const good = filesIn(join(DATA, 'import-good'));
    const model = good.find((f) => f.path.endsWith('_model.th'))!;
    const names = new Set<string>(ERROR_NAMES);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(model.bytes.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.option(fc.nat(model.bytes.length), { nil: undefined }),
        async (flips, cut) => {
          const bytes = model.bytes.slice(0, cut ?? model.bytes.length);
          for (const [i, b] of flips) if (i < bytes.length) bytes[i] = b;
          const plan = await planImport([{ path: model.path, bytes }], { shapesFor });
          expect(plan.items.length + plan.refused.length).toBeGreaterThan(0);
          for (const r of plan.refused)
            expect(names.has(r.error.name), `${r.error.name}: ${r.error.message}`).toBe(true);
        },
      ),
      propertyRuns('import: mutated good files', 200),
    );
  });
});
