// "Try it" through the trainer, in real Chromium with the real stores, for every task: the model
// training now answers between two steps (and training goes on), then the checkpoint its stop
// saved answers too, loaded read-only; a checkpoint tried while another run trains leaves that
// run undisturbed, and nothing leaks once the tried model is released.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDual } from '../checkpoint/store/test-helpers';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import type { TrainerEvent } from '../shared/progress';
import type { TryInput, TryResult } from '../shared/try';
import { Trainer } from './run-start';
import { decodeTrainerPart } from '../checkpoint/contents';
import { readTorchFile } from '../checkpoint/torch/index';

await tf.setBackend('cpu');
const { store, cleanup } = await scratchDual();
afterAll(cleanup);

const base: RunConfig = {
  ...DEFAULT_CONFIG,
  backend: 'cpu',
  hidden: 16,
  embed: 8,
  layers: 1,
  heads: 2,
  context: 8,
  batch_size: 16,
  epochs: 50,
  eval_every: 0,
  save_every: 0,
  save_at_epoch_end: false,
  best_metrics: '',
  dropout: 0,
};

const encoder = new TextEncoder();
const file = (name: string, text: string) => ({ name, bytes: encoder.encode(text).buffer });

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).name;
  }
  return 'no error';
}

/**
 * Trains `run`, asks `input` of the live model once two updates are done, then stops. Resolves
 * with the live answer, the updates done before and after it, and the final counters.
 */
async function trainAndTry(
  trainer: Trainer,
  run: RunConfig,
  input: TryInput,
  userData?: { name: string; bytes: ArrayBuffer },
): Promise<{ live: TryResult; askedAt: number; lastUpdate: number }> {
  // A holder, not a bare variable: TypeScript does not see the callback assign it.
  const ask: { answer: Promise<TryResult> | null } = { answer: null };
  let askedAt = 0;
  let lastUpdate = 0;
  let answered = false;
  const onEvent = (e: TrainerEvent) => {
    if (e.type !== 'progress') return;
    lastUpdate = e.counters.update;
    if (!ask.answer && e.counters.update >= 2) {
      askedAt = e.counters.update;
      ask.answer = trainer.tryModel({ source: 'training', input });
      // Training goes on after the answer: stop a few updates later.
      void ask.answer.then(() => (answered = true)).catch(() => trainer.stop());
    }
    if (answered && e.counters.update >= askedAt + 3) trainer.stop();
  };
  await trainer.start(run, onEvent, userData);
  if (!ask.answer) throw new Error('the run ended before the try was asked');
  return { live: await ask.answer, askedAt, lastUpdate };
}

