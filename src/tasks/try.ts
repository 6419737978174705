/**
 * "Try it": a model answers one input a person typed. Everything it needs comes from the model
 * config and the vocabulary saved with every checkpoint (no dataset is loaded), so the model
 * training now and any stored checkpoint answer the same way.
 *
 * Inputs are checked before any tensor is made; a bad one is a TryInputError saying what to
 * change. Stated mappings: a name prompt and a g2p word are lower-cased (the data was); every
 * other character outside the model's vocabulary is refused, listed.
 */
import * as tf from '@tensorflow/tfjs';
import { BOUNDARY, UNKNOWN } from '../data/char-vocab';
import { densify, hashedNgrams, normaliseText } from '../data/ngram-hash';
import { Rng } from '../data/rng';
import { SPECIALS, vocabFromTokens } from '../data/seq-vocab';
import type { TaskName } from '../shared/config';
import { TrainerError } from '../shared/errors';
import {
  TRY_LIMITS,
  type ClassifyInput,
  type ClassifyResult,
  type GenerateInput,
  type GenerateResult,
  type TranslateInput,
  type TranslateResult,
  type TryInput,
  type TryOrigin,
  type TryResult,
} from '../shared/try';
import { argMax } from './classify-task';
import { greedyDecode } from './seq2seq-task';
import type { TaskModel } from './types';

/** A model ready to answer, with what its checkpoint says about its data. */
export interface TryModel {
  task: TaskName;
  model: TaskModel;
  /** The checkpoint's `model_config.vocabulary` (the task's `vocabulary`). */
  vocabulary: Record<string, unknown>;
}

/** Pronunciations by lower-case word, for the dictionary's answer beside the model's. */
export type Dictionary = (word: string) => Promise<string[][] | undefined>;

function refuse(message: string): never {
  throw new TrainerError('TryInputError', message);
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string'))
    throw new TrainerError('CheckpointFormatError', `the model's vocabulary has no ${what} list`);
  return v;
}

function checkText(text: unknown, what: string, allowEmpty: boolean): string {
  if (typeof text !== 'string') refuse(`the ${what} must be text`);
  if (!allowEmpty && text.trim() === '') refuse(`the ${what} is empty: type something first`);
  if (text.length > TRY_LIMITS.maxText)
    refuse(`the ${what} has ${text.length} characters; at most ${TRY_LIMITS.maxText} are taken`);
  return text;
}

function outside(chars: Iterable<string>, known: ReadonlySet<string>): string[] {
  return [...new Set([...chars].filter((c) => !known.has(c)))];
}

function listChars(cs: string[]): string {
  return cs
    .slice(0, 12)
    .map((c) => JSON.stringify(c))
    .join(', ');
}

/** The model's answer to one input. The input's kind must be the one its task answers. */
export async function answerTry(
  m: TryModel,
  input: TryInput,
  origin: TryOrigin,
  dictionary?: Dictionary,
): Promise<TryResult> {
  const kind = m.model.config.kind;
  if (input?.kind === 'generate' && (kind === 'char-mlp' || kind === 'gpt')) return generate(m, input, origin);
  if (input?.kind === 'translate' && kind === 'seq2seq') return translate(m, input, origin, dictionary);
  if (input?.kind === 'classify' && kind === 'text-mlp') return classify(m, input, origin);
  refuse(`a ${kind} model of the ${m.task} task cannot answer a "${String(input?.kind)}" request`);
}

/**
 * Picks the next id from logits: greedy at temperature 0 or top-k 1; otherwise samples from
 * softmax(logits / temperature) over the k most likely (all when k is 0).
 */
