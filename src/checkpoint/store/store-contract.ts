/** The behaviour every CheckpointStore shares, run against each store by its browser test. */
import { expect, it } from 'vitest';
import { checkpointKey, tags } from '../naming';
import { bytes, counters, id } from './test-helpers';
import type { CheckpointStore } from './types';

export function storeContract(make: () => Promise<{ store: CheckpointStore; cleanup: () => Promise<unknown> }>): void {
  const withStore = (fn: (s: CheckpointStore) => Promise<void>) => async () => {
    const { store, cleanup } = await make();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };

  it(
    'saves, lists, reads and deletes',
    withStore(async (s) => {
      const a = id(tags.periodic(1, 10, 40));
      const model = bytes(1000, 1);
      const meta = await s.save(
        a,
        { model: [model.subarray(0, 300), model.subarray(300)], trainer: [bytes(10, 2)] },
        { counters: counters(10), metrics: { loss: 0.5 } },
      );
      expect(meta.key).toBe(checkpointKey(a));
      expect(meta.parts.map((p) => [p.part, p.size, p.path])).toEqual([
        ['model', 1000, 'runs/run1/train/checkpoints/net_cp=E1_U10_S40_model.th'],
        ['trainer', 10, 'runs/run1/train/checkpoints/net_cp=E1_U10_S40_trainer.th'],
      ]);
      expect(meta.parts[0].xxh64).toMatch(/^[0-9a-f]{16}$/);
      expect(meta.parts[0].sha256).toBeUndefined();
      const listed = await s.list();
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ key: meta.key, id: a, counters: counters(10), metrics: { loss: 0.5 } });
      expect(await s.read(meta.key, 'model')).toEqual(model);
      await expect(s.read(meta.key, 'optim')).rejects.toMatchObject({ name: 'CheckpointNotFoundError' });
      await expect(s.read(checkpointKey(id(tags.last())), 'model')).rejects.toMatchObject({
        name: 'CheckpointNotFoundError',
      });
      await expect(s.read('runs/../x', 'model')).rejects.toMatchObject({ name: 'CheckpointNameError' });
      await s.delete(meta.key);
      expect(await s.list()).toEqual([]);
      expect(await s.stat(meta.key)).toBeUndefined();
      await s.delete(meta.key); // absent: no error
    }),
  );

  it(
    'filters lists and deletes stages and runs',
    withStore(async (s) => {
      const info = { counters: counters(1) };
      const keys = {
        a: (await s.save(id(tags.latest()), { model: [bytes(5, 1)] }, info)).key,
        b: (await s.save(id(tags.latest(), { stageName: 'finetune' }), { model: [bytes(5, 2)] }, info)).key,
        c: (await s.save(id(tags.last(), { stageName: undefined }), { model: [bytes(5, 3)] }, info)).key,
        d: (await s.save(id(tags.latest(), { runId: 'run2' }), { model: [bytes(5, 4)] }, info)).key,
        e: (await s.save(id(tags.latest(), { outputDir: 'other' }), { model: [bytes(5, 5)] }, info)).key,
      };
      const keysOf = async (f?: Parameters<CheckpointStore['list']>[0]) => (await s.list(f)).map((m) => m.key).sort();
      expect(await keysOf()).toEqual(Object.values(keys).sort());
      expect(await keysOf({ runId: 'run1', outputDir: 'runs' })).toEqual([keys.a, keys.b, keys.c].sort());
      expect(await keysOf({ runId: 'run1', stageName: 'finetune' })).toEqual([keys.b]);
      expect(await keysOf({ outputDir: 'other', runId: 'run1' })).toEqual([keys.e]);
      expect(await keysOf({ runId: 'run3' })).toEqual([]);
      expect(await keysOf({ runId: 'a/b' })).toEqual([]); // no run can have that name: none listed
      await s.deleteStage('run1', 'finetune', 'runs');
      expect(await keysOf({ runId: 'run1' })).toEqual([keys.a, keys.c, keys.e].sort());
      await s.deleteStage('run1', undefined, 'runs'); // the stage-less checkpoints
      expect(await keysOf({ runId: 'run1' })).toEqual([keys.a, keys.e].sort());
      await s.deleteRun('run1');
      expect(await keysOf()).toEqual([keys.d]);
      await expect(s.deleteRun('a/b')).rejects.toMatchObject({ name: 'CheckpointNameError' });
    }),
  );

  it(
    'reads a part against the record the caller holds: a copy replaced since is refused, not mixed in',
    withStore(async (s) => {
      const first = await s.save(id(), { model: [bytes(100, 1)] }, { counters: counters(1) });
      const record = (await s.stat(first.key))!;
      expect(await s.read(first.key, 'model', record)).toEqual(bytes(100, 1));
      await s.save(id(), { model: [bytes(100, 2)] }, { counters: counters(2) });
      const refused = await s.read(first.key, 'model', record).then(
        () => undefined,
        (e: unknown) => (e as Error).name,
      );
      expect(refused).toMatch(/^(ChecksumMismatchError|CheckpointNotFoundError)$/);
      expect(await s.read(first.key, 'model')).toEqual(bytes(100, 2));
    }),
  );

  it(
    'replacing latest leaves exactly one complete latest',
    withStore(async (s) => {
      for (let u = 1; u <= 3; u++) {
        await s.save(id(), { model: [bytes(100 * u, u)], optim: [bytes(50, u)] }, { counters: counters(u) });
      }
      // A later latest may have fewer parts: the old optim must not linger as part of it.
      const last = await s.save(id(), { model: [bytes(7, 9)] }, { counters: counters(4) });
      const listed = await s.list();
      expect(listed).toHaveLength(1);
      expect(listed[0].counters).toEqual(counters(4));
      expect(listed[0].parts.map((p) => p.part)).toEqual(['model']);
      expect(await s.read(last.key, 'model')).toEqual(bytes(7, 9));
      await expect(s.read(last.key, 'optim')).rejects.toMatchObject({ name: 'CheckpointNotFoundError' });
      expect(await s.sweep()).toBe(0);
    }),
  );

  it(
    'refuses bad names and empty saves before writing anything',
    withStore(async (s) => {
      await expect(
        s.save(id(tags.latest(), { modelName: 'my_net' }), { model: [bytes(1, 1)] }, { counters: counters(1) }),
      ).rejects.toMatchObject({
        name: 'CheckpointNameError',
      });
      await expect(s.save(id(), {}, { counters: counters(1) })).rejects.toThrow(/at least one part/);
      expect(await s.list()).toEqual([]);
    }),
  );
}
