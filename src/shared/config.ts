/**
 * The run's settings: one schema drives the form, the URL and validation, so a link reproduces a
 * setup and a bad value is refused the same way wherever it comes from.
 */

export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

export const TASKS = ['names', 'g2p', 'spam', 'text'] as const;
export type TaskName = (typeof TASKS)[number];

export const MODELS = ['char-mlp', 'gpt', 'seq2seq', 'text-mlp'] as const;
export type ModelKind = (typeof MODELS)[number];

export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export const SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export const STORE_CHOICES = ['both', 'opfs', 'idb'] as const;
export type StoreChoice = (typeof STORE_CHOICES)[number];
/** One store: the Origin Private File System or IndexedDB. */
export type StoreName = Exclude<StoreChoice, 'both'>;

/** OpenNMT-py's `-reset_optim` choices when continuing a run. */
export const RESET_OPTIM = ['none', 'all', 'keep_states'] as const;
export type ResetOptim = (typeof RESET_OPTIM)[number];

export const UNKNOWN_CHARS = ['refuse', 'map_to_unk'] as const;
export type UnknownChars = (typeof UNKNOWN_CHARS)[number];

export interface RunConfig {
  task: TaskName;
  model: ModelKind;
  /** Characters of context the model sees. */
  context: number;
  embed: number;
  /** Hidden width: the char-MLP's and text-MLP's hidden layer, the transformers' feed-forward width. */
  hidden: number;
  /** Transformer blocks (GPT), or encoder and decoder layers each (seq2seq). */
  layers: number;
  heads: number;
  /** Dropout probability; may differ between runs of the same model (not a topology key). */
  dropout: number;
  /** GPT: the output layer shares the token embedding's weights (no `head.weight`). */
  tie_weights: boolean;
  /** Text classifier: character n-grams of these lengths, hashed into `hash_buckets` features. */
  ngram_min: number;
  ngram_max: number;
  hash_buckets: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  weight_decay: number;
  schedule: ScheduleName;
  warmup: number;
  batch_size: number;
  epochs: number;
  seed: number;
  val_fraction: number;
  /** Validation every N updates (0: only at epoch ends). */
  eval_every: number;
  backend: BackendChoice;

  // Checkpoints: Noether's naming, OpenNMT's and SINGA's save options.
  /** Empty: a new id is made when the run starts. */
  run_id: string;
  stage_name: string;
  /** Empty: the model's kind. */
  model_name: string;
  stores: StoreChoice;
  /** Save every N updates (OpenNMT `-save_every`, SINGA `checkpoint_freq`); 0: never. */
  save_every: number;
  save_every_samples: number;
  save_every_epochs: number;
  /** Save when this many seconds passed since the last save (0: never): bounds what a closed tab loses, whatever the model's speed. */
  save_every_seconds: number;
  save_at_epoch_end: boolean;
  /** Start saving only after N updates (SINGA). */
  checkpoint_after: number;
  /** Keep the newest K periodic checkpoints (OpenNMT); -1: all. */
  keep_checkpoint: number;
  /** `metric:min|max`, comma separated: each kept as `best.{metric}`. */
  best_metrics: string;
  /** EMA of the weights (0: off), saved as the `ema_factor=…` variant. */
  ema: number;

  // Resume (a full continuation; Noether's names, OpenNMT's `-continue` rules).
  resume_run_id: string;
  resume_stage_name: string;
  resume_checkpoint: string;
  reset_optim: ResetOptim;

  // Warm start from weights alone (Noether's PreviousRunInitializer, OpenNMT's `-train_from`).
  init_run_id: string;
  init_stage_name: string;
  init_model_name: string;
  init_checkpoint: string;
  init_model_info: string;
  /** Refuse any missing, extra or misshapen parameter. */
  init_strict: boolean;
  /** `pattern=>replacement;…` regexes applied to the checkpoint's parameter names. */
  init_rename: string;
  /** A regex: checkpoint parameters whose names match are dropped. */
  init_remove: string;
  /** New data's characters outside the model's vocabulary: refuse, or map to the unknown token. */
  unknown_chars: UnknownChars;
}

