/** What the trainer tells the page. Plain data only: it crosses the worker boundary by structured clone. */
import type { BackendName, StoreName } from './config';
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
  /** The WASM backend's threads once it started: its pool size, whether tfjs loaded its threaded build, and why not more. */
  wasmThreads?: { threads: number; threadedBuild: boolean; why: string };
  /** Set when the timings were measured by an earlier start on this device and model shape, and reused. */
  cachedAt?: number;
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
  /** The same examples as `samples`, structured: what went in, what came out, what was expected. */
  examples?: ShownExample[];
  /** Counts of (true class, predicted class) on validation, for a classifier: `matrix[truth][predicted]`. */
  confusion?: { classes: string[]; matrix: number[][] };
}

/** One example shown to a person: a validation row and the model's answer (or a sample, with no reference). */
export interface ShownExample {
  input: string;
  output: string;
  /** The right answer, when the example has one. */
  reference?: string;
  /** Whether the output is the reference (absent when there is none). */
  correct?: boolean;
  /** The model's probability of its output, for a classifier. */
  probability?: number;
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
  resumedFrom?: {
    tag: string;
    counters: Counters;
    /** Newer checkpoints passed over because no copy verified. */
    skipped: { tag: string; reason: string }[];
    /** Filled in by the `repaired` event, which comes once training has begun. */
    repaired?: RepairedCopyReport[];
    failure?: WireError;
    /** What trained up to the checkpoint: a tfjs backend, or `pytorch` (python/continue_training.py). */
    backend: string;
  };
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

/** A store that was asked to hold a save and did not, and why. */
export interface StoreFailure {
  store: StoreName;
  error: WireError;
}

export interface SavedEvent {
  type: 'saved';
  tag: string;
  counters: Counters;
  /** The stores that hold every checkpoint this save wrote (its tag, `latest`, an EMA variant). */
  stores: StoreName[];
  /** Each store that missed any of them, once, with its first error; empty when all hold it. */
  failures: StoreFailure[];
  bytes: number;
  /** Milliseconds the loop was held (device reads); encoding and writing went on while it trained. */
  heldMs: number;
}

/** A save began writing (the loop already goes on); `saved` follows when it is complete. */
export interface SavingEvent {
  type: 'saving';
  tag: string;
}

/** Backend timing under way: trial `index` (1-based) of `count`, on `backend`. */
export interface TimingEvent {
  type: 'timing';
  backend: BackendName;
  index: number;
  count: number;
}

/** A copy of a checkpoint found damaged or missing in one store and rewritten from the other. */
export interface RepairedCopyReport {
  tag: string;
  store: string;
  error: WireError;
}

/**
 * After a resume, once training has begun: the copies (of the resumed checkpoint, or the stage's
 * others) found damaged or missing in one store and rewritten from the other. The repair runs
 * beside the first steps and holds the run's saves until it ends, so no save meets it half done.
 */
export interface RepairedEvent {
  type: 'repaired';
  repaired: RepairedCopyReport[];
  /** Why the repair stopped part way (a full disk), if it did; the run goes on. */
  failure?: WireError;
}

export type TrainerEvent =
  | TimingEvent
  | ProgressEvent
  | EvalEvent
  | LossBatchEvent
  | StateEvent
  | BackendEvent
  | RunEvent
  | SavingEvent
  | SavedEvent
  | RepairedEvent;
