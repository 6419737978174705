// Every new task with its model, end to end on tiny data on tfjs's CPU backend: shapes, masks,
// a few steps that lower the loss, evaluation metrics and the showcase. No data files are read.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../data/rng';
import { DEFAULT_CONFIG, checkRunConfig, type RunConfig } from '../shared/config';
import { TrainingSession } from '../worker/session';
import { CharStreamTask } from './char-stream-task';
import { ClassifyTask } from './classify-task';
import { createTask } from './registry';
import { Seq2SeqTask } from './seq2seq-task';
import type { Task } from './types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tiny: RunConfig = {
  ...DEFAULT_CONFIG,
  embed: 8,
  hidden: 16,
  layers: 1,
  heads: 2,
  context: 8,
  batch_size: 8,
  lr: 0.01,
  dropout: 0.1,
  val_fraction: 0.2,
};

async function trainBriefly(task: Task, run: RunConfig, steps = 15): Promise<{ first: number; last: number }> {
  const session = new TrainingSession(run, task);
  try {
    const idx = Int32Array.from({ length: Math.min(run.batch_size, task.trainSize) }, (_, i) => i);
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const l = session.trainStep(idx, run.lr, s);
      losses.push((await l.data())[0]);
      l.dispose();
    }
    return { first: losses[0], last: losses[losses.length - 1] };
  } finally {
    session.dispose();
  }
}

const names = [
  'emma',
  'olivia',
  'ava',
  'isabella',
  'sophia',
  'mia',
  'amelia',
  'harper',
  'evelyn',
  'abigail',
  'emily',
  'ella',
];

