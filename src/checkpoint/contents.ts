/**
 * What each checkpoint part holds, as PyTorch values (see CHECKPOINTS.md):
 * - model: `{state_dict, checkpoint_tag, training_iteration, run_id, stage_name, model_name, model_config}`
 * - optim: `torch.optim.<Optimizer>.state_dict()` plus `param_idx_to_name`
 * - trainer: counters, schedule position, callbacks, RNG, data cursor, run config, and (when a
 *   validation ran) `metrics` (the latest val metrics by name) with `metrics_update` (their update).
 * Plain data in, plain data out: no tfjs here, so the page can inspect files too.
 */
import { type OptimizerName, OPTIMIZERS } from '../shared/config';
import { TrainerError } from '../shared/errors';
import type { Counters } from '../shared/progress';
import {
  PyDict,
  PyTuple,
  bfloat16ToFloat32,
  halfToFloat32,
  isTensor,
  num,
  pyFloat,
  tensor,
  toPlain,
  type PyValue,
  type Tensor,
} from './torch/index';
import { describeKind } from './torch/values';

export type { Counters };

/** One float32 tensor in PyTorch's layout. */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

/** Parameters by PyTorch name, in the model's registration order. */
export type Weights = Map<string, WeightTensor>;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ModelPartMeta {
  checkpointTag: string;
  counters: Counters;
  runId: string;
  stageName?: string;
  modelName: string;
  /** The model's shape settings, its kind and its vocabulary: what a twin needs to rebuild it. */
  modelConfig: { [key: string]: JsonValue };
}

export interface ModelPart extends ModelPartMeta {
  stateDict: Weights;
}

/** Optimizer state by parameter name, with PyTorch's slot names. */
export interface OptimPart {
  kind: OptimizerName;
  /** Updates the optimizer has applied (PyTorch's per-parameter `step`). */
  step: number;
  lr: number;
  weightDecay: number;
  betas?: [number, number];
  eps?: number;
  momentum?: number;
  alpha?: number;
  /** Parameter names in index order (`param_idx_to_name`). */
  paramNames: string[];
  /** Slots per parameter: `exp_avg`, `exp_avg_sq` (Adam), `momentum_buffer` (SGD and RMSprop with momentum), `square_avg` (RMSprop). */
  slots: Map<string, Record<string, WeightTensor>>;
}

export interface TrainerPart {
  formatVersion: number;
  counters: Counters;
  /** The learning-rate schedule; its position is the update counter. */
  schedule: { name: string; baseLr: number; warmup: number; totalUpdates: number; position: number };
  rng: [number, number, number, number];
  cursor: { seed: number; epoch: number; index: number };
  /** Best-metric trackers, EMA and early-stopping state. */
  callbacks: { [key: string]: JsonValue };
  config: { [key: string]: JsonValue };
  backend: string;
  /**
   * The latest validation metrics when the checkpoint was taken (`val/loss`, `val/f1`...), and the
   * update they were measured at; absent before the first validation (and in older files).
   */
  metrics?: Record<string, number>;
  metricsUpdate?: number;
}

const FORMAT_VERSION = 1;

/** The trainer part's `backend` when python/continue_training.py wrote it. */
export const PYTORCH_BACKEND = 'pytorch';

function bad(message: string): never {
  throw new TrainerError('CheckpointFormatError', message);
}

// ---- JSON-like values <-> Python values ------------------------------------------------------

/** Plain JSON to Python values: integers stay ints, other numbers become floats. */
export function fromJson(v: JsonValue): PyValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : pyFloat(v);
  if (Array.isArray(v)) return v.map(fromJson);
  return new PyDict(Object.entries(v).map(([k, x]) => [k, fromJson(x)] as [string, PyValue]));
}

/** Python values to plain JSON; a tensor here is refused (only plain settings are expected). */
export function toJson(v: PyValue, where: string): JsonValue {
  if (isTensor(v)) bad(`${where}: a tensor where plain values were expected`);
  const plain = toPlain(v);
  return plain as JsonValue;
}

function dictOf(v: PyValue | undefined, where: string): PyDict {
  if (!(v instanceof PyDict)) bad(`${where} must be a dict, found ${describeKind(v)}`);
  return v;
}

function field(d: PyDict, key: string, where: string): PyValue {
  if (!d.has(key)) bad(`${where} has no "${key}"`);
  return d.get(key) as PyValue;
}

function intField(d: PyDict, key: string, where: string): number {
  const v = field(d, key, where);
  const n = isTensor(v) ? tensorScalar(v) : num(v);
  if (!Number.isSafeInteger(n) || n < 0) bad(`${where}.${key} must be a non-negative integer, found ${n}`);
  return n;
}

