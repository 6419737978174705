/**
 * Test fixture (opfs-sync.browser.test.ts): the OPFS store run inside a dedicated worker, where it
 * writes and reads through sync access handles. Answers one request with what it saw.
 */
import { createOpfsStore } from './opfs-store';
import { SimulatedCrash } from './common';
import { tags } from '../naming';

export interface FixtureRequest {
  folder: string;
  model: Uint8Array;
  optim: Uint8Array;
  /** Stop the second save after its first staged part, as a crash would. */
  crashSecond: boolean;
}

export interface FixtureReply {
  syncHandles: boolean;
  key: string;
  model?: Uint8Array;
  optim?: Uint8Array;
  error?: { name: string; message: string };
}

self.onmessage = async (e: MessageEvent<FixtureRequest>) => {
  const { folder, model, optim, crashSecond } = e.data;
  const reply: FixtureReply = { syncHandles: false, key: '' };
  try {
    const top = await navigator.storage.getDirectory();
    const root = await top.getDirectoryHandle(folder, { create: true });
    const probe = await root.getFileHandle('probe', { create: true });
    reply.syncHandles = typeof (probe as { createSyncAccessHandle?: unknown }).createSyncAccessHandle === 'function';
    await root.removeEntry('probe');
    let crashing = false;
    const store = createOpfsStore({ root, crashAt: (step) => crashing && step === 'part-written' });
    const id = { outputDir: 'runs', runId: 'w', modelName: 'net', tag: tags.latest() };
    const counters = { epoch: 0, update: 1, sample: 1 };
    // Given as several chunks, as the torch writer produces them.
    const meta = await store.save(
      id,
      { model: [model.subarray(0, 5), model.subarray(5)], optim: [optim] },
      { counters },
    );
    reply.key = meta.key;
    if (crashSecond) {
      crashing = true;
      await store
        .save(
          id,
          { model: [new Uint8Array(model.length)], optim: [new Uint8Array(3)] },
          { counters: { ...counters, update: 2 } },
        )
        .catch((err: unknown) => {
          if (!(err instanceof SimulatedCrash)) throw err;
        });
    }
    reply.model = await store.read(meta.key, 'model');
    reply.optim = await store.read(meta.key, 'optim');
  } catch (err) {
    reply.error = { name: (err as Error).name, message: (err as Error).message };
  }
  self.postMessage(reply);
};