describe('tasks on tiny data', () => {
  it('names with the GPT: windows of the stream, loss falls, names sampled', async () => {
    const run = { ...tiny, model: 'gpt' as const };
    const task = CharStreamTask.fromWords(names, run);
    const b = tf.tidy(() => task.batch('train', new Int32Array([0, 1])));
    expect(b.x.shape).toEqual([2, 8]);
    expect([...(await b.y.data()).slice(0, 7)]).toEqual([...(await b.x.data()).slice(1, 8)]);
    tf.dispose(b);
    const { first, last } = await trainBriefly(task, run);
    expect(last).toBeLessThan(first);
    const session = new TrainingSession(run, task);
    const before = tf.memory().numTensors;
    const m = await session.evaluate();
    expect(Object.keys(m)).toEqual(['val/loss', 'val/perplexity']);
    expect(m['val/perplexity']).toBeCloseTo(Math.exp(m['val/loss']), 6);
    expect((await session.showcase(Rng.fromSeed(1))).length).toBe(5);
    expect(tf.memory().numTensors).toBe(before);
    session.dispose();
  });

  it('user text with the GPT holds out the tail', () => {
    const task = CharStreamTask.fromText('abcdefghij'.repeat(10), { ...tiny, model: 'gpt' });
    expect(task.train.length + task.val.length).toBe(100);
    expect(task.val.length).toBe(20);
  });

  it('seq2seq: padded shapes, greedy decoding, word accuracy and PER', async () => {
    const run = { ...tiny, model: 'seq2seq' as const, task: 'g2p' as const };
    const words = ['cat', 'bat', 'at', 'tab', 'act', 'tact', 'cab', 'abba', 'baa', 'tat'];
    const pairs = words.map((w) => ({ src: [...w], tgt: [...w].map((c) => c.toUpperCase() + '1') }));
    const task = new Seq2SeqTask(pairs, run, { evalCap: 100, srcJoin: '', tgtJoin: ' ' });
    expect(task.srcLen).toBe(4);
    expect(task.tgtLen).toBe(5);
    const b = tf.tidy(() => task.batch('train', new Int32Array([0, 1, 2])));
    expect(b.x.shape).toEqual([3, 9]);
    expect(b.y.shape).toEqual([3, 5]);
    tf.dispose(b);
    const { first, last } = await trainBriefly(task, run, 25);
    expect(last).toBeLessThan(first);
    const session = new TrainingSession(run, task);
    const before = tf.memory().numTensors;
    const m = await session.evaluate();
    expect(Object.keys(m).sort()).toEqual(['val/loss', 'val/per', 'val/wer', 'val/word_accuracy']);
    expect(m['val/wer']).toBeCloseTo(1 - m['val/word_accuracy'], 12);
    expect(m['val/per']).toBeGreaterThanOrEqual(0);
    const lines = await session.showcase(Rng.fromSeed(1));
    expect(lines[0]).toMatch(/→/);
    expect(tf.memory().numTensors).toBe(before);
    session.dispose();
  });

  it('seq2seq takes a dictionary-sized corpus (no spread of 130,000 lengths)', () => {
    const pairs = Array.from({ length: 150_000 }, (_, i) => ({ src: [...String(i)], tgt: ['X'] }));
    const task = new Seq2SeqTask(pairs, { ...tiny, val_fraction: 0.01 }, { evalCap: 100, srcJoin: '', tgtJoin: ' ' });
    expect(task.srcLen).toBe(6);
    expect(task.valSize).toBe(100);
  });

  it('spam classifier: hashed features, accuracy', async () => {
    const run = { ...tiny, model: 'text-mlp' as const, task: 'spam' as const, hash_buckets: 64 };
    const items = Array.from({ length: 40 }, (_, i) => ({
      label: i % 2,
      text: i % 2 ? `WIN money now ${i}` : `meeting notes ${i}`,
    }));
    const task = new ClassifyTask(items, ['ham', 'spam'], run);
    const { first, last } = await trainBriefly(task, run, 30);
    expect(last).toBeLessThan(first);
    const session = new TrainingSession(run, task);
    const m = await session.evaluate();
    expect(Object.keys(m).sort()).toEqual(['val/accuracy', 'val/f1', 'val/loss', 'val/precision', 'val/recall']);
    // The confusion matrix behind them counts every validation message once, and agrees with the accuracy.
    const cm = task.lastConfusion!;
    expect(cm.classes).toEqual(['ham', 'spam']);
    expect(cm.matrix.flat().reduce((a, b) => a + b, 0)).toBe(task.valSize);
    expect((cm.matrix[0][0] + cm.matrix[1][1]) / task.valSize).toBeCloseTo(m['val/accuracy'], 12);
    const ex = await task.showcase(session.model, Rng.fromSeed(1));
    expect(ex[0].correct).toBe(ex[0].output === ex[0].reference);
    expect(ex[0].probability).toBeGreaterThanOrEqual(0.5);
    expect((await session.showcase(Rng.fromSeed(1)))[0]).toMatch(/^(ham|spam) \d+%/);
    session.dispose();
  });

  it('refuses task/model pairs that cannot work, and a text run without a file', async () => {
    expect(checkRunConfig({ ...DEFAULT_CONFIG, task: 'g2p', model: 'char-mlp' })).toMatch(
      /cannot be learned by the char-mlp/,
    );
    expect(checkRunConfig({ ...DEFAULT_CONFIG, model: 'gpt', embed: 10, heads: 4 })).toMatch(/multiple/);
    expect(checkRunConfig({ ...DEFAULT_CONFIG, model: 'gpt' })).toBeNull();
    await expect(createTask({ ...DEFAULT_CONFIG, task: 'spam', model: 'gpt' })).rejects.toMatchObject({
      name: 'InvalidConfigError',
    });
    await expect(createTask({ ...DEFAULT_CONFIG, task: 'text', model: 'gpt' })).rejects.toMatchObject({
      name: 'DatasetError',
    });
    const bytes = new TextEncoder().encode('hello world, '.repeat(20)).buffer;
    const t = await createTask({ ...tiny, task: 'text', model: 'gpt' }, { name: 'a.txt', bytes });
    expect(t.vocabulary.chars).toContain('w');
    const tsv = new TextEncoder().encode('cat\tk ae t\ndog\td ao g\nbat\tb ae t\n').buffer;
    const s = await createTask({ ...tiny, task: 'text', model: 'seq2seq' }, { name: 'a.tsv', bytes: tsv });
    expect(s.vocabulary.target).toContain('ae');
  });
});