function numField(d: PyDict, key: string, where: string): number {
  const v = field(d, key, where);
  const n = isTensor(v) ? tensorScalar(v) : num(v);
  if (!Number.isFinite(n)) bad(`${where}.${key} must be a finite number`);
  return n;
}

function strField(d: PyDict, key: string, where: string): string {
  const v = field(d, key, where);
  if (typeof v !== 'string') bad(`${where}.${key} must be a string, found ${describeKind(v)}`);
  return v;
}

function tensorScalar(t: Tensor): number {
  if (t.shape.length !== 0 && !(t.shape.length === 1 && t.shape[0] === 1)) bad('expected a one-element tensor');
  const x = t.data[0];
  return typeof x === 'bigint' ? Number(x) : x;
}

/** A float32 copy of any float tensor (float16/64/bfloat16 are converted). */
export function toWeight(t: Tensor, name: string): WeightTensor {
  let data: Float32Array;
  switch (t.dtype) {
    case 'float32':
      data = t.data as Float32Array;
      break;
    case 'float64':
      data = Float32Array.from(t.data as Float64Array);
      break;
    case 'float16':
      data = halfToFloat32(t.data as Uint16Array);
      break;
    case 'bfloat16':
      data = bfloat16ToFloat32(t.data as Uint16Array);
      break;
    default:
      bad(`parameter "${name}" has dtype ${t.dtype}; a float tensor was expected`);
  }
  return { shape: [...t.shape], data };
}

function weightToTensor(w: WeightTensor): Tensor {
  return tensor('float32', [...w.shape], w.data);
}

function countersToPy(c: Counters): PyDict {
  return PyDict.fromObject({ epoch: c.epoch, update: c.update, sample: c.sample });
}

function countersFromPy(v: PyValue | undefined, where: string): Counters {
  const d = dictOf(v, where);
  return {
    epoch: intField(d, 'epoch', where),
    update: intField(d, 'update', where),
    sample: intField(d, 'sample', where),
  };
}

// ---- model -----------------------------------------------------------------------------------

export function encodeModelPart(p: ModelPart): PyValue {
  const sd = new PyDict(
    [...p.stateDict].map(([k, w]) => [k, weightToTensor(w)] as [string, PyValue]),
    true,
  );
  const d = PyDict.fromObject({
    state_dict: sd,
    checkpoint_tag: p.checkpointTag,
    training_iteration: countersToPy(p.counters),
    run_id: p.runId,
    model_name: p.modelName,
    model_config: fromJson(p.modelConfig),
  });
  if (p.stageName !== undefined) d.set('stage_name', p.stageName);
  return d;
}

/**
 * Reads a model part. Also accepts a bare `torch.save(model.state_dict())` (an OrderedDict of
 * tensors), for which `meta` is undefined: good for a warm start, not for a resume.
 */
export function decodeModelPart(v: PyValue): { stateDict: Weights; meta?: ModelPartMeta } {
  const d = dictOf(v, 'the model file');
  if (!d.has('state_dict')) {
    if ([...d.values()].every(isTensor) && d.size > 0) return { stateDict: stateDictFromPy(d) };
    bad('the model file has neither a "state_dict" nor only tensors (is it a model checkpoint?)');
  }
  const stateDict = stateDictFromPy(field(d, 'state_dict', 'the model file'));
  const cfg = toJson(field(d, 'model_config', 'the model file'), 'model_config');
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) bad('model_config must be a dict');
  const stage = d.get('stage_name');
  return {
    stateDict,
    meta: {
      checkpointTag: strField(d, 'checkpoint_tag', 'the model file'),
      counters: countersFromPy(d.get('training_iteration'), 'training_iteration'),
      runId: strField(d, 'run_id', 'the model file'),
      stageName: typeof stage === 'string' ? stage : undefined,
      modelName: d.has('model_name') ? strField(d, 'model_name', 'the model file') : 'model',
      modelConfig: cfg,
    },
  };
}

function stateDictFromPy(v: PyValue): Weights {
  const d = dictOf(v, 'state_dict');
  const out: Weights = new Map();
  for (const [k, t] of d) {
    if (typeof k !== 'string') bad(`state_dict key ${String(k)} is not a string`);
    if (!isTensor(t)) bad(`state_dict["${k}"] is a ${describeKind(t)}, not a tensor`);
    out.set(k, toWeight(t, k));
  }
  return out;
}

// ---- optimizer -------------------------------------------------------------------------------

const SLOTS: Record<OptimizerName, string[]> = {
  adam: ['exp_avg', 'exp_avg_sq'],
  sgd: ['momentum_buffer'],
  rmsprop: ['square_avg', 'momentum_buffer'],
};

