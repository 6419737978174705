import { describe, expect, it } from 'vitest';
import { CHECKPOINT_PARTS, checkpointFileName, checkpointKey, tags } from '../naming';
import type { CrashAt } from './common';
import { manifestFileName, stagedFileName } from './opfs-store';
import { storeContract } from './store-contract';
import { bytes, counters, id, scratchOpfs } from './test-helpers';
import type { CheckpointStore } from './types';

async function folder(root: FileSystemDirectoryHandle, path: string): Promise<FileSystemDirectoryHandle> {
  let d = root;
  for (const s of path.split('/')) d = await d.getDirectoryHandle(s);
  return d;
}

async function names(dir: FileSystemDirectoryHandle): Promise<string[]> {
  const out: string[] = [];
  // entries() is missing from the TS libs this project loads (see opfs-store.ts).
  for await (const [n] of (dir as unknown as { entries(): AsyncIterable<[string, unknown]> }).entries()) out.push(n);
  return out.sort();
}

async function put(dir: FileSystemDirectoryHandle, name: string, data: Uint8Array<ArrayBuffer>): Promise<void> {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(data);
  await w.close();
}

const CP = 'runs/run1/train/checkpoints';
const old = { model: [bytes(300, 1)], optim: [bytes(200, 2)], trainer: [bytes(50, 3)] };
const neu = { model: [bytes(301, 11)], optim: [bytes(201, 12)], trainer: [bytes(51, 13)] };

/** Reads every part of the one listed checkpoint and says whether it is wholly old or wholly new. */
async function whichGeneration(s: CheckpointStore): Promise<'old' | 'new'> {
  const listed = await s.list();
  expect(listed).toHaveLength(1);
  const got = await Promise.all((['model', 'optim', 'trainer'] as const).map((p) => s.read(listed[0].key, p)));
  const is = (set: typeof old) =>
    got.every((g, i) => g.length === set[(['model', 'optim', 'trainer'] as const)[i]][0].length);
  if (is(old)) {
    expect(got).toEqual([old.model[0], old.optim[0], old.trainer[0]]);
    return 'old';
  }
  expect(got).toEqual([neu.model[0], neu.optim[0], neu.trainer[0]]);
  return 'new';
}

