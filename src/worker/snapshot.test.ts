// Optimizer state in and out of a session, in Node on tfjs's CPU backend: a restore puts back
// exactly what was read, and bad state is refused by name before anything is replaced.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import type { OptimPart } from '../checkpoint/contents';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import { CharWindowTask } from '../tasks/names-task';
import type { Task } from '../tasks/types';
import { TrainingSession } from './session';
import { readOptimizer, restoreOptimizer } from './snapshot';

const words = Array.from(
  { length: 40 },
  (_, i) => `w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + ((i * 7) % 26))}`,
);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// tfjs variable names must be unique while they live.
let sessions = 0;
const session = (run: RunConfig, task: Task = new CharWindowTask(words, run)) =>
  new TrainingSession(run, task, `s${sessions++}/`);

async function trained(run: RunConfig): Promise<TrainingSession> {
  const s = session(run);
  for (let i = 0; i < 3; i++)
    tf.dispose(
      s.trainStep(
        Int32Array.from({ length: 8 }, (_, k) => (i * 8 + k) % s.task.trainSize),
        0.01,
        i,
      ),
    );
  return s;
}

function copy(part: OptimPart): OptimPart {
  const slots = new Map(
    [...part.slots].map(([n, rec]) => [
      n,
      Object.fromEntries(Object.entries(rec).map(([k, w]) => [k, { shape: [...w.shape], data: w.data.slice() }])),
    ]),
  );
  return { ...part, slots };
}

it('a restored optimizer holds exactly the state that was read, for each optimizer', async () => {
  for (const [optimizer, momentum] of [
    ['adam', 0],
    ['sgd', 0.9],
    ['rmsprop', 0.5],
    ['rmsprop', 0],
  ] as const) {
    const run: RunConfig = { ...DEFAULT_CONFIG, hidden: 8, embed: 4, optimizer, momentum };
    const a = await trained(run);
    const part = await readOptimizer(a, 0.01);
    const b = session(run, a.task);
    await restoreOptimizer(b, copy(part), 'none');
    const back = await readOptimizer(b, 0.01);
    expect(back.step, optimizer).toBe(3);
    expect([...back.slots.keys()]).toEqual([...part.slots.keys()]);
    for (const [name, rec] of part.slots) {
      expect(Object.keys(back.slots.get(name)!).sort(), `${optimizer} ${name}`).toEqual(Object.keys(rec).sort());
      for (const [slot, w] of Object.entries(rec))
        expect(Array.from(back.slots.get(name)![slot].data), `${optimizer} ${name}.${slot}`).toEqual(
          Array.from(w.data),
        );
    }
    // PyTorch keeps a momentum buffer only with momentum.
    expect('momentum_buffer' in part.slots.get('layers.0.weight')!, `${optimizer} ${momentum}`).toBe(momentum > 0);
    a.dispose();
    b.dispose();
  }
});

it('plain SGD keeps no state, even from a PyTorch file that lists `momentum_buffer: None` per parameter', async () => {
  const run: RunConfig = { ...DEFAULT_CONFIG, hidden: 8, embed: 4, optimizer: 'sgd', momentum: 0 };
  const a = await trained(run);
  const part = await readOptimizer(a, 0.01);
  expect(part.slots.size).toBe(0);
  const fromTorch: OptimPart = { ...part, slots: new Map(part.paramNames.map((n) => [n, {}])) };
  const b = session(run, a.task);
  await restoreOptimizer(b, fromTorch, 'none');
  expect((await readOptimizer(b, 0.01)).slots.size).toBe(0);
  a.dispose();
  b.dispose();
});

it('refuses non-finite or missing state by name, and keeps the state it had', async () => {
  const run: RunConfig = { ...DEFAULT_CONFIG, hidden: 8, embed: 4, optimizer: 'rmsprop', momentum: 0.5 };
  const a = await trained(run);
  const good = await readOptimizer(a, 0.01);
  const b = await trained(run);
  tf.dispose(b.trainStep(Int32Array.of(1, 2, 3), 0.01, 9)); // a state unlike the one offered
  const before = await readOptimizer(b, 0.01);

  const nan = copy(good);
  nan.slots.get('layers.2.bias')!.momentum_buffer.data[1] = NaN;
  await expect(restoreOptimizer(b, nan, 'none')).rejects.toMatchObject({
    name: 'CheckpointFormatError',
    message: expect.stringContaining('momentum_buffer of "layers.2.bias" holds NaN'),
  });
  const missing = copy(good);
  delete missing.slots.get('layers.0.bias')!.square_avg;
  await expect(restoreOptimizer(b, missing, 'none')).rejects.toMatchObject({
    name: 'CheckpointFormatError',
    message: expect.stringContaining('"layers.0.bias" has no square_avg'),
  });
  const after = await readOptimizer(b, 0.01);
  expect(after.step).toBe(4);
  for (const [name, rec] of before.slots)
    for (const [slot, w] of Object.entries(rec))
      expect(Array.from(after.slots.get(name)![slot].data)).toEqual(Array.from(w.data));

  // A buffer the settings do not use (the old files' RMSprop buffer without momentum, NaN where the
  // schedule reached 0) is not state: it is ignored.
  const noMomentum: RunConfig = { ...run, momentum: 0 };
  const c = session(noMomentum, a.task);
  await restoreOptimizer(c, nan, 'none');
  expect(
    [...(await readOptimizer(c, 0.01)).slots.values()].every((rec) => Object.keys(rec).join() === 'square_avg'),
  ).toBe(true);
  a.dispose();
  b.dispose();
  c.dispose();
});

it('a session built from saved weights holds exactly them; a missing or misshapen one is refused by name', async () => {
  const run: RunConfig = { ...DEFAULT_CONFIG, hidden: 8, embed: 4 };
  const source = await trained(run);
  const weights = new Map(
    await Promise.all(
      Object.entries(source.params).map(
        async ([n, v]) => [n, { shape: v.shape, data: (await v.data()) as Float32Array }] as const,
      ),
    ),
  );
  const task = new CharWindowTask(words, run);
  const built = new TrainingSession(run, task, `s${sessions++}/`, weights);
  for (const [n, v] of Object.entries(built.params)) expect(await v.data(), n).toEqual(weights.get(n)!.data);
  expect(built.fromCheckpoint).toBe(true);

  const [first, w] = [...weights][0];
  const misshapen = new Map(weights).set(first, { shape: [...w.shape, 1], data: w.data });
  expect(() => new TrainingSession(run, task, `s${sessions++}/`, misshapen)).toThrow(
    expect.objectContaining({ name: 'ShapeMismatchError', message: expect.stringContaining(first) as string }),
  );
  const missing = new Map(weights);
  missing.delete(first);
  expect(() => new TrainingSession(run, task, `s${sessions++}/`, missing)).toThrow(
    expect.objectContaining({ name: 'ShapeMismatchError', message: expect.stringContaining(first) as string }),
  );
  source.dispose();
  built.dispose();
});