/** PyTorch 1.13's param_group keys for each optimizer, so `optimizer.load_state_dict` accepts ours. */
function paramGroup(p: OptimPart): PyDict {
  const common = {
    lr: pyFloat(p.lr),
    weight_decay: pyFloat(p.weightDecay),
    maximize: false,
    foreach: null,
    differentiable: false,
  };
  const ids = p.paramNames.map((_, i) => i);
  switch (p.kind) {
    case 'adam':
      return PyDict.fromObject({
        ...common,
        betas: new PyTuple([pyFloat(p.betas![0]), pyFloat(p.betas![1])]),
        eps: pyFloat(p.eps!),
        amsgrad: false,
        capturable: false,
        fused: false,
        params: ids,
      });
    case 'sgd':
      return PyDict.fromObject({
        ...common,
        momentum: pyFloat(p.momentum ?? 0),
        dampening: 0,
        nesterov: false,
        params: ids,
      });
    case 'rmsprop':
      return PyDict.fromObject({
        ...common,
        alpha: pyFloat(p.alpha!),
        eps: pyFloat(p.eps!),
        momentum: pyFloat(p.momentum ?? 0),
        centered: false,
        params: ids,
      });
  }
}

export function encodeOptimPart(p: OptimPart): PyValue {
  const state = new PyDict();
  p.paramNames.forEach((name, i) => {
    const slots = p.slots.get(name);
    if (!slots) return; // not stepped yet: PyTorch has no state for it either
    const s = new PyDict();
    if (p.kind !== 'sgd') s.set('step', tensor('float32', [], Float32Array.of(p.step)));
    for (const slot of SLOTS[p.kind]) if (slots[slot]) s.set(slot, weightToTensor(slots[slot]));
    state.set(i, s);
  });
  return PyDict.fromObject({
    state,
    param_groups: [paramGroup(p)],
    param_idx_to_name: new PyDict(p.paramNames.map((n, i) => [i, n] as [number, PyValue])),
    optimizer: p.kind,
  });
}

/** Reads an optimizer part; the kind comes from our `optimizer` key or from the param_group's keys. */
export function decodeOptimPart(v: PyValue): OptimPart {
  const d = dictOf(v, 'the optimizer file');
  const groups = field(d, 'param_groups', 'the optimizer file');
  if (!Array.isArray(groups) || groups.length !== 1) bad('the optimizer file must have exactly one param_group');
  const g = dictOf(groups[0], 'param_groups[0]');
  const kindField = d.get('optimizer');
  const named = OPTIMIZERS.find((o) => o === kindField);
  const kind: OptimizerName =
    named ??
    (g.has('betas')
      ? 'adam'
      : g.has('alpha')
        ? 'rmsprop'
        : g.has('dampening')
          ? 'sgd'
          : bad('the optimizer file is not Adam, SGD or RMSprop'));
  const names = dictOf(field(d, 'param_idx_to_name', 'the optimizer file'), 'param_idx_to_name');
  const params = field(g, 'params', 'param_groups[0]');
  if (!Array.isArray(params)) bad('param_groups[0].params must be a list');
  const paramNames = params.map((i) => {
    const n = names.get(num(i));
    if (typeof n !== 'string')
      bad(
        `param_idx_to_name has no name for parameter ${typeof i === 'number' || typeof i === 'bigint' ? i : typeof i}`,
      );
    return n;
  });
  const state = dictOf(field(d, 'state', 'the optimizer file'), 'state');
  const slots = new Map<string, Record<string, WeightTensor>>();
  let step = 0;
  for (const [idx, s] of state) {
    const name = names.get(idx);
    if (typeof name !== 'string') bad(`optimizer state ${String(idx)} has no parameter name`);
    const sd = dictOf(s, `state[${String(idx)}]`);
    if (sd.has('step')) step = Math.max(step, intField(sd, 'step', `state[${String(idx)}]`));
    const rec: Record<string, WeightTensor> = {};
    for (const slot of SLOTS[kind]) {
      const t = sd.get(slot);
      if (t !== undefined && t !== null) {
        if (!isTensor(t)) bad(`state[${String(idx)}].${slot} is not a tensor`);
        rec[slot] = toWeight(t, `${name}.${slot}`);
      }
    }
    slots.set(name, rec);
  }
  const stepField = d.get('step');
  if (kind === 'sgd' && stepField !== undefined) step = num(stepField);
  const betas = g.get('betas');
  return {
    kind,
    step,
    lr: numField(g, 'lr', 'param_groups[0]'),
    weightDecay: g.has('weight_decay') ? numField(g, 'weight_decay', 'param_groups[0]') : 0,
    betas: betas instanceof PyTuple || Array.isArray(betas) ? tupleOfTwo(betas) : undefined,
    eps: g.has('eps') ? numField(g, 'eps', 'param_groups[0]') : undefined,
    momentum: g.has('momentum') ? numField(g, 'momentum', 'param_groups[0]') : undefined,
    alpha: g.has('alpha') ? numField(g, 'alpha', 'param_groups[0]') : undefined,
    paramNames,
    slots,
  };
}

