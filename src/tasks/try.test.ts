// "Try it" on tiny models of every task, in Node on tfjs's CPU backend: the answer's form, its
// determinism given a seed, greedy decoding (temperature 0 or top-k 1) matching the showcase's,
// the dictionary's answer for a known word, and a named error for every bad input.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../data/rng';
import { DEFAULT_CONFIG, type RunConfig, type TaskName } from '../shared/config';
import type { GenerateInput, TryInput, TryResult } from '../shared/try';
import { TrainingSession } from '../worker/session';
import { CharStreamTask } from './char-stream-task';
import { ClassifyTask } from './classify-task';
import { CharWindowTask } from './names-task';
import { Seq2SeqTask } from './seq2seq-task';
import { answerTry, pickNext, type Dictionary } from './try';
import type { Task } from './types';

// Before the describe blocks build their models.
await tf.setBackend('cpu');

const tiny: RunConfig = {
  ...DEFAULT_CONFIG,
  embed: 8,
  hidden: 16,
  layers: 1,
  heads: 2,
  context: 4,
  batch_size: 8,
  lr: 0.01,
  dropout: 0,
  val_fraction: 0.2,
};

const names = ['emma', 'olivia', 'ava', 'isabella', 'sophia', 'mia', 'amelia', 'harper', 'evelyn', 'abigail'];
const origin = (task: TaskName) => ({ task, modelKind: 'test', update: 0 });

const sessions: TrainingSession[] = [];
afterAll(() => sessions.forEach((s) => s.dispose()));

function sessionFor(task: Task, run: RunConfig): TrainingSession {
  // tfjs variable names must be unique while they live.
  const s = new TrainingSession(run, task, `t${sessions.length}/`);
  sessions.push(s);
  const idx = Int32Array.from({ length: Math.min(run.batch_size, task.trainSize) }, (_, i) => i);
  for (let k = 0; k < 5; k++) s.trainStep(idx, run.lr, k).dispose();
  return s;
}

async function ask(task: TaskName, s: TrainingSession, input: TryInput, dict?: Dictionary): Promise<TryResult> {
  return answerTry({ task, model: s.model, vocabulary: s.task.vocabulary }, input, origin(task), dict);
}

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).name;
  }
  return 'no error';
}

const gen = (over: Partial<GenerateInput> = {}): GenerateInput => ({
  kind: 'generate',
  prompt: '',
  temperature: 1,
  topK: 0,
  length: 20,
  seed: 7,
  ...over,
});

describe.each([
  ['char-mlp', (run: RunConfig) => new CharWindowTask(names, run)],
  ['gpt', (run: RunConfig) => CharStreamTask.fromWords(names, run)],
] as const)('names with the %s', (model, make) => {
  const run = { ...tiny, model, task: 'names' as const };
  const s = sessionFor(make(run), run);
  const chars = new Set(s.task.vocabulary.chars);

  it('continues a prompt with characters of its vocabulary, the same for the same seed', async () => {
    const a = await ask('names', s, gen({ prompt: 'Em', seed: 3 }));
    const b = await ask('names', s, gen({ prompt: 'Em', seed: 3 }));
    expect(a).toEqual(b);
    if (a.kind !== 'generate') throw new Error(a.kind);
    expect(a.prompt).toBe('em');
    expect(a.notes.join()).toMatch(/lower-cased/);
    expect(a.text.length).toBeLessThanOrEqual(20);
    expect([...a.text].every((c) => chars.has(c) && c !== '.')).toBe(true);
    // Ended by the model (a name's end) or by the length, never both short and unended.
    expect(a.ended || a.text.length === 20).toBe(true);
  });

  it('temperature 0 and top-k 1 are both greedy: one answer whatever the seed', async () => {
    const t0 = await ask('names', s, gen({ prompt: 'a', temperature: 0, seed: 1 }));
    const k1 = await ask('names', s, gen({ prompt: 'a', temperature: 2, topK: 1, seed: 99 }));
    expect(t0.kind === 'generate' && t0.text).toBe(k1.kind === 'generate' && k1.text);
  });

  it('refuses characters outside the vocabulary, the boundary, and settings out of range, by name', async () => {
    expect(await errorName(ask('names', s, gen({ prompt: 'zq€' })))).toBe('TryInputError');
    expect(await errorName(ask('names', s, gen({ prompt: 'em.ma' })))).toBe('TryInputError');
    expect(await errorName(ask('names', s, gen({ temperature: -1 })))).toBe('TryInputError');
    expect(await errorName(ask('names', s, gen({ topK: 1.5 })))).toBe('TryInputError');
    expect(await errorName(ask('names', s, gen({ length: 0 })))).toBe('TryInputError');
    expect(await errorName(ask('names', s, gen({ prompt: 'a'.repeat(20_001) })))).toBe('TryInputError');
    expect(await errorName(ask('names', s, { kind: 'classify', text: 'hi' }))).toBe('TryInputError');
  });
});

describe('own text with the GPT', () => {
  const text = 'the cat sat on the mat. the dog sat on the log. '.repeat(6);
  const run = { ...tiny, model: 'gpt' as const, task: 'text' as const };
  const s = sessionFor(CharStreamTask.fromText(text, run), run);

  it('generates exactly the length asked (text has no end), cutting a long prompt to the context', async () => {
    const r = await ask('text', s, gen({ prompt: 'the cat sat', length: 30 }));
    if (r.kind !== 'generate') throw new Error(r.kind);
    expect(r.text).toHaveLength(30);
    expect(r.ended).toBe(false);
    expect(r.notes.join()).toMatch(/last 4 characters/);
    // A period is ordinary text here, not a boundary.
    expect(await errorName(ask('text', s, gen({ prompt: 'mat. the' })))).toBe('no error');
    expect(await errorName(ask('text', s, gen({ prompt: 'THE' })))).toBe('TryInputError');
  });
});

