/**
 * The run's settings: one schema drives the form, the URL and validation, so a link reproduces a
 * setup and a bad value is refused the same way wherever it comes from.
 */

export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

export const TASKS = ['names'] as const;
export type TaskName = (typeof TASKS)[number];

export const MODELS = ['char-mlp'] as const;
export type ModelKind = (typeof MODELS)[number];

export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export const SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export interface RunConfig {
  task: TaskName;
  model: ModelKind;
  /** Characters of context the model sees. */
  context: number;
  embed: number;
  hidden: number;
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
export type FieldSpec = NumberField | ChoiceField;

export const DEFAULT_CONFIG: RunConfig = {
  task: 'names',
  model: 'char-mlp',
  context: 3,
  embed: 16,
  hidden: 128,
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
};

export const CONFIG_FIELDS: { [K in keyof RunConfig]: FieldSpec } = {
  task: { kind: 'choice', options: TASKS, label: 'Task' },
  model: { kind: 'choice', options: MODELS, label: 'Model' },
  context: { kind: 'int', min: 1, max: 64, label: 'Context (characters)' },
  embed: { kind: 'int', min: 1, max: 1024, label: 'Embedding width' },
  hidden: { kind: 'int', min: 1, max: 8192, label: 'Hidden width' },
  optimizer: { kind: 'choice', options: OPTIMIZERS, label: 'Optimizer' },
  lr: { kind: 'float', min: 0, max: 10, minInclusive: false, label: 'Learning rate' },
  momentum: { kind: 'float', min: 0, max: 0.9999, label: 'Momentum (SGD, RMSProp)' },
  weight_decay: { kind: 'float', min: 0, max: 1, label: 'Weight decay' },
  schedule: { kind: 'choice', options: SCHEDULES, label: 'LR schedule' },
  warmup: { kind: 'int', min: 0, max: 1_000_000, label: 'Warm-up updates' },
  batch_size: { kind: 'int', min: 1, max: 65_536, label: 'Batch size' },
  epochs: { kind: 'int', min: 1, max: 100_000, label: 'Epochs' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, label: 'Seed' },
  val_fraction: { kind: 'float', min: 0, max: 0.5, minInclusive: false, label: 'Validation fraction' },
  eval_every: { kind: 'int', min: 0, max: 1_000_000, label: 'Validate every N updates' },
  backend: { kind: 'choice', options: ['auto', ...BACKENDS], label: 'Backend' },
};

export const CONFIG_KEYS = Object.keys(DEFAULT_CONFIG) as (keyof RunConfig)[];

/** Parses one field from text; returns the value or a message saying why it is refused. */
export function parseField<K extends keyof RunConfig>(
  key: K,
  text: string,
): { ok: true; value: RunConfig[K] } | { ok: false; message: string } {
  const spec = CONFIG_FIELDS[key];
  const raw = text.trim();
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

/** Validates a whole config object (e.g. one loaded from JSON). */
export function validateConfig(input: Record<string, unknown>): { config: RunConfig; problems: ConfigProblem[] } {
  const params = new URLSearchParams();
  for (const key of CONFIG_KEYS) if (key in input) params.set(key, String(input[key]));
  return configFromParams(params);
}