interface NumberField {
  kind: 'int' | 'float';
  min: number;
  max: number;
  /** Whether `min` itself is allowed (a learning rate of 0 is not). */
  minInclusive?: boolean;
  label: string;
}
interface ChoiceField {
  kind: 'choice';
  options: readonly string[];
  label: string;
}
interface BoolField {
  kind: 'bool';
  label: string;
}
interface TextField {
  kind: 'text';
  label: string;
  /** Returns why a value is refused, or null. The empty string is always allowed. */
  check?: (value: string) => string | null;
}
export type FieldSpec = (NumberField | ChoiceField | BoolField | TextField) & { group: FieldGroup };

export const FIELD_GROUPS = ['Model and data', 'Optimization', 'Checkpoints', 'Resume', 'Warm start'] as const;
export type FieldGroup = (typeof FIELD_GROUPS)[number];

export const DEFAULT_CONFIG: RunConfig = {
  task: 'names',
  model: 'char-mlp',
  context: 3,
  embed: 16,
  hidden: 128,
  layers: 2,
  heads: 4,
  dropout: 0.1,
  tie_weights: true,
  ngram_min: 1,
  ngram_max: 3,
  hash_buckets: 4096,
  optimizer: 'adam',
  lr: 0.01,
  momentum: 0.9,
  weight_decay: 0,
  schedule: 'constant',
  warmup: 0,
  batch_size: 64,
  epochs: 5,
  seed: 42,
  val_fraction: 0.1,
  eval_every: 100,
  backend: 'auto',
  run_id: '',
  stage_name: 'train',
  model_name: '',
  stores: 'both',
  save_every: 200,
  save_every_samples: 0,
  save_every_epochs: 0,
  save_every_seconds: 60,
  save_at_epoch_end: true,
  checkpoint_after: 0,
  keep_checkpoint: 3,
  best_metrics: 'val/loss:min',
  ema: 0,
  resume_run_id: '',
  resume_stage_name: '',
  resume_checkpoint: 'latest',
  reset_optim: 'none',
  init_run_id: '',
  init_stage_name: '',
  init_model_name: '',
  init_checkpoint: 'latest',
  init_model_info: '',
  init_strict: false,
  init_rename: '',
  init_remove: '',
  unknown_chars: 'refuse',
};

const segment = (what: string) => (v: string) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(v) && !v.includes('..')
    ? null
    : `${what} may use only letters, digits, ".", "_" and "-", starting with a letter or digit`;
const modelName = (v: string) =>
  /^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/.test(v) && !v.includes('..')
    ? null
    : 'Model name may use only letters, digits, "." and "-" ("_" separates it from model_info)';
const regex = (v: string) => {
  try {
    new RegExp(v);
    return null;
  } catch (e) {
    return `not a valid regular expression: ${(e as Error).message}`;
  }
};

/** Parses `metric:min,other:max` (mode defaults to min). */
export function parseBestMetrics(text: string): { metric: string; mode: 'min' | 'max' }[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const [metric, mode = 'min'] = item.split(':');
      if (mode !== 'min' && mode !== 'max') throw new Error(`"${item}": the mode must be min or max`);
      if (!/^[A-Za-z0-9][A-Za-z0-9/._-]{0,63}$/.test(metric)) throw new Error(`"${item}": not a metric name`);
      return { metric, mode };
    });
}

/** Parses `pattern=>replacement;…`. */
export function parseRenames(text: string): { pattern: RegExp; replacement: string }[] {
  return text
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((rule) => {
      const at = rule.indexOf('=>');
      if (at < 0) throw new Error(`"${rule}": write pattern=>replacement`);
      return { pattern: new RegExp(rule.slice(0, at)), replacement: rule.slice(at + 2) };
    });
}