describe('OPFS store', () => {
  storeContract(scratchOpfs);

  it('writes real folders and files under the naming scheme, and nothing else', async () => {
    const { store, root, cleanup } = await scratchOpfs();
    try {
      const a = id(tags.best('val/loss'), { modelInfo: 'ema_factor=0.9999' });
      await store.save(a, { model: [bytes(10, 1)] }, { counters: counters(1) });
      expect(await names(await folder(root, CP))).toEqual([
        'net_ema_factor=0.9999_cp=best.val.loss.manifest.json',
        'net_ema_factor=0.9999_cp=best.val.loss_model.th',
      ]);
    } finally {
      await cleanup();
    }
  });

  it('a flipped byte gives ChecksumMismatchError; a shortened file hides the checkpoint', async () => {
    const { store, root, cleanup } = await scratchOpfs();
    try {
      const meta = await store.save(id(), { model: [bytes(100, 1)] }, { counters: counters(1) });
      const dir = await folder(root, CP);
      const name = checkpointFileName(id(), 'model');
      const damaged = bytes(100, 1);
      damaged[42] ^= 0x10;
      await put(dir, name, damaged);
      await expect(store.read(meta.key, 'model')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /SHA-256/,
      });
      expect(await store.list()).toHaveLength(1); // list reads no bytes; read() is where contents are checked
      await put(dir, name, bytes(99, 1));
      expect(await store.list()).toEqual([]);
      await expect(store.read(meta.key, 'model')).rejects.toMatchObject({
        name: 'ChecksumMismatchError',
        message: /size/,
      });
      await dir.removeEntry(name);
      await expect(store.read(meta.key, 'model')).rejects.toMatchObject({ name: 'CheckpointCorruptError' });
    } finally {
      await cleanup();
    }
  });

  // A crash at each step of replacing `latest`: before the manifest the old checkpoint stands,
  // after it the new one does, and sweep() then leaves only that one's files.
  const steps: [string, CrashAt, 'old' | 'new'][] = [
    ['after the first staged part', (s, i) => s === 'part-written' && i === 0, 'old'],
    ['after the last staged part', (s, i) => s === 'part-written' && i === 2, 'old'],
    ['after the manifest', (s) => s === 'manifest-written', 'new'],
    ['after one part was moved into place', (s, i) => s === 'part-promoted' && i === 0, 'new'],
    ['after two parts were moved into place', (s, i) => s === 'part-promoted' && i === 1, 'new'],
  ];
  it.each(steps)('a crash %s leaves one complete latest', async (_why, at, want) => {
    let armed = false;
    const { store, root, cleanup } = await scratchOpfs((s, i) => armed && at(s, i));
    try {
      await store.save(id(), old, { counters: counters(1) });
      armed = true;
      await expect(store.save(id(), neu, { counters: counters(2) })).rejects.toThrow(/simulated crash/);
      armed = false;
      expect(await whichGeneration(store)).toBe(want);
      expect(await store.sweep()).toBeGreaterThan(0);
      expect(await whichGeneration(store)).toBe(want);
      const stem = 'net_cp=latest';
      expect(await names(await folder(root, CP))).toEqual([
        manifestFileName(stem),
        `${stem}_model.th`,
        `${stem}_optim.th`,
        `${stem}_trainer.th`,
      ]);
      expect(await store.sweep()).toBe(0);
    } finally {
      await cleanup();
    }
  });

  // A checkpoint with no manifest yet (a new periodic tag) is written under its final names, with
  // nothing to move after the commit; a crash before the commit leaves nothing that lists or loads.
  it.each([0, 2])('a crash after new checkpoint part %i leaves none listed, and sweep() removes it', async (at) => {
    let armed = true;
    const { store, root, cleanup } = await scratchOpfs((s, i) => armed && s === 'part-written' && i === at);
    try {
      const fresh = id(tags.periodic(1, 10, 40));
      await expect(store.save(fresh, neu, { counters: counters(10) })).rejects.toThrow(/simulated crash/);
      armed = false;
      const dir = await folder(root, CP);
      const written = CHECKPOINT_PARTS.slice(0, at + 1).map((p) => checkpointFileName(fresh, p));
      expect(await names(dir)).toEqual(written.sort());
      expect(await store.list()).toEqual([]);
      expect(await store.stat(checkpointKey(fresh))).toBeUndefined();
      await expect(store.read(checkpointKey(fresh), 'model')).rejects.toMatchObject({
        name: 'CheckpointNotFoundError',
      });
      expect(await store.sweep()).toBe(at + 1);
      expect(await names(dir)).toEqual([]);
      const meta = await store.save(fresh, neu, { counters: counters(10) });
      expect(await store.read(meta.key, 'optim')).toEqual(neu.optim[0]);
    } finally {
      await cleanup();
    }
  });

  it('a new checkpoint is complete the moment its manifest is written: no staged files, nothing to sweep', async () => {
    let armed = true;
    const { store, root, cleanup } = await scratchOpfs((s) => armed && s === 'manifest-written');
    try {
      const fresh = id(tags.periodic(1, 10, 40));
      await expect(store.save(fresh, neu, { counters: counters(10) })).rejects.toThrow(/simulated crash/);
      armed = false;
      expect(await whichGeneration(store)).toBe('new');
      expect(await names(await folder(root, CP))).toEqual(
        [manifestFileName('net_cp=E1_U10_S40'), ...CHECKPOINT_PARTS.map((p) => checkpointFileName(fresh, p))].sort(),
      );
      expect(await store.sweep()).toBe(0);
    } finally {
      await cleanup();
    }
  });

  it('saves into a folder removed since its last save (the run deleted from another tab)', async () => {
    const { store, root, cleanup } = await scratchOpfs();
    try {
      await store.save(id(), old, { counters: counters(1) });
      await (await folder(root, 'runs')).removeEntry('run1', { recursive: true });
      expect(await store.list()).toEqual([]);
      const meta = await store.save(id(), neu, { counters: counters(2) });
      expect(await whichGeneration(store)).toBe('new');
      expect(meta.counters.update).toBe(2);
      expect(await names(await folder(root, CP))).toEqual([
        manifestFileName('net_cp=latest'),
        'net_cp=latest_model.th',
        'net_cp=latest_optim.th',
        'net_cp=latest_trainer.th',
      ]);
    } finally {
      await cleanup();
    }
  });

  it('sweeps leftovers: parts without a manifest, stray staged files, swap files, a manifest without parts', async () => {
    const { store, root, cleanup } = await scratchOpfs();
    try {
      const good = await store.save(
        id(tags.periodic(1, 10, 40)),
        { model: [bytes(30, 1)] },
        { counters: counters(10) },
      );
      const dir = await folder(root, CP);
      const orphanId = id(tags.periodic(2, 20, 80));
      await put(dir, checkpointFileName(orphanId, 'model'), bytes(5, 1)); // a part whose manifest never came
      await put(dir, stagedFileName(checkpointFileName(id(tags.latest()), 'optim'), 'gdead'), bytes(5, 2));
      await put(dir, stagedFileName(checkpointFileName(id(tags.periodic(1, 10, 40)), 'model'), 'gold'), bytes(5, 3));
      await put(dir, `${checkpointFileName(id(tags.last()), 'model')}.crswap`, bytes(5, 4));
      await put(dir, manifestFileName('net_cp=last'), new TextEncoder().encode('{"torn'));
      const ghost = await store.save(id(tags.best('loss')), { model: [bytes(8, 8)] }, { counters: counters(10) });
      await dir.removeEntry(checkpointFileName(id(tags.best('loss')), 'model'));
      expect((await store.list()).map((m) => m.key)).toEqual([good.key]); // nothing torn is listed
      expect(await store.stat(ghost.key)).toBeUndefined();
      expect(await store.sweep()).toBe(6);
      expect(await names(dir)).toEqual([
        manifestFileName('net_cp=E1_U10_S40'),
        checkpointFileName(id(tags.periodic(1, 10, 40)), 'model'),
      ]);
      expect(await store.read(good.key, 'model')).toEqual(bytes(30, 1));
    } finally {
      await cleanup();
    }
  });
});