describe('g2p', () => {
  const run = { ...tiny, model: 'seq2seq' as const, task: 'g2p' as const };
  const words = ['cat', 'bat', 'at', 'tab', 'act', 'tact', 'cab', 'abba', 'baa', 'tat', 'bab', 'cac'];
  const pairs = words.map((w) => ({ src: [...w], tgt: [...w].map((c) => c.toUpperCase() + '1') }));
  const task = new Seq2SeqTask(pairs, run, { evalCap: 100, srcJoin: '', tgtJoin: ' ' });
  const s = sessionFor(task, run);
  const dict: Dictionary = async (w) => (w === 'cat' ? [['K', 'AE1', 'T']] : undefined);

  it('answers a validation word as the showcase greedily decodes it', async () => {
    const shown = await task.showcase(s.model, Rng.fromSeed(1));
    for (const ex of shown) {
      const r = await ask('g2p', s, { kind: 'translate', text: ex.input });
      if (r.kind !== 'translate') throw new Error(r.kind);
      const showcase = ex.output.split(' ').filter(Boolean);
      // The showcase decodes at most the data's longest target + 1; the try may go on past it.
      expect(r.tokens.slice(0, showcase.length)).toEqual(showcase);
      if (showcase.length < task.tgtLen) expect(r.tokens).toEqual(showcase);
      expect(r.output).toBe(r.tokens.join(' '));
    }
  });

  it('gives the dictionary answer for a known word, none for an unknown one', async () => {
    const r = await ask('g2p', s, { kind: 'translate', text: 'CAT' }, dict);
    if (r.kind !== 'translate') throw new Error(r.kind);
    expect(r.input).toBe('cat');
    expect(r.dictionary).toEqual(['K AE1 T']);
    expect(r.matchesDictionary).toBe(r.output === 'K AE1 T');
    expect(r.tokens.every((t) => s.task.vocabulary.target.includes(t))).toBe(true);
    const u = await ask('g2p', s, { kind: 'translate', text: 'abc' }, dict);
    expect(u.kind === 'translate' && u.dictionary).toBeUndefined();
  });

  it('refuses an empty, too long, spaced or unknown-letter word, by name', async () => {
    for (const text of ['', '   ', 'tactc', 'ca t', 'dog'])
      expect(await errorName(ask('g2p', s, { kind: 'translate', text }))).toBe('TryInputError');
  });
});

describe('spam', () => {
  const run = { ...tiny, model: 'text-mlp' as const, task: 'spam' as const, hash_buckets: 64 };
  const items = Array.from({ length: 40 }, (_, i) => ({
    label: i % 2,
    text: i % 2 ? `WIN money now ${i}` : `meeting notes ${i}`,
  }));
  const s = sessionFor(new ClassifyTask(items, ['ham', 'spam'], run), run);

  it('gives a probability in [0, 1] per class, summing to 1, and the spam probability', async () => {
    const r = await ask('spam', s, { kind: 'classify', text: 'WIN  money NOW' });
    if (r.kind !== 'classify') throw new Error(r.kind);
    expect(r.classes).toEqual(['ham', 'spam']);
    expect(r.probabilities.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(r.probabilities[0] + r.probabilities[1]).toBeCloseTo(1, 5);
    expect(r.positive).toEqual({ label: 'spam', probability: r.probabilities[1] });
    expect(r.predicted).toBe(r.probabilities[1] > r.probabilities[0] ? 'spam' : 'ham');
    expect(r.notes.join()).toMatch(/lower-cased/);
  });

  it('refuses an empty or too long message, by name', async () => {
    expect(await errorName(ask('spam', s, { kind: 'classify', text: ' \n' }))).toBe('TryInputError');
    expect(await errorName(ask('spam', s, { kind: 'classify', text: 'x'.repeat(20_001) }))).toBe('TryInputError');
  });
});

describe('own TSV with the seq2seq', () => {
  const run = { ...tiny, model: 'seq2seq' as const, task: 'text' as const };
  const pairs = ['hello world', 'good morning', 'hello there', 'good night', 'see you', 'hello you'].map((l) => ({
    src: l.split(' '),
    tgt: l.split(' ').reverse(),
  }));
  const s = sessionFor(new Seq2SeqTask(pairs, run, { evalCap: 100, srcJoin: ' ', tgtJoin: ' ' }), run);

  it('splits a source line into words, answers with target words', async () => {
    const r = await ask('text', s, { kind: 'translate', text: ' hello   world ' });
    if (r.kind !== 'translate') throw new Error(r.kind);
    expect(r.input).toBe('hello world');
    expect(r.output).toBe(r.tokens.join(' '));
    expect(r.tokens.every((t) => s.task.vocabulary.target.includes(t))).toBe(true);
    expect(r.dictionary).toBeUndefined();
    expect(await errorName(ask('text', s, { kind: 'translate', text: 'hello mars' }))).toBe('TryInputError');
  });
});

describe('pickNext', () => {
  it('keeps to the top k and is greedy at temperature 0', () => {
    const logits = [0.1, 3, 2.9, -1];
    const rng = Rng.fromSeed(5);
    expect(pickNext(logits, 0, 0, rng)).toBe(1);
    const seen = new Set(Array.from({ length: 200 }, () => pickNext(logits, 5, 2, rng)));
    expect([...seen].sort()).toEqual([1, 2]);
  });
});