const tryParse = (f: (v: string) => unknown) => (v: string) => {
  try {
    f(v);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};

const M = 'Model and data' as const;
const O = 'Optimization' as const;
const C = 'Checkpoints' as const;
const R = 'Resume' as const;
const W = 'Warm start' as const;

export const CONFIG_FIELDS: { [K in keyof RunConfig]: FieldSpec } = {
  task: { kind: 'choice', options: TASKS, label: 'Task', group: M },
  model: { kind: 'choice', options: MODELS, label: 'Model', group: M },
  context: { kind: 'int', min: 1, max: 64, label: 'Context (characters)', group: M },
  embed: { kind: 'int', min: 1, max: 1024, label: 'Embedding width', group: M },
  hidden: { kind: 'int', min: 1, max: 8192, label: 'Hidden width', group: M },
  layers: { kind: 'int', min: 1, max: 24, label: 'Layers (transformers)', group: M },
  heads: { kind: 'int', min: 1, max: 32, label: 'Attention heads', group: M },
  dropout: { kind: 'float', min: 0, max: 0.9, label: 'Dropout', group: M },
  tie_weights: { kind: 'bool', label: 'Tie output to token embedding (GPT)', group: M },
  ngram_min: { kind: 'int', min: 1, max: 8, label: 'Shortest n-gram (classifier)', group: M },
  ngram_max: { kind: 'int', min: 1, max: 8, label: 'Longest n-gram (classifier)', group: M },
  hash_buckets: { kind: 'int', min: 16, max: 65_536, label: 'Hash buckets (classifier)', group: M },
  val_fraction: { kind: 'float', min: 0, max: 0.5, minInclusive: false, label: 'Validation fraction', group: M },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, label: 'Seed', group: M },
  optimizer: { kind: 'choice', options: OPTIMIZERS, label: 'Optimizer', group: O },
  lr: { kind: 'float', min: 0, max: 10, minInclusive: false, label: 'Learning rate', group: O },
  momentum: { kind: 'float', min: 0, max: 0.9999, label: 'Momentum (SGD, RMSProp)', group: O },
  weight_decay: { kind: 'float', min: 0, max: 1, label: 'Weight decay', group: O },
  schedule: { kind: 'choice', options: SCHEDULES, label: 'LR schedule', group: O },
  warmup: { kind: 'int', min: 0, max: 1_000_000, label: 'Warm-up updates', group: O },
  batch_size: { kind: 'int', min: 1, max: 65_536, label: 'Batch size', group: O },
  epochs: { kind: 'int', min: 1, max: 100_000, label: 'Epochs', group: O },
  eval_every: { kind: 'int', min: 0, max: 1_000_000, label: 'Validate every N updates', group: O },
  backend: { kind: 'choice', options: ['auto', ...BACKENDS], label: 'Backend', group: O },
  run_id: { kind: 'text', label: 'Run id (empty: new)', check: segment('Run id'), group: C },
  stage_name: { kind: 'text', label: 'Stage name', check: segment('Stage name'), group: C },
  model_name: { kind: 'text', label: 'Model name (empty: model kind)', check: modelName, group: C },
  stores: { kind: 'choice', options: STORE_CHOICES, label: 'Stores', group: C },
  save_every: { kind: 'int', min: 0, max: 100_000_000, label: 'Save every N updates', group: C },
  save_every_samples: { kind: 'int', min: 0, max: 1e12, label: 'Save every N samples', group: C },
  save_every_epochs: { kind: 'int', min: 0, max: 100_000, label: 'Save every N epochs', group: C },
  save_every_seconds: { kind: 'int', min: 0, max: 86_400, label: 'Save every N seconds', group: C },
  save_at_epoch_end: { kind: 'bool', label: 'Save at each epoch end', group: C },
  checkpoint_after: { kind: 'int', min: 0, max: 100_000_000, label: 'Start saving after N updates', group: C },
  keep_checkpoint: { kind: 'int', min: -1, max: 100_000, label: 'Keep newest K periodic (-1: all)', group: C },
  best_metrics: { kind: 'text', label: 'Best metrics (metric:min|max)', check: tryParse(parseBestMetrics), group: C },
  ema: { kind: 'float', min: 0, max: 0.99999, label: 'EMA factor (0: off)', group: C },
  resume_run_id: { kind: 'text', label: 'resume_run_id', check: segment('resume_run_id'), group: R },
  resume_stage_name: { kind: 'text', label: 'resume_stage_name', check: segment('resume_stage_name'), group: R },
  resume_checkpoint: { kind: 'text', label: 'resume_checkpoint (latest, E10, U100, S200, tag)', group: R },
  reset_optim: { kind: 'choice', options: RESET_OPTIM, label: 'Optimizer on resume (reset_optim)', group: R },
  init_run_id: { kind: 'text', label: 'run_id', check: segment('run_id'), group: W },
  init_stage_name: { kind: 'text', label: 'stage_name', check: segment('stage_name'), group: W },
  init_model_name: { kind: 'text', label: 'model_name', check: modelName, group: W },
  init_checkpoint: { kind: 'text', label: 'checkpoint_tag', group: W },
  init_model_info: { kind: 'text', label: 'model_info (e.g. ema_factor=0.999)', group: W },
  init_strict: { kind: 'bool', label: 'Strict (refuse any mismatch)', group: W },
  init_rename: { kind: 'text', label: 'Rename keys (pattern=>new;…)', check: tryParse(parseRenames), group: W },
  init_remove: { kind: 'text', label: 'Remove keys matching', check: regex, group: W },
  unknown_chars: { kind: 'choice', options: UNKNOWN_CHARS, label: 'Characters outside the vocabulary', group: W },
};

