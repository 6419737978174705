/**
 * "Try it": what the page asks the trainer to answer with a model, and what comes back. Plain
 * data only (it crosses the worker boundary). The model is the one training now, or any stored
 * checkpoint, loaded read-only beside the training.
 */
import type { TaskName } from './config';

/** Which model answers: the one being trained now, or a stored checkpoint (by its naming-scheme parts). */
export type TrySource =
  | 'training'
  | {
      runId: string;
      stageName?: string;
      /** A checkpoint tag or selector as the naming scheme writes it: `E0_U10_S320`, `latest`, `best.val.loss`. */
      tag: string;
      modelName?: string;
      /** The task the run trained, when the checkpoint has no trainer part to say it (a `best` one). */
      task?: TaskName;
    };

/** Generate characters from a language model (names, own text with a char model or the GPT). */
export interface GenerateInput {
  kind: 'generate';
  /** What the generated text continues; may be empty. */
  prompt: string;
  /** 0 picks the most likely character each time (greedy); higher is more varied. */
  temperature: number;
  /** Sample among the k most likely characters only; 0 means all of them. */
  topK: number;
  /** Most characters to generate (names stop earlier, at the end of the name). */
  length: number;
  /** Seed of the sampling: the same seed, model and input give the same text. */
  seed: number;
}

/** A source line to a target line: a word to its phonemes (g2p), or a TSV source to its target. */
export interface TranslateInput {
  kind: 'translate';
  text: string;
}

/** A message to its class probabilities (spam). */
export interface ClassifyInput {
  kind: 'classify';
  text: string;
}

export type TryInput = GenerateInput | TranslateInput | ClassifyInput;

export interface TryRequest {
  source: TrySource;
  input: TryInput;
}

/** Where the answer came from: which run and checkpoint, at which update. */
export interface TryOrigin {
  task: TaskName;
  modelKind: string;
  update: number;
  /** The checkpoint's key, or undefined for the model training now. */
  checkpoint?: string;
}

export interface GenerateResult {
  kind: 'generate';
  origin: TryOrigin;
  prompt: string;
  /** The generated characters only (the prompt not repeated). */
  text: string;
  /** Whether the model ended the text itself (a name's end), rather than reaching the length. */
  ended: boolean;
  /** How the prompt was fitted to the model: lower-cased for names, cut to the context. */
  notes: string[];
}

export interface TranslateResult {
  kind: 'translate';
  origin: TryOrigin;
  input: string;
  /** The output tokens, and the same joined for display (phonemes with spaces, letters without). */
  tokens: string[];
  output: string;
  /** The pronouncing dictionary's answers for the word (g2p only; absent when it lacks the word). */
  dictionary?: string[];
  /** Whether the output is one of the dictionary's answers (g2p with a known word only). */
  matchesDictionary?: boolean;
  notes: string[];
}

export interface ClassifyResult {
  kind: 'classify';
  origin: TryOrigin;
  classes: string[];
  /** One probability per class, summing to 1. */
  probabilities: number[];
  /** The most likely class. */
  predicted: string;
  /** The probability of the positive class (`spam`), for a binary task. */
  positive?: { label: string; probability: number };
  notes: string[];
}

export type TryResult = GenerateResult | TranslateResult | ClassifyResult;

/** Limits the trainer enforces on a try's input (TryInputError beyond them). */
export const TRY_LIMITS = {
  /** Characters of a prompt or a message. */
  maxText: 20_000,
  /** Characters generated at most. */
  maxLength: 1_000,
  maxTemperature: 10,
} as const;

/** The kind of input each task answers. */
export function tryInputKind(task: TaskName, modelKind: string): TryInput['kind'] {
  if (task === 'spam') return 'classify';
  if (task === 'g2p' || modelKind === 'seq2seq') return 'translate';
  return 'generate';
}
