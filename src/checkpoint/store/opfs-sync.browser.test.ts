// The OPFS store in a dedicated worker writes and reads through sync access handles (the app's
// trainer does); the page's tests cover the createWritable path. Both must give the same files.
import { expect, it } from 'vitest';
import type { FixtureReply, FixtureRequest } from './opfs-worker-fixture';
import { createOpfsStore } from './opfs-store';
import { bytes, sameBytes, scratchName } from './test-helpers';

function inWorker(req: FixtureRequest): Promise<FixtureReply> {
  const w = new Worker(new URL('./opfs-worker-fixture.ts', import.meta.url), { type: 'module' });
  return new Promise<FixtureReply>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<FixtureReply>) => resolve(e.data);
    w.onerror = (e) => reject(new Error(e.message));
    w.postMessage(req);
  }).finally(() => w.terminate());
}

it('a worker saves through sync access handles; the page lists and verifies the same checkpoint', async () => {
  const folder = scratchName();
  const model = bytes(3 * 1024 * 1024 + 3, 1);
  const optim = bytes(1000, 2);
  const top = await navigator.storage.getDirectory();
  try {
    const r = await inWorker({ folder, model, optim, crashSecond: true });
    expect(r.error).toBeUndefined();
    expect(r.syncHandles).toBe(true);
    // Read back in the worker (sync read), after a second save crashed mid-way: the first is intact.
    expect(sameBytes(r.model!, model)).toBe(true);
    expect(sameBytes(r.optim!, optim)).toBe(true);
    // The page (no sync handles) sees one complete checkpoint with the same bytes.
    const page = createOpfsStore({ root: await top.getDirectoryHandle(folder) });
    const listed = await page.list();
    expect(listed.map((m) => m.key)).toEqual([r.key]);
    expect(listed[0].counters.update).toBe(1);
    expect(sameBytes(await page.read(r.key, 'model'), model)).toBe(true);
    // The crashed save's staged part is a leftover for sweep(), not a checkpoint.
    expect(await page.sweep()).toBeGreaterThan(0);
    expect(sameBytes(await page.read(r.key, 'optim'), optim)).toBe(true);
  } finally {
    await top.removeEntry(folder, { recursive: true });
  }
});