export const CONFIG_KEYS = Object.keys(DEFAULT_CONFIG) as (keyof RunConfig)[];

/** Parses one field from text; returns the value or a message saying why it is refused. */
export function parseField<K extends keyof RunConfig>(
  key: K,
  text: string,
): { ok: true; value: RunConfig[K] } | { ok: false; message: string } {
  const spec = CONFIG_FIELDS[key];
  const raw = text.trim();
  if (spec.kind === 'bool') {
    if (raw === 'true' || raw === '1' || raw === 'on') return { ok: true, value: true as RunConfig[K] };
    if (raw === 'false' || raw === '0' || raw === 'off') return { ok: true, value: false as RunConfig[K] };
    return { ok: false, message: `${spec.label} must be true or false` };
  }
  if (spec.kind === 'text') {
    if (raw.length > 512) return { ok: false, message: `${spec.label} is longer than 512 characters` };
    const why = raw === '' ? null : (spec.check?.(raw) ?? null);
    return why === null ? { ok: true, value: raw as RunConfig[K] } : { ok: false, message: why };
  }
  if (spec.kind === 'choice') {
    if (spec.options.includes(raw)) return { ok: true, value: raw as RunConfig[K] };
    return { ok: false, message: `${spec.label} must be one of ${spec.options.join(', ')}` };
  }
  if (raw === '') return { ok: false, message: `${spec.label} is required` };
  const n = Number(raw);
  if (!Number.isFinite(n)) return { ok: false, message: `${spec.label} must be a number` };
  if (spec.kind === 'int' && !Number.isInteger(n)) {
    return { ok: false, message: `${spec.label} must be a whole number` };
  }
  const belowMin = spec.minInclusive === false ? n <= spec.min : n < spec.min;
  if (belowMin || n > spec.max) {
    const lower = spec.minInclusive === false ? `greater than ${spec.min}` : `at least ${spec.min}`;
    return { ok: false, message: `${spec.label} must be ${lower} and at most ${spec.max}` };
  }
  return { ok: true, value: n as RunConfig[K] };
}

export interface ConfigProblem {
  key: keyof RunConfig;
  message: string;
}

/**
 * Reads a config from URL search params (or any string map). Unknown keys are ignored; a refused
 * value keeps the default and is reported, so a bad link still opens.
 */
export function configFromParams(params: URLSearchParams): { config: RunConfig; problems: ConfigProblem[] } {
  const config: RunConfig = { ...DEFAULT_CONFIG };
  const problems: ConfigProblem[] = [];
  for (const key of CONFIG_KEYS) {
    const text = params.get(key);
    if (text === null) continue;
    const parsed = parseField(key, text);
    // parseField checked the value against this key's schema; TS cannot tie a dynamic key to its field type.
    if (parsed.ok) (config as unknown as Record<string, unknown>)[key] = parsed.value;
    else problems.push({ key, message: parsed.message });
  }
  return { config, problems };
}

