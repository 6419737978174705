// The loop's disk-full path, in Node on tfjs's CPU backend: a save that fails for lack of space
// pauses training and is tried again on Resume; Stop on a full disk ends the run cleanly.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import { TrainerError } from '../shared/errors';
import type { TrainerEvent } from '../shared/progress';
import { CharWindowTask } from '../tasks/names-task';
import { startPosition, TrainingLoop } from './loop';
import { learningRateAt } from './schedule';
import { TrainingSession } from './session';

const run: RunConfig = { ...DEFAULT_CONFIG, hidden: 8, embed: 4, batch_size: 8, epochs: 50, eval_every: 0 };
const words = Array.from(
  { length: 60 },
  (_, i) => `w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + ((i * 7) % 26))}`,
);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

it('pauses on a full disk, retries the save on resume, and goes on', async () => {
  const session = new TrainingSession(run, new CharWindowTask(words, run));
  const events: TrainerEvent[] = [];
  let attempts = 0;
  const loop = new TrainingLoop(session, run, startPosition(run), (e) => events.push(e), {
    afterStep: async (s) => {
      if (s.position.counters.update !== 5) return;
      attempts++;
      if (attempts === 1) throw new TrainerError('QuotaExceededError', 'disk full');
    },
  });
  const done = loop.runToEnd(20);
  await expect.poll(() => events.some((e) => e.type === 'state' && e.state === 'paused')).toBe(true);
  expect(loop.position().counters.update).toBe(5);
  const paused = events.find((e) => e.type === 'state' && e.state === 'paused');
  expect(paused).toMatchObject({ error: { name: 'QuotaExceededError' } });
  loop.resume();
  const end = await done;
  expect(attempts).toBe(2);
  expect(end.update).toBe(20);
  session.dispose();
});

it('stopping while the disk is full ends the run without an error', async () => {
  const session = new TrainingSession(run, new CharWindowTask(words, run));
  const events: TrainerEvent[] = [];
  const loop = new TrainingLoop(session, run, startPosition(run), (e) => events.push(e), {
    afterStep: async () => {
      throw new TrainerError('QuotaExceededError', 'disk full');
    },
  });
  const done = loop.runToEnd(20);
  await expect.poll(() => events.some((e) => e.type === 'state' && e.state === 'paused')).toBe(true);
  loop.stop();
  await expect(done).resolves.toMatchObject({ update: 1 });
  session.dispose();
});

it('any other failure of a save fails the run', async () => {
  const session = new TrainingSession(run, new CharWindowTask(words, run));
  const loop = new TrainingLoop(session, run, startPosition(run), () => {}, {
    afterStep: async () => {
      throw new TrainerError('CheckpointCorruptError', 'boom');
    },
  });
  await expect(loop.runToEnd(5)).rejects.toMatchObject({ name: 'CheckpointCorruptError' });
  session.dispose();
});

it('changes the learning rate on every optimizer as the schedule moves', async () => {
  for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
    const r: RunConfig = {
      ...run,
      optimizer,
      schedule: 'cosine',
      warmup: 3,
      lr: 0.05,
      momentum: optimizer === 'adam' ? 0 : 0.9,
    };
    const session = new TrainingSession(r, new CharWindowTask(words, r));
    // The rate the optimizer held for each step, read right after the step from the loop's hook.
    const applied: { update: number; lr: number }[] = [];
    const reported: { update: number; lr: number }[] = [];
    const loop = new TrainingLoop(
      session,
      r,
      startPosition(r),
      (e) => e.type === 'progress' && reported.push({ update: e.counters.update, lr: e.lr }),
      {
        afterStep: async (s) => {
          applied.push({ update: s.before.update, lr: session.optimizer.learningRate });
        },
      },
    );
    const end = await loop.runToEnd(8);
    expect(end.update, optimizer).toBe(8);
    const total = loop.totalUpdates;
    expect(
      applied.map((a) => a.update),
      optimizer,
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const a of applied)
      expect(a.lr, `${optimizer} step ${a.update}`).toBeCloseTo(learningRateAt(r, a.update, total), 12);
    // Warm-up rises to the base rate, then cosine decay starts: the rates really move.
    expect(applied[0].lr).toBeCloseTo(0.05 / 3, 12);
    expect(applied[2].lr).toBeCloseTo(0.05, 12);
    expect(applied[7].lr).toBeLessThan(0.05);
    // What the page is told is the rate of the next step at the reported update.
    expect(reported.length, optimizer).toBeGreaterThan(0);
    for (const p of reported)
      expect(p.lr, `${optimizer} progress at ${p.update}`).toBeCloseTo(learningRateAt(r, p.update, total), 12);
    session.dispose();
  }
});