export function pickNext(logits: ArrayLike<number>, temperature: number, topK: number, rng: Rng): number {
  if (temperature === 0 || topK === 1) return argMax(logits);
  const order = Array.from(logits, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const top = logits[kept[0]];
  const weights = kept.map((i) => Math.exp((logits[i] - top) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rng.next() * total;
  for (let j = 0; j < kept.length; j++) {
    r -= weights[j];
    if (r <= 0) return kept[j];
  }
  return kept[kept.length - 1];
}

async function generate(m: TryModel, input: GenerateInput, origin: TryOrigin): Promise<GenerateResult> {
  const { temperature, topK, length, seed } = input;
  if (!Number.isFinite(temperature) || temperature < 0 || temperature > TRY_LIMITS.maxTemperature)
    refuse(`the temperature must be a number from 0 to ${TRY_LIMITS.maxTemperature}`);
  if (!Number.isInteger(topK) || topK < 0) refuse('top-k must be a whole number, 0 for all characters');
  if (!Number.isInteger(length) || length < 1 || length > TRY_LIMITS.maxLength)
    refuse(`the length must be a whole number from 1 to ${TRY_LIMITS.maxLength}`);
  if (!Number.isSafeInteger(seed)) refuse('the seed must be a whole number');
  const chars = strings(m.vocabulary.chars, 'chars');
  const index = new Map(chars.map((c, i) => [c, i]));
  const c = m.model.config;
  // Words (names, or the char-MLP's one word per line) start after the boundary and end at it.
  const words = m.task === 'names' || c.kind === 'char-mlp';
  const notes: string[] = [];
  let prompt = checkText(input.prompt, 'prompt', true);
  if (words && prompt !== prompt.toLowerCase()) {
    prompt = prompt.toLowerCase();
    notes.push('lower-cased, as the training words were');
  }
  if (words && prompt.includes(BOUNDARY)) refuse(`"${BOUNDARY}" ends a word here; leave it out of the prompt`);
  const unknown = outside(prompt, new Set(chars));
  if (unknown.length > 0) refuse(`the prompt has characters the model never saw: ${listChars(unknown)}`);

  const context = c.kind === 'gpt' ? Number(c.block_size) : Number(c.context);
  const ids = [...prompt].map((ch) => index.get(ch)!);
  // The char-MLP always sees `context` characters, the boundary before a word; the GPT sees the
  // boundary before a word, or just the prompt's text (at least one character: the first, else a newline).
  let seq: number[];
  if (c.kind === 'char-mlp') seq = [...new Array<number>(context).fill(0), ...ids];
  else if (words) seq = [0, ...ids];
  else seq = ids.length > 0 ? ids : [index.get('\n') ?? 0];
  if (ids.length > context)
    notes.push(`only the last ${context} characters of the prompt are seen (the model's context)`);

  const rng = Rng.fromSeed(seed, 0x7e7);
  const v = c.vocab_size;
  const out: number[] = [];
  let ended = false;
  for (let step = 0; step < length; step++) {
    const window = seq.slice(-context);
    const logits = tf.tidy(() => {
      const x = tf.tensor2d(window, [1, window.length], 'int32');
      const y = m.model.def.logits(m.model.params, x, c, { training: false, seed: 0 });
      return c.kind === 'gpt' ? tf.slice(y, [0, window.length - 1, 0], [1, 1, v]).reshape([v]) : y.reshape([v]);
    });
    const values = await logits.data();
    logits.dispose();
    // The unknown character stands for what the data lacked: never an answer, at any temperature.
    const unknownId = index.get(UNKNOWN);
    if (unknownId !== undefined) values[unknownId] = -Infinity;
    const next = pickNext(values, temperature, topK, rng);
    if (words && next === 0) {
      ended = true;
      break;
    }
    out.push(next);
    seq.push(next);
  }
  return { kind: 'generate', origin, prompt, text: out.map((i) => chars[i]).join(''), ended, notes };
}

async function translate(
  m: TryModel,
  input: TranslateInput,
  origin: TryOrigin,
  dictionary?: Dictionary,
): Promise<TranslateResult> {
  const source = strings(m.vocabulary.source, 'source');
  const target = strings(m.vocabulary.target, 'target');
  const c = m.model.config;
  const srcLen = Number(c.src_len);
  const g2p = m.task === 'g2p';
  const notes: string[] = [];
  let text = checkText(input.text, g2p ? 'word' : 'source line', false).trim();
  if (g2p && text !== text.toLowerCase()) {
    text = text.toLowerCase();
    notes.push('lower-cased, as the dictionary is');
  }
  // Tokens as the data had them: words when any source token is longer than a character, else characters.
  const byWord = source.some((t) => !(SPECIALS as readonly string[]).includes(t) && [...t].length > 1);
  const tokens = byWord ? text.split(/\s+/).filter(Boolean) : [...text];
  if (g2p && /\s/.test(text)) refuse('type one word (no spaces)');
  if (tokens.length > srcLen)
    refuse(
      `the ${g2p ? 'word' : 'source'} has ${tokens.length} ${byWord ? 'words' : 'characters'}; the model takes at most ${srcLen}`,
    );
  const known = new Set(source.filter((t) => !(SPECIALS as readonly string[]).includes(t)));
  const unknown = outside(tokens, known);
  if (unknown.length > 0)
    refuse(
      `the ${g2p ? 'word' : 'source'} has ${byWord ? 'words' : 'characters'} the model never saw: ${listChars(unknown)}`,
    );
  const srcVocab = vocabFromTokens(source);
  const ids = new Int32Array(srcLen);
  tokens.forEach((t, i) => (ids[i] = srcVocab.index.get(t)!));
  // Long enough for any target the data had (g2p: at most 16 phonemes for 16 letters).
  const steps = Math.min(256, 2 * srcLen + 2);
  const [hyp] = await greedyDecode(m.model, ids, 1, srcLen, steps, vocabFromTokens(target));
  const join =
    byWord || g2p || target.some((t) => !(SPECIALS as readonly string[]).includes(t) && [...t].length > 1) ? ' ' : '';
  const shown = byWord ? tokens.join(' ') : text;
  const result: TranslateResult = {
    kind: 'translate',
    origin,
    input: shown,
    tokens: hyp,
    output: hyp.join(join),
    notes,
  };
  if (g2p && dictionary) {
    const known = await dictionary(text);
    if (known) {
      result.dictionary = known.map((p) => p.join(' '));
      result.matchesDictionary = result.dictionary.includes(result.output);
    }
  }
  return result;
}

async function classify(m: TryModel, input: ClassifyInput, origin: TryOrigin): Promise<ClassifyResult> {
  const classes = strings(m.vocabulary.classes, 'classes');
  const text = checkText(input.text, 'message', false);
  const c = m.model.config;
  const buckets = Number(c.vocab_size);
  const features = hashedNgrams(text, { min: Number(c.ngram_min), max: Number(c.ngram_max), buckets });
  const notes =
    normaliseText(text) === text ? [] : ['lower-cased and its white space collapsed, as the training messages were'];
  const p = tf.tidy(() =>
    tf.softmax(
      m.model.def.logits(m.model.params, tf.tensor2d(densify([features], buckets), [1, buckets]), c, {
        training: false,
        seed: 0,
      }),
    ),
  );
  const probabilities = Array.from(await p.data());
  p.dispose();
  const result: ClassifyResult = {
    kind: 'classify',
    origin,
    classes,
    probabilities,
    predicted: classes[argMax(probabilities)],
    notes,
  };
  if (classes.length === 2) result.positive = { label: classes[1], probability: probabilities[1] };
  return result;
}
