/**
 * "Try it" sessions in the trainer realm. The model training now answers between two of its
 * steps (the loop's queue), with its live weights. A stored checkpoint is read (verified) and its
 * weights loaded into a model of their own, never the training one's variables; reading and
 * decoding happen beside the training, only the answer itself waits for a gap between steps.
 * The last checkpoint loaded is kept for the next question (a person asks several in a row) and
 * disposed when another is asked for or on `release`.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeTrainerPart, type Weights } from '../checkpoint/contents';
import type { DualCheckpointStore } from '../checkpoint/store/dual-store';
import { readTorchFile } from '../checkpoint/torch/index';
import type { G2pEntry } from '../data/cmudict';
import { modelDefinition } from '../models/registry';
import type { ModelConfig, Params } from '../models/types';
import { TASKS, type TaskName } from '../shared/config';
import { TrainerError } from '../shared/errors';
import type { TryOrigin, TryRequest, TryResult, TrySource } from '../shared/try';
import { answerTry, type Dictionary, type TryModel } from '../tasks/try';
import { findCheckpoint } from './resume';
import { parseSelector, selectCheckpoint } from '../checkpoint/naming';

/** What the trainer's current run offers a try: its live model, and the gap between steps. */
export interface LiveModel {
  task: TaskName;
  model: TryModel['model'];
  vocabulary: Record<string, unknown>;
  update(): number;
  between<T>(job: () => Promise<T>): Promise<T>;
}

interface Loaded {
  id: string;
  model: TryModel;
  origin: TryOrigin;
  params: Params;
}

let instance = 0;

/** Pronunciations by word from a loader of the dictionary (loaded once, on the first g2p try). */
export function dictionaryFrom(load: () => Promise<G2pEntry[]>): Dictionary {
  let byWord: Promise<Map<string, string[][]>> | null = null;
  return async (word) => {
    byWord ??= load().then((entries) => {
      const m = new Map<string, string[][]>();
      for (const e of entries) m.set(e.word, [...(m.get(e.word) ?? []), e.phonemes]);
      return m;
    });
    return (await byWord).get(word);
  };
}

export class TryService {
  private loaded: Loaded | null = null;
  private loading: Promise<Loaded> | null = null;

  constructor(
    /** The store checkpoints are read from. */
    private readonly store: () => Promise<DualCheckpointStore>,
    private readonly dictionary?: Dictionary,
  ) {}

  /** Answers one request; `live` is the run training now, if any. */
  async answer(req: TryRequest, live: LiveModel | null): Promise<TryResult> {
    if (req?.source === 'training') {
      if (!live) throw new TrainerError('NoModelError', 'no model is training now: start a run, or try a checkpoint');
      return live.between(() =>
        answerTry(
          { task: live.task, model: live.model, vocabulary: live.vocabulary },
          req.input,
          { task: live.task, modelKind: live.model.config.kind, update: live.update() },
          this.dictionary,
        ),
      );
    }
    const loaded = await this.load(req.source);
    const job = () => answerTry(loaded.model, req.input, loaded.origin, this.dictionary);
    return live ? live.between(job) : job();
  }

  /** Disposes the checkpoint model kept from the last try. */
  release(): void {
    if (this.loaded) tf.dispose(Object.values(this.loaded.params));
    this.loaded = null;
  }

  /** Tensors a loaded checkpoint holds (0 when none), to check that nothing leaks. */
  get heldTensors(): number {
    return this.loaded ? Object.keys(this.loaded.params).length : 0;
  }

  private async load(source: Exclude<TrySource, 'training'>): Promise<Loaded> {
    if (!source || typeof source.runId !== 'string' || typeof source.tag !== 'string')
      throw new TrainerError('TryInputError', 'a checkpoint to try is named by its run and tag');
    // One load at a time: two quick questions about one checkpoint read it once.
    while (this.loading) await this.loading.catch(() => {});
    const p = this.read(source);
    this.loading = p;
    try {
      return await p;
    } finally {
      this.loading = null;
    }
  }

