/**
 * Setting a run up before its first step: a new run, a resume (weights, optimizer, counters,
 * schedule, RNG, data cursor, callbacks) or a warm start (weights only, matched by name).
 */
import { DEFAULT_OUTPUT_DIR, formatTag, type CheckpointId } from '../checkpoint/naming';
import { emaInfo } from './checkpointer';
import type { DualCheckpointStore } from '../checkpoint/store/dual-store';
import { stage } from '../checkpoint/store/common';
import { PYTORCH_BACKEND, type JsonValue, type TrainerPart, type Weights } from '../checkpoint/contents';
import { DEFAULT_CONFIG, checkRunConfig, type RunConfig } from '../shared/config';
import { TrainerError, isNamed } from '../shared/errors';
import type { RepairedEvent, RunEvent } from '../shared/progress';
import { createTask, type UserData } from '../tasks/registry';
import type { Task } from '../tasks/types';
import { startPosition, type LoopPosition } from './loop';
import { checkTopology, continueConfig, findCheckpoint, matchWeights, repairCopies } from './resume';
import { TrainingSession } from './session';
import { assignWeights, restoreOptimizer } from './snapshot';

export interface PreparedRun {
  run: RunConfig;
  task: Task;
  names: { outputDir: string; runId: string; stageName?: string; modelName: string };
  /**
   * Applied once a backend is chosen and the session exists. `validateFirst`: the weights came from
   * another engine (PyTorch), so the app's own validation of them comes before the first update.
   */
  /**
   * A resume's saved weights: the session is built from them (new TrainingSession(…, startedFrom))
   * rather than drawing initial values; restore() assigns them to a session built without them.
   */
  initialWeights?: Weights;
  restore(session: TrainingSession): Promise<{
    position: LoopPosition;
    callbacks?: { [key: string]: JsonValue };
    validateFirst?: boolean;
    /**
     * A resume's repair of the stores' copies (every other copy of the checkpoint verified, a damaged
     * or missing one rewritten): the run calls it under its lock, after its first step, and resolves
     * with what it did. Training does not wait for it; the run's saves do (Checkpointer.hold).
     */
    repair?: () => Promise<Omit<RepairedEvent, 'type'>>;
  }>;
  event: Omit<RunEvent, 'type'>;
}

/** A run id that sorts by time and is a valid path segment: `20261122-214501-k3f9`. */
export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/** `userData`: the user's own file for the `text` task (see createTask); built-in tasks ignore it. */
export async function prepareRun(
  requested: RunConfig,
  store: DualCheckpointStore,
  userData?: UserData,
): Promise<PreparedRun> {
  if (requested.resume_run_id) return prepareResume(requested, store, userData);
  const why = checkRunConfig(requested);
  if (why) throw new TrainerError('InvalidConfigError', why);
  const run: RunConfig = { ...requested, run_id: requested.run_id || newRunId() };
  if (!run.init_run_id) {
    const task = await createTask(run, userData);
    const names = namesFor(run, task);
    return {
      run,
      task,
      names,
      event: { ...names, config: run },
      restore: async () => ({ position: startPosition(run) }),
    };
  }
  // Warm start: weights alone, matched by name; new optimizer and counters. The data is encoded
  // with the trained model's vocabulary (incremental adaptation), unknown characters refused or mapped.
  const loaded = await findWarmStartCheckpoint(store, run);
  const vocabulary = loaded.model.meta?.modelConfig.vocabulary;
  const adapt =
    vocabulary && typeof vocabulary === 'object' && !Array.isArray(vocabulary)
      ? { vocabulary, unknown: run.unknown_chars }
      : undefined;
  const task = await createTask(run, userData, adapt);
  const names = namesFor(run, task);
  const event: Omit<RunEvent, 'type'> = { ...names, config: run };
  return {
    run,
    task,
    names,
    event,
    restore: async (session) => {
      const shapes = Object.fromEntries(Object.entries(session.params).map(([n, v]) => [n, v.shape]));
      const { matched, report } = matchWeights(loaded.model.stateDict, shapes, {
        rename: run.init_rename,
        remove: run.init_remove,
        strict: run.init_strict,
      });
      const subset = Object.fromEntries(Object.entries(session.params).filter(([n]) => matched.has(n)));
      assignWeights(subset, matched);
      session.resetEma();
      event.warmStart = { from: loaded.meta.key, ...report, unknownChars: task.adaptation };
      return { position: startPosition(run) };
    },
  };
}