/**
 * A Checkpointer over a fake of the few store methods it calls (the full interface is not needed
 * here); `save` stands in for the store's, given each save's counters.
 */
async function fakeCheckpointer(
  r: RunConfig,
  session: TrainingSession,
  runId: string,
  save: (update: number) => Promise<void> | void,
) {
  const { Checkpointer } = await import('./checkpointer');
  const store = {
    kind: 'both',
    stores: [],
    save: async (_id: unknown, _parts: unknown, info: { counters: { update: number } }) => {
      await save(info.counters.update);
      return { stores: ['opfs', 'idb'], failures: [] };
    },
    list: async () => [],
    delete: async () => {},
  } as unknown as ConstructorParameters<typeof Checkpointer>[5];
  return new Checkpointer(r, { outputDir: 'runs', runId, modelName: 'char-mlp' }, session, () => {}, undefined, store);
}

it('a checkpoint write that failed for a full disk is retried after Resume, not failed again for good', async () => {
  const session = new TrainingSession({ ...run, save_every: 2 }, new CharWindowTask(words, run));
  let failNext = 1;
  const saved: number[] = [];
  const r = { ...run, save_every: 2, keep_checkpoint: -1, best_metrics: '' };
  const cp = await fakeCheckpointer(r, session, 'x', (update) => {
    if (failNext > 0) {
      failNext--;
      throw new TrainerError('QuotaExceededError', 'disk full');
    }
    saved.push(update);
  });
  const events: TrainerEvent[] = [];
  const loop = new TrainingLoop(session, r, startPosition(r), (e) => events.push(e), cp);
  const done = loop.runToEnd(8);
  // The write at update 2 fails in the background; the save at update 4 surfaces it and pauses.
  await expect.poll(() => events.some((e) => e.type === 'state' && e.state === 'paused')).toBe(true);
  loop.resume();
  await done;
  await cp.flush();
  expect(saved.length).toBeGreaterThanOrEqual(2);
  expect(saved.at(-1)).toBe(8);
  session.dispose();
});

it('validateFirst: weights another engine trained are validated before the first update, once', async () => {
  const session = new TrainingSession(run, new CharWindowTask(words, run), 'validate-first/');
  const events: TrainerEvent[] = [];
  const start = { counters: { epoch: 0, update: 7, sample: 56 }, rng: startPosition(run).rng };
  const loop = new TrainingLoop(session, run, start, (e) => events.push(e), {}, { validateFirst: true });
  await loop.runToEnd(2);
  await loop.runToEnd(2);
  const order = events
    .filter((e) => e.type === 'eval' || e.type === 'loss')
    .map((e) => (e.type === 'eval' ? `eval@${e.counters.update}` : 'loss'));
  expect(order[0]).toBe('eval@7');
  expect(order.filter((o) => o.startsWith('eval'))).toEqual(['eval@7']);
  expect(loop.position().counters.update).toBe(11);
  session.dispose();
});