/** The URL search string for a config: only what differs from the defaults, so links stay short. */
export function configToParams(config: RunConfig): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of CONFIG_KEYS) {
    if (config[key] !== DEFAULT_CONFIG[key]) params.set(key, String(config[key]));
  }
  return params;
}

/** Which models can learn which task. */
export const TASK_MODELS: Record<TaskName, readonly ModelKind[]> = {
  names: ['char-mlp', 'gpt'],
  g2p: ['seq2seq'],
  spam: ['text-mlp'],
  text: ['char-mlp', 'gpt', 'seq2seq'],
};

/**
 * What no single field can say: a task with a model that cannot learn it, or settings that do not
 * fit together. Returns why the run is refused, or null.
 */
export function checkRunConfig(run: RunConfig): string | null {
  const models = TASK_MODELS[run.task];
  if (!models.includes(run.model)) {
    return `the ${run.task} task cannot be learned by the ${run.model} model: choose ${models.join(' or ')}`;
  }
  if ((run.model === 'gpt' || run.model === 'seq2seq') && run.embed % run.heads !== 0) {
    return `the embedding width (${run.embed}) must be a multiple of the number of attention heads (${run.heads})`;
  }
  if (run.model === 'text-mlp' && run.ngram_min > run.ngram_max) {
    return `the shortest n-gram (${run.ngram_min}) is longer than the longest (${run.ngram_max})`;
  }
  return null;
}

/** Validates a whole config object (e.g. one loaded from JSON). */
export function validateConfig(input: Record<string, unknown>): { config: RunConfig; problems: ConfigProblem[] } {
  const params = new URLSearchParams();
  for (const key of CONFIG_KEYS) if (key in input) params.set(key, String(input[key]));
  return configFromParams(params);
}

// ---- The page's task-first form: what each task is, which fields each model reads, presets ----

/** One sentence per task and a glimpse of its data (a few lines in the form the model sees). */
export const TASK_INFO: Record<TaskName, { title: string; sentence: string; glimpse: readonly string[] }> = {
  names: {
    title: 'Invent names',
    sentence: 'Learn English first names letter by letter, then make up new ones.',
    glimpse: ['mary', 'jonathan', 'beatrix', 'ezekiel'],
  },
  g2p: {
    title: 'Pronounce words (G2P)',
    sentence: 'Learn to spell out how a word sounds, from the CMU pronouncing dictionary.',
    glimpse: ['cat → K AE1 T', 'phone → F OW1 N', 'thought → TH AO1 T'],
  },
  spam: {
    title: 'Spot spam',
    sentence: 'Learn to tell spam e-mail from wanted mail (SpamAssassin corpus).',
    glimpse: ['spam: "Limited offer!!! Claim your prize now"', 'ham: "Minutes of Tuesday\'s meeting attached"'],
  },
  text: {
    title: 'Your own text',
    sentence: 'Train on a file you choose: plain text to continue it, or source<TAB>target lines to translate.',
    glimpse: ['story.txt: any plain text', 'pairs.tsv: hello<TAB>bonjour'],
  },
};

/** The model a task gets when it is picked (the first one that can learn it). */
export function defaultModelFor(task: TaskName): ModelKind {
  return TASK_MODELS[task][0];
}

/** The model fields each model reads; the form shows only these (plus the common ones). */
export const MODEL_FIELDS: Record<ModelKind, readonly (keyof RunConfig)[]> = {
  'char-mlp': ['context', 'embed', 'hidden'],
  gpt: ['context', 'embed', 'hidden', 'layers', 'heads', 'dropout', 'tie_weights'],
  seq2seq: ['embed', 'hidden', 'layers', 'heads', 'dropout'],
  'text-mlp': ['hidden', 'dropout', 'ngram_min', 'ngram_max', 'hash_buckets'],
};

/** Fields of the model-and-data group that every model uses. */
export const COMMON_MODEL_FIELDS: readonly (keyof RunConfig)[] = ['val_fraction', 'seed'];