function tupleOfTwo(v: PyTuple | PyValue[]): [number, number] {
  const items = v instanceof PyTuple ? v.items : v;
  if (items.length !== 2) bad('betas must have two values');
  return [num(items[0]), num(items[1])];
}

// ---- trainer ---------------------------------------------------------------------------------

export function encodeTrainerPart(p: TrainerPart): PyValue {
  const d = PyDict.fromObject({
    format_version: p.formatVersion,
    training_iteration: countersToPy(p.counters),
    lr_schedule: PyDict.fromObject({
      name: p.schedule.name,
      base_lr: pyFloat(p.schedule.baseLr),
      warmup: p.schedule.warmup,
      total_updates: p.schedule.totalUpdates,
      position: p.schedule.position,
    }),
    // uint32 words; ints in Python, exact in JS.
    rng_state: p.rng.map((x) => x >>> 0),
    data_cursor: PyDict.fromObject({ seed: p.cursor.seed, epoch: p.cursor.epoch, index: p.cursor.index }),
    callbacks: fromJson(p.callbacks),
    config: fromJson(p.config),
    backend: p.backend,
  });
  if (p.metrics) {
    d.set('metrics', PyDict.fromObject(Object.fromEntries(Object.entries(p.metrics).map(([k, v]) => [k, pyFloat(v)]))));
    if (p.metricsUpdate !== undefined) d.set('metrics_update', p.metricsUpdate);
  }
  return d;
}

/** The trainer part's metrics: finite numbers by name; anything else in it is left out. */
function metricsFromPy(v: PyValue | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!(v instanceof PyDict)) return out;
  for (const [k, x] of v) {
    if (typeof k !== 'string' || isTensor(x)) continue;
    let n = NaN;
    try {
      n = num(x);
    } catch {
      // not a number: left out
    }
    if (Number.isFinite(n)) out[k] = n;
  }
  return out;
}

export function decodeTrainerPart(v: PyValue): TrainerPart {
  const d = dictOf(v, 'the trainer file');
  const version = intField(d, 'format_version', 'the trainer file');
  if (version > FORMAT_VERSION) bad(`the trainer file is format ${version}; this app reads up to ${FORMAT_VERSION}`);
  const s = dictOf(field(d, 'lr_schedule', 'the trainer file'), 'lr_schedule');
  const rng = field(d, 'rng_state', 'the trainer file');
  if (!Array.isArray(rng) || rng.length !== 4) bad('rng_state must be a list of 4 integers');
  const words = rng.map((x) => num(x)) as [number, number, number, number];
  if (words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff))
    bad('rng_state words must be 32-bit unsigned');
  const c = dictOf(field(d, 'data_cursor', 'the trainer file'), 'data_cursor');
  const callbacks = toJson(field(d, 'callbacks', 'the trainer file'), 'callbacks');
  const config = toJson(field(d, 'config', 'the trainer file'), 'config');
  if (!isObject(callbacks) || !isObject(config)) bad('callbacks and config must be dicts');
  return {
    formatVersion: version,
    counters: countersFromPy(d.get('training_iteration'), 'training_iteration'),
    schedule: {
      name: strField(s, 'name', 'lr_schedule'),
      baseLr: numField(s, 'base_lr', 'lr_schedule'),
      warmup: intField(s, 'warmup', 'lr_schedule'),
      totalUpdates: intField(s, 'total_updates', 'lr_schedule'),
      position: intField(s, 'position', 'lr_schedule'),
    },
    rng: words,
    cursor: {
      seed: intField(c, 'seed', 'data_cursor'),
      epoch: intField(c, 'epoch', 'data_cursor'),
      index: intField(c, 'index', 'data_cursor'),
    },
    callbacks,
    config,
    backend: d.has('backend') ? strField(d, 'backend', 'the trainer file') : '',
    ...(d.has('metrics') ? { metrics: metricsFromPy(d.get('metrics')) } : {}),
    ...(d.has('metrics_update') ? { metricsUpdate: intField(d, 'metrics_update', 'the trainer file') } : {}),
  };
}

function isObject(v: JsonValue): v is { [key: string]: JsonValue } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export const TRAINER_FORMAT_VERSION = FORMAT_VERSION;