it('runs work asked for while training between two steps, one step apart at most, and trains on', async () => {
  const session = new TrainingSession(run, new CharWindowTask(words, run));
  const loop = new TrainingLoop(session, run, startPosition(run), () => {}, {
    afterStep: async (s) => {
      // Asked in the middle of step 3: it must wait for the step to end, and run before step 4.
      if (s.position.counters.update === 3) {
        seen.asked = loop.position().counters.update;
        seen.answer = loop.between(async () => {
          seen.ranAt = loop.position().counters.update;
          return 'answer';
        });
      }
    },
  });
  const seen: { asked?: number; ranAt?: number; answer?: Promise<string> } = {};
  const end = await loop.runToEnd(8);
  expect(await seen.answer).toBe('answer');
  expect(seen).toMatchObject({ asked: 3, ranAt: 3 });
  expect(end.update).toBe(8);
  // Once the loop has ended, work runs at once.
  expect(await loop.between(async () => loop.position().counters.update)).toBe(8);
  session.dispose();
});

it('work waiting when a stop comes is still done before the loop returns', async () => {
  const session = new TrainingSession(run, new CharWindowTask(words, run));
  let ran = false;
  const loop = new TrainingLoop(session, run, startPosition(run), () => {}, {
    afterStep: async (s) => {
      if (s.position.counters.update !== 2) return;
      void loop.between(async () => {
        ran = true;
      });
      loop.stop();
    },
  });
  await loop.runToEnd(20);
  expect(ran).toBe(true);
  session.dispose();
});

it('a pause announces the held counters before it says paused, and Stop ends on them', async () => {
  // The page may render between two messages: the state it shows must come with the loop's own counters.
  const session = new TrainingSession(run, new CharWindowTask(words, run));
  const events: TrainerEvent[] = [];
  const loop: TrainingLoop = new TrainingLoop(session, run, startPosition(run), (e) => events.push(e), {
    afterStep: async (s) => {
      if (s.position.counters.update === 4) loop.pause();
    },
  });
  const done = loop.runToEnd(100);
  await expect.poll(() => events.some((e) => e.type === 'state' && e.state === 'paused')).toBe(true);
  const held = loop.position().counters.update;
  expect(held).toBe(4);
  const at = events.findIndex((e) => e.type === 'state' && e.state === 'paused');
  const before = events.slice(0, at).filter((e) => e.type === 'progress');
  expect(before.at(-1)).toMatchObject({ state: 'paused', counters: { update: held } });
  loop.stop();
  await expect(done).resolves.toMatchObject({ update: held });
  session.dispose();
});

it('holdAfterFirstStep: the held work starts after the first step, and the run saves only once it ends', async () => {
  const r = { ...run, save_every: 1, keep_checkpoint: -1, best_metrics: '' };
  const session = new TrainingSession(r, new CharWindowTask(words, r), 'held/');
  const log: string[] = [];
  const cp = await fakeCheckpointer(r, session, 'held', (update) => {
    log.push(`save@${update}`);
  });
  let finish!: () => void;
  cp.holdAfterFirstStep(async () => {
    log.push(`held started@${loop.position().counters.update}`);
    await new Promise<void>((resolve) => (finish = resolve));
    log.push('held done');
  });
  const loop = new TrainingLoop(session, r, startPosition(r), () => {}, cp);
  const done = loop.runToEnd(3);
  await expect.poll(() => log.length).toBeGreaterThan(0);
  expect(log).toEqual(['held started@1']); // after the first step; its save waits
  finish();
  await done;
  await cp.flush();
  expect(log.slice(0, 3)).toEqual(['held started@1', 'held done', 'save@1']);
  // (each save writes its tag and `latest`)
  expect([...new Set(log.filter((l) => l.startsWith('save')))]).toEqual(['save@1', 'save@2', 'save@3']);

  // A run that ends before its first step never starts the held work.
  const idle = await fakeCheckpointer(r, session, 'held2', () => {});
  let started = false;
  idle.holdAfterFirstStep(async () => {
    started = true;
  });
  await idle.settled();
  expect(started).toBe(false);
  session.dispose();
});