/** One line of help per field, shown under it. */
export const FIELD_HELP: Partial<Record<keyof RunConfig, string>> = {
  context: 'How many previous characters the model sees to guess the next one.',
  embed: 'Size of the vector that stands for each character.',
  hidden: 'Width of the hidden layer (the feed-forward width in a transformer).',
  layers: 'Transformer blocks (seq2seq: encoder and decoder layers each).',
  heads: 'Attention heads; the embedding width must be a multiple of it.',
  dropout: 'Share of activations dropped while training, against overfitting.',
  tie_weights: 'The output layer reuses the character embedding (fewer parameters).',
  ngram_min: 'Shortest run of characters counted as a feature.',
  ngram_max: 'Longest run of characters counted as a feature.',
  hash_buckets: 'Features are hashed into this many buckets.',
  val_fraction: 'Share of the data held out to measure validation loss.',
  seed: 'Same seed, same settings: the same run.',
  optimizer: 'How the weights move along the gradient.',
  lr: 'Step size of each update.',
  momentum: 'SGD and RMSProp only.',
  weight_decay: 'Pulls weights towards zero each update.',
  schedule: 'How the learning rate changes over the run.',
  warmup: 'Updates over which the learning rate rises from 0.',
  batch_size: 'Examples per update.',
  epochs: 'Passes over the training data.',
  eval_every: 'Validation every N updates (0: only at epoch ends).',
  backend: 'auto times every usable backend on this model and keeps the fastest.',
  save_every: 'A checkpoint every N updates (OpenNMT save_every); 0: never.',
  save_every_seconds:
    'A checkpoint when this many seconds passed since the last; bounds what a closed tab loses. 0: never.',
  keep_checkpoint: 'Periodic checkpoints kept (OpenNMT keep_checkpoint); -1: all.',
};

export const PRESETS = ['quick', 'standard', 'long'] as const;
export type PresetName = (typeof PRESETS)[number];

/** Presets per model: the fields they set. A preset is "chosen" when every one of its fields matches. */
export const PRESET_VALUES: Record<ModelKind, Record<PresetName, Partial<RunConfig>>> = {
  'char-mlp': {
    quick: { context: 3, embed: 8, hidden: 32, batch_size: 32, epochs: 2 },
    standard: { context: 3, embed: 16, hidden: 128, batch_size: 64, epochs: 5 },
    long: { context: 5, embed: 32, hidden: 256, batch_size: 64, epochs: 20 },
  },
  gpt: {
    quick: { context: 16, embed: 32, hidden: 64, layers: 1, heads: 2, batch_size: 32, epochs: 2 },
    standard: { context: 32, embed: 64, hidden: 128, layers: 2, heads: 4, batch_size: 64, epochs: 5 },
    long: { context: 64, embed: 128, hidden: 512, layers: 4, heads: 4, batch_size: 64, epochs: 20 },
  },
  seq2seq: {
    quick: { embed: 32, hidden: 64, layers: 1, heads: 2, batch_size: 32, epochs: 2 },
    standard: { embed: 64, hidden: 128, layers: 2, heads: 4, batch_size: 64, epochs: 5 },
    long: { embed: 128, hidden: 256, layers: 3, heads: 4, batch_size: 64, epochs: 20 },
  },
  'text-mlp': {
    quick: { hidden: 32, hash_buckets: 1024, batch_size: 32, epochs: 2 },
    standard: { hidden: 128, hash_buckets: 4096, batch_size: 64, epochs: 5 },
    long: { hidden: 256, hash_buckets: 16_384, batch_size: 64, epochs: 20 },
  },
};

/**
 * What makes a training step cost what it does: the task, the model's shape, the batch size and the
 * backend choice. Backend timings are kept per device under this key.
 */
export function timingShapeKey(run: RunConfig): string {
  const shape = [...MODEL_FIELDS[run.model].filter((k) => k !== 'dropout'), 'batch_size', 'backend'] as const;
  return [run.task, run.model, ...shape.map((k) => `${k}=${String(run[k])}`)].join('|');
}
