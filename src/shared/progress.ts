/** What the trainer tells the page. Plain data only: it crosses the worker boundary by structured clone. */
import type { BackendName } from './config';
import type { WireError } from './errors';

export interface Counters {
  epoch: number;
  update: number;
  sample: number;
}

export type TrainerState = 'idle' | 'preparing' | 'running' | 'paused' | 'stopping' | 'done' | 'failed';

export interface BackendReport {
  backend: BackendName;
  /** Why each better backend was not used ('' for the one in use). */
  reasons: Partial<Record<BackendName, string>>;
  /** Milliseconds per training step measured in automatic mode, per backend tried. */
  timings: Partial<Record<BackendName, number>>;
  /** True when the WebGPU adapter is a software one (SwiftShader). */
  webgpuFallbackAdapter?: boolean;
}

export interface ProgressEvent {
  type: 'progress';
  state: TrainerState;
  counters: Counters;
  /** Epochs of the whole run, for the progress bar. */
  totalEpochs: number;
  updatesPerEpoch: number;
  /** Fraction of the run done, 0..1. */
  fraction: number;
  loss: number | null;
  lr: number;
  samplesPerSecond: number;
  etaSeconds: number | null;
  numTensors: number;
}

export interface LossPoint {
  update: number;
  loss: number;
}

export interface EvalEvent {
  type: 'eval';
  counters: Counters;
  metrics: Record<string, number>;
  samples: string[];
  epochEnd: boolean;
}

export interface LossBatchEvent {
  type: 'loss';
  points: LossPoint[];
}

export interface StateEvent {
  type: 'state';
  state: TrainerState;
  message?: string;
  error?: WireError;
}

export interface BackendEvent {
  type: 'backend';
  report: BackendReport;
}

/** Which run is training, and where its checkpoints go; sent once the run is set up. */
export interface RunEvent {
  type: 'run';
  runId: string;
  stageName?: string;
  modelName: string;
  outputDir: string;
  /** The settings the run trains with (for a resume: the checkpoint's, merged). */
  config: import('./config').RunConfig;
  /** `backend`: what trained up to the checkpoint (a tfjs backend, or `pytorch` for python/continue_training.py). */
  resumedFrom?: { tag: string; counters: Counters; skipped: { tag: string; reason: string }[]; backend: string };
  warmStart?: WarmStartReport & {
    from: string;
    /** New data fitted to the model's vocabulary: its unknown characters, and how many were mapped. */
    unknownChars?: { unknown: string[]; mapped: number };
  };
}

/** What a warm start matched by name, and what it could not. */
export interface WarmStartReport {
  loaded: string[];
  missing: string[];
  extra: string[];
  wrongShape: { name: string; checkpoint: number[]; model: number[] }[];
  renamed: { from: string; to: string }[];
  removed: string[];
}

export interface SavedEvent {
  type: 'saved';
  tag: string;
  counters: Counters;
  stores: string[];
  bytes: number;
  /** Milliseconds the loop was held (device reads), and the whole save took. */
  heldMs: number;
  totalMs: number;
}

/** A save began writing (the loop already goes on); `saved` follows when it is complete. */
export interface SavingEvent {
  type: 'saving';
  tag: string;
}

export type TrainerEvent = ProgressEvent | EvalEvent | LossBatchEvent | StateEvent | BackendEvent | RunEvent | SavingEvent | SavedEvent;