  private async read(source: Exclude<TrySource, 'training'>): Promise<Loaded> {
    const store = await this.store();
    const where = { runId: source.runId, stageName: source.stageName || undefined, modelName: source.modelName };
    // The listing first (metadata only): a checkpoint already loaded (same key, same save) is not read again.
    if (this.loaded) {
      const metas = (await store.list(where)).filter(
        (m) =>
          m.id.stageName === where.stageName &&
          (!where.modelName || m.id.modelName === where.modelName) &&
          m.id.modelInfo === undefined,
      );
      const chosen = selectCheckpoint(parseSelector(source.tag), metas);
      // `latest` is served from the periodic checkpoint of the same update (see findCheckpoint):
      // the one loaded still answers while it is stored unchanged and nothing newer is chosen.
      const kept = metas.some((m) => `${m.key}#${m.generation}` === this.loaded!.id);
      if (chosen && kept && chosen.counters.update === this.loaded.origin.update) return this.loaded;
    }
    const found = await findCheckpoint(store, where, source.tag, false);
    const id = `${found.meta.key}#${found.meta.generation}`;
    const cfg = found.model.meta?.modelConfig;
    if (!cfg)
      throw new TrainerError(
        'CheckpointFormatError',
        `${found.meta.key} is a bare state_dict, with no model config or vocabulary to answer with`,
      );
    const { vocabulary, ...rest } = cfg;
    const config = rest as unknown as ModelConfig;
    if (!vocabulary || typeof vocabulary !== 'object' || Array.isArray(vocabulary))
      throw new TrainerError('CheckpointFormatError', `${found.meta.key} has no vocabulary in its model config`);
    const task = await this.taskOf(store, found.meta.key, found.meta.parts, source.task, config);
    const params = toParams(config, found.model.stateDict);
    this.release();
    const loaded: Loaded = {
      id,
      params,
      model: { task, model: { def: modelDefinition(config.kind), config, params }, vocabulary },
      origin: { task, modelKind: config.kind, update: found.meta.counters.update, checkpoint: found.meta.key },
    };
    this.loaded = loaded;
    return loaded;
  }

  /** The run's task: from the trainer part's config, else the caller's word, else the model's kind. */
  private async taskOf(
    store: DualCheckpointStore,
    key: string,
    parts: { part: string }[],
    hint: TaskName | undefined,
    config: ModelConfig,
  ): Promise<TaskName> {
    if (parts.some((p) => p.part === 'trainer')) {
      const task = decodeTrainerPart(readTorchFile(await store.read(key, 'trainer'))).config.task;
      if ((TASKS as readonly unknown[]).includes(task)) return task as TaskName;
    }
    if (hint && (TASKS as readonly string[]).includes(hint)) return hint;
    if (config.kind === 'text-mlp') return 'spam';
    // A stage's `best` checkpoint (weights only) of a g2p run: the built-in task is the likelier.
    if (config.kind === 'seq2seq') return 'g2p';
    return 'names';
  }
}

/** The checkpoint's weights as the model's parameters: every name and shape must match its config. */
function toParams(config: ModelConfig, weights: Weights): Params {
  const specs = modelDefinition(config.kind).paramSpecs(config);
  for (const spec of specs) {
    const w = weights.get(spec.name);
    if (!w) throw new TrainerError('ShapeMismatchError', `the checkpoint has no parameter "${spec.name}"`);
    if (w.shape.join('x') !== spec.shape.join('x'))
      throw new TrainerError(
        'ShapeMismatchError',
        `"${spec.name}" is [${w.shape.join(', ')}] in the checkpoint; its config builds [${spec.shape.join(', ')}]`,
      );
  }
  // Variable names must be unique while they live: each loaded model has its own prefix.
  const prefix = `try${++instance}/`;
  const params: Params = {};
  for (const spec of specs) {
    const w = weights.get(spec.name)!;
    params[spec.name] = tf.tidy(() => tf.variable(tf.tensor(w.data, w.shape, 'float32'), false, prefix + spec.name));
  }
  return params;
}