async function prepareResume(
  requested: RunConfig,
  store: DualCheckpointStore,
  userData?: UserData,
): Promise<PreparedRun> {
  const resumeStage = requested.resume_stage_name || requested.stage_name || undefined;
  // The dataset is built from the saved settings as soon as the trainer part is decoded, while the
  // weights and optimizer state are still read; kept if the checkpoint finally chosen has the same.
  let building: { run: string; task: Promise<Task> } | undefined;
  const loaded = await findCheckpoint(
    store,
    { runId: requested.resume_run_id, stageName: resumeStage, modelName: requested.model_name || undefined },
    requested.resume_checkpoint,
    true,
    (trainer, meta) => {
      let early: RunConfig;
      try {
        early = resumedRun(trainer, requested, resumeStage, meta.id.modelName);
      } catch {
        return; // refused below, in its own words, if this checkpoint is the one chosen
      }
      const key = JSON.stringify(early);
      if (building?.run === key) return;
      const task = stage('resume:dataset', () => createTask(early, userData));
      task.catch(() => {}); // unused when another checkpoint is chosen; else awaited below
      building = { run: key, task };
    },
  );
  const trainer = loaded.trainer!;
  const optim = loaded.optim!;
  const run = resumedRun(trainer, requested, resumeStage, loaded.meta.id.modelName);
  const task = await (building?.run === JSON.stringify(run)
    ? building.task
    : stage('resume:dataset', () => createTask(run, userData)));
  // Before any session is built from the weights: a changed model is named as such, not as a shape.
  checkTopology(loaded.model.meta?.modelConfig ?? {}, { ...task.modelConfig(run), vocabulary: task.vocabulary });
  const names = namesFor(run, task);
  const event: Omit<RunEvent, 'type'> = {
    ...names,
    config: run,
    resumedFrom: {
      tag: loaded.meta.key.split('_cp=').pop()!,
      counters: trainer.counters,
      skipped: loaded.skipped,
      backend: trainer.backend,
    },
  };
  return {
    run,
    task,
    names,
    event,
    initialWeights: loaded.model.stateDict,
    restore: async (session) => {
      await stage('resume:upload', async () => {
        // A session built from initialWeights holds them already.
        if (!session.fromCheckpoint) assignWeights(session.params, loaded.model.stateDict);
        await restoreEma(session, store, loaded.meta.id, run.ema);
        await restoreOptimizer(session, optim, run.reset_optim);
      });
      return {
        position: { counters: trainer.counters, rng: trainer.rng },
        callbacks: trainer.callbacks,
        validateFirst: trainer.backend === PYTORCH_BACKEND,
        // Not here: the first step needs none of it (the run starts it after that step, under its lock).
        repair: () => stage('resume:repair', () => repairCopies(store, loaded.meta, loaded)),
      };
    },
  };
}

/** The settings a resume continues with: the saved ones, changed only where a resume may (continueConfig). */
function resumedRun(
  trainer: TrainerPart,
  requested: RunConfig,
  resumeStage: string | undefined,
  modelName: string,
): RunConfig {
  const run = continueConfig(trainer.config, requested);
  run.run_id = requested.run_id || requested.resume_run_id;
  // stage_name defaults to the resumed stage (Noether).
  run.stage_name = requested.stage_name !== DEFAULT_CONFIG.stage_name ? requested.stage_name : (resumeStage ?? '');
  run.model_name = modelName;
  const why = checkRunConfig(run);
  if (why) throw new TrainerError('InvalidConfigError', why);
  return run;
}

/**
 * The checkpoint a warm start names. Without `init_stage_name`, the source run's stage of the
 * same name as this run's is tried, then its stage-less checkpoints (an imported state_dict).
 */
async function findWarmStartCheckpoint(store: DualCheckpointStore, run: RunConfig) {
  const stages = run.init_stage_name ? [run.init_stage_name] : [...new Set([run.stage_name || undefined, undefined])];
  for (const [i, stageName] of stages.entries()) {
    try {
      return await findCheckpoint(
        store,
        {
          runId: run.init_run_id,
          stageName,
          modelName: run.init_model_name || undefined,
          modelInfo: run.init_model_info || undefined,
        },
        run.init_checkpoint,
        false,
      );
    } catch (e) {
      if (!isNamed(e, 'CheckpointNotFoundError') || i === stages.length - 1) throw e;
    }
  }
  throw new TrainerError('CheckpointNotFoundError', `no checkpoint of run ${run.init_run_id} to warm-start from`);
}

/** The EMA weights saved beside the checkpoint (same tag, `ema_factor=…`), else the weights themselves. */
async function restoreEma(
  session: TrainingSession,
  store: DualCheckpointStore,
  id: CheckpointId,
  factor: number,
): Promise<void> {
  if (!session.ema) return;
  try {
    const ema = await findCheckpoint(
      store,
      { runId: id.runId, stageName: id.stageName, modelName: id.modelName, modelInfo: emaInfo(factor) },
      formatTag(id.tag),
      false,
    );
    assignWeights(session.ema, ema.model.stateDict);
  } catch (e) {
    if (!isNamed(e, 'CheckpointNotFoundError')) throw e;
    session.resetEma();
  }
}

function namesFor(run: RunConfig, task: Task): PreparedRun['names'] {
  return {
    outputDir: DEFAULT_OUTPUT_DIR,
    runId: run.run_id,
    stageName: run.stage_name || undefined,
    modelName: run.model_name || task.modelConfig(run).kind,
  };
}
