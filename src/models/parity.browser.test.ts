/**
 * Gradient parity: for each model at a tiny size, on one fixed batch (dropout on, with a fixed
 * seed), the loss and every parameter's gradient on WebGPU and on WASM match tfjs's CPU backend.
 *
 * Tolerance, per parameter: max |g_backend − g_cpu| ≤ RTOL · max |g_cpu| + ATOL, with RTOL = 1e-4
 * and ATOL = 1e-7; the loss within 1e-5 relative. Why these: both sides compute in float32, so
 * honest differences come from summation order and exp/tanh approximations — about 1e-6 of the
 * gradient's scale for these depths. A wrong kernel (a bad transpose, a mis-indexed reduction, a
 * broken mask) is off by the gradient's own size, 1e4 times more. Scaling by each parameter's own
 * largest gradient keeps tiny gradients (deep LayerNorm biases) from hiding behind large ones.
 * Dropout masks are drawn by tfjs on the CPU from the seed, so both backends use the same ones.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../data/rng';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import { CharStreamTask } from '../tasks/char-stream-task';
import { ClassifyTask } from '../tasks/classify-task';
import { CharWindowTask } from '../tasks/names-task';
import { Seq2SeqTask } from '../tasks/seq2seq-task';
import type { Task } from '../tasks/types';
import { activate } from '../worker/backend';
import { modelDefinition } from './registry';
import { initialValues } from './types';

const RTOL = 1e-4;
const ATOL = 1e-7;
const LOSS_RTOL = 1e-5;

const tiny: RunConfig = {
  ...DEFAULT_CONFIG,
  embed: 8,
  hidden: 16,
  layers: 2,
  heads: 2,
  context: 6,
  dropout: 0.1,
  val_fraction: 0.2,
};
const names = ['emma', 'olivia', 'ava', 'isabella', 'sophia', 'mia', 'amelia', 'harper', 'evelyn', 'abigail'];
const words = ['cat', 'bat', 'at', 'tab', 'act', 'tact', 'cab', 'abba', 'baa', 'tat'];

const cases: { name: string; run: RunConfig; task: () => Task }[] = [
  { name: 'char-mlp', run: { ...tiny, context: 3 }, task: () => new CharWindowTask(names, { ...tiny, context: 3 }) },
  { name: 'gpt (tied)', run: { ...tiny, model: 'gpt' }, task: () => CharStreamTask.fromWords(names, tiny) },
  {
    name: 'gpt (untied)',
    run: { ...tiny, model: 'gpt', tie_weights: false, layers: 1 },
    task: () => CharStreamTask.fromWords(names, tiny),
  },
  {
    name: 'seq2seq',
    run: { ...tiny, model: 'seq2seq', task: 'g2p' },
    // Words of different lengths, so padding masks and ignored targets are exercised.
    task: () =>
      new Seq2SeqTask(
        words.map((w) => ({ src: [...w], tgt: [...w].map((c) => c.toUpperCase() + '1') })),
        tiny,
        { evalCap: 100, srcJoin: '', tgtJoin: ' ' },
      ),
  },
  {
    name: 'text-mlp',
    run: { ...tiny, model: 'text-mlp', task: 'spam', hash_buckets: 64 },
    task: () =>
      new ClassifyTask(
        Array.from({ length: 20 }, (_, i) => ({
          label: i % 2,
          text: i % 2 ? `WIN money now ${i}` : `meeting notes ${i}`,
        })),
        ['ham', 'spam'],
        { ...tiny, hash_buckets: 64 },
      ),
  },
];

interface Result {
  loss: number;
  grads: Record<string, Float32Array>;
}

async function lossAndGrads(backend: string, run: RunConfig, task: Task): Promise<Result> {
  const a = await activate(backend as 'cpu');
  if (!a.ok) throw new Error(`${backend}: ${a.reason}`);
  expect(tf.getBackend()).toBe(backend);
  const config = task.modelConfig(run);
  const def = modelDefinition(config.kind);
  const rng = Rng.fromSeed(run.seed, 0x1417);
  const params: Record<string, tf.Variable> = {};
  for (const spec of def.paramSpecs(config))
    params[spec.name] = tf.variable(tf.tensor(initialValues(spec, rng), spec.shape), true, `${backend}/${spec.name}`);
  const idx = Int32Array.from({ length: Math.min(8, task.trainSize) }, (_, i) => i);
  const { value, grads } = tf.tidy(() => {
    const batch = task.batch('train', idx);
    return tf.variableGrads(() => task.loss({ def, config, params }, batch, { training: true, seed: 1234 }));
  });
  const out: Result = { loss: (await value.data())[0], grads: {} };
  for (const [varName, g] of Object.entries(grads))
    out.grads[varName.slice(backend.length + 1)] = (await g.data()) as Float32Array;
  tf.dispose([value, ...Object.values(grads), ...Object.values(params)]);
  return out;
}

function compare(ref: Result, got: Result): { worst: number; worstName: string; lossRel: number } {
  let worst = 0;
  let worstName = '';
  for (const [name, r] of Object.entries(ref.grads)) {
    const g = got.grads[name];
    expect(g, name).toBeDefined();
    // Math.max(x, NaN) is NaN and NaN > worst is false: without this a NaN gradient would pass.
    let finite = r.length === g.length;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < r.length; i++) {
      if (!Number.isFinite(r[i]) || !Number.isFinite(g[i])) finite = false;
      scale = Math.max(scale, Math.abs(r[i]));
      diff = Math.max(diff, Math.abs(r[i] - g[i]));
    }
    const ratio = finite ? diff / (RTOL * scale + ATOL) : Infinity;
    if (ratio > worst || (ratio === Infinity && worst !== Infinity)) [worst, worstName] = [ratio, name];
  }
  const lossFinite = Number.isFinite(ref.loss) && Number.isFinite(got.loss) && ref.loss !== 0;
  return { worst, worstName, lossRel: lossFinite ? Math.abs(ref.loss - got.loss) / Math.abs(ref.loss) : Infinity };
}

describe('gradient parity with the CPU backend', () => {
  it('the comparison catches a gradient off by 1% of its scale, and different dropout masks', async () => {
    const task = cases[1].task();
    const cpu = await lossAndGrads('cpu', cases[1].run, task);
    const name = 'blocks.1.mlp.fc.weight';
    const g = cpu.grads[name];
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const off = { ...cpu, grads: { ...cpu.grads, [name]: g.map((v, i) => (i === 3 ? v + 0.01 * scale : v)) } };
    expect(compare(cpu, off).worst).toBeGreaterThan(1);
    const otherMasks = await lossAndGrads('cpu', { ...cases[1].run, dropout: 0.2 }, task);
    expect(compare(cpu, otherMasks).worst).toBeGreaterThan(1);
  });

  it('a NaN or an infinity anywhere fails the comparison, on either side', async () => {
    const task = cases[0].task();
    const cpu = await lossAndGrads('cpu', cases[0].run, task);
    expect(compare(cpu, cpu)).toMatchObject({ worst: 0, lossRel: 0 });
    const name = Object.keys(cpu.grads)[0];
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      const grads = { ...cpu.grads, [name]: cpu.grads[name].map((v, i) => (i === 0 ? bad : v)) };
      expect(compare(cpu, { ...cpu, grads }), `gradient ${bad}`).toMatchObject({ worst: Infinity, worstName: name });
      expect(compare({ ...cpu, grads }, cpu), `reference gradient ${bad}`).toMatchObject({
        worst: Infinity,
        worstName: name,
      });
      expect(compare(cpu, { ...cpu, loss: bad }).lossRel, `loss ${bad}`).toBe(Infinity);
      expect(compare({ ...cpu, loss: bad }, cpu).lossRel, `reference loss ${bad}`).toBe(Infinity);
    }
  });

  for (const c of cases) {
    it(`${c.name}: webgpu and wasm match cpu`, async () => {
      const task = c.task();
      const cpu = await lossAndGrads('cpu', c.run, task);
      expect(Object.keys(cpu.grads).length).toBeGreaterThan(0);
      for (const backend of ['webgpu', 'wasm']) {
        const got = await lossAndGrads(backend, c.run, task);
        const r = compare(cpu, got);
        // Printed so the margin is visible in the test log, not only pass/fail.
        console.log(
          `${c.name} ${backend}: loss rel diff ${r.lossRel.toExponential(2)}, worst grad ${r.worstName} at ${(r.worst * 100).toFixed(1)}% of tolerance`,
        );
        expect(r.lossRel, `${backend} loss`).toBeLessThanOrEqual(LOSS_RTOL);
        expect(r.worst, `${backend} ${r.worstName}`).toBeLessThanOrEqual(1);
      }
    });
  }
});