describe('tryModel', () => {
  const trainer = new Trainer(() => store);
  const before = tf.memory().numTensors;

  it('names: the live model and its checkpoint generate names; no model training is a NoModelError', async () => {
    expect(
      await errorName(
        trainer.tryModel({
          source: 'training',
          input: { kind: 'generate', prompt: '', temperature: 1, topK: 0, length: 10, seed: 1 },
        }),
      ),
    ).toBe('NoModelError');
    const input: TryInput = { kind: 'generate', prompt: 'An', temperature: 0.8, topK: 5, length: 12, seed: 4 };
    const run = { ...base, run_id: 'try-names', task: 'names' as const, model: 'char-mlp' as const };
    const { live, askedAt, lastUpdate } = await trainAndTry(trainer, run, input);
    expect(live).toMatchObject({ kind: 'generate', prompt: 'an', origin: { task: 'names', modelKind: 'char-mlp' } });
    expect(live.origin.update).toBeGreaterThanOrEqual(askedAt);
    expect(lastUpdate).toBeGreaterThanOrEqual(askedAt + 3);
    if (live.kind !== 'generate') throw new Error(live.kind);
    expect(live.text).toMatch(/^[a-z'\- ]{0,12}$/);

    const saved = await trainer.tryModel({ source: { runId: 'try-names', stageName: 'train', tag: 'latest' }, input });
    expect(saved).toMatchObject({ kind: 'generate', origin: { task: 'names', update: lastUpdate } });
    expect(saved.origin.checkpoint).toMatch(/try-names/);
    // The same weights, input and seed: the checkpoint answers as the live model would have at its update.
    const again = await trainer.tryModel({ source: { runId: 'try-names', stageName: 'train', tag: 'latest' }, input });
    expect(again).toEqual(saved);
    expect(
      await errorName(trainer.tryModel({ source: { runId: 'no-such-run', stageName: 'train', tag: 'latest' }, input })),
    ).toBe('CheckpointNotFoundError');
  });

  it('spam: a probability in [0, 1]; a checkpoint tried while another run trains leaves that run undisturbed', async () => {
    const input: TryInput = { kind: 'classify', text: 'WIN a FREE prize now, click here' };
    const run = {
      ...base,
      run_id: 'try-spam',
      task: 'spam' as const,
      model: 'text-mlp' as const,
      hash_buckets: 1024,
    };
    // While the spam run trains, the names checkpoint answers too.
    const namesInput: TryInput = { kind: 'generate', prompt: '', temperature: 0, topK: 0, length: 8, seed: 1 };
    let other: Promise<TryResult> | null = null;
    let otherDone = false;
    let updatesAfterOther = 0;
    const events: TrainerEvent[] = [];
    let live: Promise<TryResult> | null = null;
    await trainer.start(run, (e) => {
      events.push(e);
      if (e.type !== 'progress') return;
      if (!other && e.counters.update >= 1) {
        other = trainer.tryModel({
          source: { runId: 'try-names', stageName: 'train', tag: 'latest' },
          input: namesInput,
        });
        void other.finally(() => (otherDone = true)).catch(() => {});
      }
      if (otherDone) updatesAfterOther++;
      if (otherDone && !live && e.counters.update >= 3) live = trainer.tryModel({ source: 'training', input });
      if (live && updatesAfterOther >= 4) trainer.stop();
    });
    expect(await other!).toMatchObject({ kind: 'generate', origin: { task: 'names' } });
    const answer = await live!;
    if (answer.kind !== 'classify') throw new Error(answer.kind);
    expect(answer.classes).toEqual(['ham', 'spam']);
    expect(answer.positive!.probability).toBeGreaterThanOrEqual(0);
    expect(answer.positive!.probability).toBeLessThanOrEqual(1);
    expect(answer.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(events.some((e) => e.type === 'state' && e.state === 'failed')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'state', state: 'idle' });
    const saved = await trainer.tryModel({ source: { runId: 'try-spam', stageName: 'train', tag: 'latest' }, input });
    expect(saved).toMatchObject({ kind: 'classify', origin: { task: 'spam' } });
    expect(
      await errorName(
        trainer.tryModel({
          source: { runId: 'try-spam', stageName: 'train', tag: 'latest' },
          input: { kind: 'classify', text: '' },
        }),
      ),
    ).toBe('TryInputError');
  });

  it('g2p: phonemes for a word, with the dictionary answer for a word it has', async () => {
    const input: TryInput = { kind: 'translate', text: 'Cat' };
    const run = { ...base, run_id: 'try-g2p', task: 'g2p' as const, model: 'seq2seq' as const };
    const { live } = await trainAndTry(trainer, run, input);
    if (live.kind !== 'translate') throw new Error(live.kind);
    expect(live.input).toBe('cat');
    expect(live.dictionary).toEqual(['K AE1 T']);
    expect(live.output).toBe(live.tokens.join(' '));
    expect(live.tokens.every((t) => /^[A-Z]{1,2}[012]?$/.test(t))).toBe(true);
    const saved = await trainer.tryModel({
      source: { runId: 'try-g2p', stageName: 'train', tag: 'latest' },
      input: { kind: 'translate', text: 'zzyzx' },
    });
    expect(saved).toMatchObject({ kind: 'translate', origin: { task: 'g2p' }, input: 'zzyzx' });
    expect(
      await errorName(
        trainer.tryModel({
          source: { runId: 'try-g2p', stageName: 'train', tag: 'latest' },
          input: { kind: 'translate', text: 'ça' },
        }),
      ),
    ).toBe('TryInputError');
  });

  it('own text: the GPT continues a prompt; a TSV seq2seq maps a source line', async () => {
    const text = 'the quick brown fox jumps over the lazy dog. '.repeat(20);
    const gen: TryInput = { kind: 'generate', prompt: 'the ', temperature: 1, topK: 0, length: 25, seed: 2 };
    const gpt = { ...base, run_id: 'try-text', task: 'text' as const, model: 'gpt' as const };
    const { live } = await trainAndTry(trainer, gpt, gen, file('fox.txt', text));
    expect(live).toMatchObject({ kind: 'generate', origin: { task: 'text', modelKind: 'gpt' } });
    if (live.kind !== 'generate') throw new Error(live.kind);
    expect(live.text).toHaveLength(25);
    expect([...live.text].every((c) => text.includes(c))).toBe(true);

    const lines = Array.from(
      { length: 40 },
      (_, i) => `${'abc'[i % 3]}${'xyz'[i % 3]}${i % 7}\t${i % 7}${'XYZ'[i % 3]}`,
    ).join('\n');
    const tsv = { ...base, run_id: 'try-tsv', task: 'text' as const, model: 'seq2seq' as const };
    const tr: TryInput = { kind: 'translate', text: 'ay3' };
    const { live: t } = await trainAndTry(trainer, tsv, tr, file('pairs.tsv', lines));
    expect(t).toMatchObject({ kind: 'translate', input: 'ay3', origin: { task: 'text', modelKind: 'seq2seq' } });
    if (t.kind !== 'translate') throw new Error(t.kind);
    expect(t.dictionary).toBeUndefined();
    const saved = await trainer.tryModel({
      source: { runId: 'try-tsv', stageName: 'train', tag: 'latest', task: 'text' },
      input: tr,
    });
    if (saved.kind !== 'translate') throw new Error(saved.kind);
    expect(saved.output).toBe(saved.tokens.join(''));
    expect(saved.tokens.every((tok) => /^[0-9XYZ]$/.test(tok))).toBe(true);
  });

  it('every checkpoint carries the latest validation metrics: in its trainer part and the store listing', async () => {
    const run = {
      ...base,
      run_id: 'metrics-spam',
      task: 'spam' as const,
      model: 'text-mlp' as const,
      hash_buckets: 512,
      eval_every: 2,
      save_every: 3,
    };
    const evals: Record<string, number>[] = [];
    await trainer.start(run, (e) => {
      if (e.type === 'eval') evals.push(e.metrics);
      if (e.type === 'progress' && e.counters.update >= 7) trainer.stop();
    });
    const metas = (await store.list({ runId: 'metrics-spam' })).filter((m) => m.id.tag.kind === 'periodic');
    expect(metas.length).toBeGreaterThanOrEqual(2);
    for (const m of metas) {
      const t = decodeTrainerPart(readTorchFile(await store.read(m.key, 'trainer')));
      expect(t.metricsUpdate! % 2).toBe(0);
      expect(t.metricsUpdate).toBeLessThanOrEqual(m.counters.update);
      expect(Object.keys(t.metrics!).sort()).toEqual([
        'val/accuracy',
        'val/f1',
        'val/loss',
        'val/precision',
        'val/recall',
      ]);
      expect(evals).toContainEqual(t.metrics);
      expect(m.metrics).toEqual(t.metrics);
    }
  });

  it('releases the tried model: no tensor is left behind', () => {
    expect(trainer.tryTensors).toBeGreaterThan(0);
    trainer.releaseTryModel();
    expect(trainer.tryTensors).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
