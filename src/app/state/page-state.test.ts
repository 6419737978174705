import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, PRESET_VALUES, timingShapeKey, type RunConfig } from '../../shared/config';
import type { Counters, ProgressEvent, RunEvent, SavedEvent, TrainerEvent, TrainerState } from '../../shared/progress';
import { initialState, mayRestart, reduce, type Action, type PageState } from './page-state';
import {
  canPause,
  canStop,
  checkpointText,
  chosenPreset,
  detailText,
  formConfig,
  modelsForTask,
  presetEstimates,
  runText,
  startBlocked,
  statusText,
  trainedRun,
} from './selectors';

const counters = (update: number, epoch = 0): Counters => ({ epoch, update, sample: update * 32 });
const ev = (event: TrainerEvent): Action => ({ type: 'worker', event });
const state = (s: TrainerState, message?: string): Action => ev({ type: 'state', state: s, message });
const progress = (update: number, epoch: number, s: TrainerState = 'running'): Action =>
  ev({
    type: 'progress',
    state: s,
    counters: counters(update, epoch),
    totalEpochs: 5,
    updatesPerEpoch: 100,
    fraction: update / 500,
    loss: 2.5,
    lr: 0.01,
    samplesPerSecond: 1000,
    etaSeconds: 42,
    numTensors: 12,
  } satisfies ProgressEvent);
const run = (runId: string, resumedFrom?: RunEvent['resumedFrom'], config: RunConfig = DEFAULT_CONFIG): Action =>
  ev({
    type: 'run',
    runId,
    stageName: 'train',
    modelName: 'char-mlp',
    outputDir: `${runId}/train/`,
    config,
    resumedFrom,
  });
const saved = (tag: string, update: number): Action =>
  ev({
    type: 'saved',
    tag,
    counters: counters(update),
    stores: ['opfs', 'idb'],
    failures: [],
    bytes: 2048,
    heldMs: 3,
  } satisfies SavedEvent);

function replay(actions: Action[], from: PageState = initialState()): PageState {
  return actions.reduce(reduce, from);
}

describe('Stop during backend timing', () => {
  const timing: Action[] = [
    { type: 'start' },
    state('preparing', 'loading data'),
    state('preparing', 'choosing a backend'),
    ev({ type: 'timing', backend: 'webgpu', index: 1, count: 3 }),
  ];

  it('shows which backend is timed, the i-th of n', () => {
    const s = replay(timing);
    expect(statusText(s)).toBe('preparing: choosing a backend · timing webgpu (1 of 3)');
    expect(canStop(s)).toBe(true);
    expect(canPause(s)).toBe(false);
    expect(startBlocked(s)).toMatch(/in progress/);
  });

  it('says stopping at once, ignores late preparing events, and frees the form when the start ends', () => {
    let s = replay([...timing, { type: 'stop' }]);
    expect(s.trainer).toBe('stopping');
    expect(statusText(s)).toBe('stopping: cancelling the start…');
    expect(canStop(s)).toBe(false);
    // The worker's next trial message arrives after the press: still stopping.
    s = replay(
      [ev({ type: 'timing', backend: 'wasm', index: 2, count: 3 }), state('preparing', 'choosing a backend')],
      s,
    );
    expect(s.trainer).toBe('stopping');
    s = reduce(s, { type: 'start-ended', error: { name: 'AbortError', message: 'cancelled' } });
    expect(s.trainer).toBe('idle');
    expect(statusText(s)).toBe('Cancelled before training began.');
    expect(startBlocked(s)).toBeNull();
    expect(canStop(s)).toBe(false);
    expect(s.error).toBeNull();
    expect(s.run).toBeNull();
    expect(checkpointText(s)).toBe('No checkpoint yet');
  });

  it('a stop pressed while the worker already began training still ends as stopped, with no ETA', () => {
    let s = replay([...timing, { type: 'stop' }, state('running'), progress(3, 0)]);
    expect(s.trainer).toBe('stopping');
    s = replay(
      [run('r1'), progress(4, 0), state('stopping', 'saving a checkpoint'), saved('E0_U4_S128', 4), state('idle')],
      s,
    );
    expect(statusText(s)).toMatch(/ · stopped$/);
    expect(detailText(s)).not.toMatch(/ETA/);
  });
});

describe('a tab that crashed before its first checkpoint', () => {
  const resumeConfig: RunConfig = {
    ...DEFAULT_CONFIG,
    run_id: 'crashed',
    resume_run_id: 'crashed',
    resume_stage_name: 'train',
    resume_checkpoint: 'latest',
  };

  it('says there is nothing to resume, offers a fresh start, and drops resume_run_id from the form', () => {
    let s = replay([
      { type: 'load-config', config: resumeConfig },
      { type: 'start', recovering: { lastUpdate: 37 } },
      state('preparing', 'loading data'),
      ev({
        type: 'state',
        state: 'failed',
        error: { name: 'CheckpointNotFoundError', message: 'no checkpoint of crashed/train' },
      }),
    ]);
    s = reduce(s, {
      type: 'start-ended',
      error: { name: 'CheckpointNotFoundError', message: 'no checkpoint of crashed/train' },
    });
    expect(s.banner).toMatchObject({ kind: 'nothing-to-resume', runId: 'crashed' });
    expect(s.error).toBeNull();
    expect(s.trainer).toBe('idle');
    const { config } = formConfig(s);
    expect(config?.resume_run_id).toBe('');
    expect(config?.run_id).toBe('');
    // Not a trap: Start is free, and starts a new run.
    expect(startBlocked(s)).toBeNull();
    s = reduce(s, { type: 'start' });
    expect(s.banner).toBeNull();
  });

  it("the worker's failed event after the start call's refusal does not turn nothing-to-resume into an error", () => {
    const missing = { name: 'CheckpointNotFoundError', message: 'no checkpoint of crashed/train' };
    const s = replay([
      { type: 'load-config', config: resumeConfig },
      { type: 'start', recovering: { lastUpdate: 37 } },
      state('preparing', 'loading data'),
      { type: 'start-ended', error: missing },
      ev({ type: 'state', state: 'failed', error: missing }),
    ]);
    expect(s.banner).toMatchObject({ kind: 'nothing-to-resume', runId: 'crashed' });
    expect(s.error).toBeNull();
    expect(s.trainer).toBe('idle');
    expect(formConfig(s).config?.resume_run_id).toBe('');
    expect(startBlocked(s)).toBeNull();
  });

  it('another failure keeps its error and is not taken for a missing checkpoint', () => {
    const s = replay([
      { type: 'start' },
      { type: 'start-ended', error: { name: 'BackendUnavailableError', message: 'no backend' } },
    ]);
    expect(s.trainer).toBe('failed');
    expect(s.error?.name).toBe('BackendUnavailableError');
    expect(s.banner).toBeNull();
    expect(startBlocked(s)).toBeNull();
  });
});

describe('a read-only tab', () => {
  it('cannot start while another tab trains the run, and is offered a take-over when that tab closes', () => {
    let s = reduce(initialState(), {
      type: 'found-cut-off',
      runId: 'shared',
      lastUpdate: 10,
      lockedElsewhere: true,
      autoResume: true,
    });
    expect(s.readOnly).toBe(true);
    expect(startBlocked(s)).toMatch(/another tab/);
    // Dismissing does not hide that the tab is read-only; editing the form does not unlock Start.
    s = replay([{ type: 'dismiss-banner' }, { type: 'edit', key: 'lr', text: '0.02' }], s);
    expect(s.banner?.kind).toBe('read-only');
    expect(startBlocked(s)).toMatch(/another tab/);
    s = reduce(s, { type: 'lock-released', runId: 'shared' });
    expect(s.readOnly).toBe(false);
    expect(s.banner?.kind).toBe('lock-released');
    expect(startBlocked(s)).toBeNull();
  });

  it('a cut-off run in "ask me first" mode waits for the user', () => {
    const s = reduce(initialState(), {
      type: 'found-cut-off',
      runId: 'r',
      lastUpdate: 90,
      lockedElsewhere: false,
      autoResume: false,
    });
    expect(s.banner).toEqual({ kind: 'cut-off', runId: 'r', lastUpdate: 90 });
    expect(s.trainer).toBe('idle');
  });

  it('a recovery counts the updates the crash lost', () => {
    const s = replay([
      { type: 'start', recovering: { lastUpdate: 790 } },
      run('r', { tag: 'E1_U600_S19200', counters: counters(600, 1), skipped: [], backend: 'webgpu' }),
    ]);
    expect(s.banner).toMatchObject({ kind: 'recovered', lost: 190, from: 'E1_U600_S19200' });
  });

  it('the repair, reported once training has begun, joins the run line; one without a resumed run is ignored', () => {
    const resumed = run('r', { tag: 'E1_U600_S19200', counters: counters(600, 1), skipped: [], backend: 'webgpu' });
    const lost = { name: 'CheckpointNotFoundError', message: 'idb has no copy' };
    const repaired: Action = ev({
      type: 'repaired',
      repaired: [
        { tag: 'E1_U600_S19200', store: 'idb', error: lost },
        { tag: 'latest', store: 'idb', error: lost },
        { tag: 'E0_U300_S9600', store: 'opfs', error: { name: 'ChecksumMismatchError', message: 'xxh64 differs' } },
      ],
    });
    const before = replay([{ type: 'start' }, resumed, progress(601, 1)]);
    expect(runText(before)).not.toContain('copied back');
    const s = replay([repaired], before);
    expect(runText(s)).toContain('resumed from E1_U600_S19200 at update 600');
    expect(runText(s)).toContain('2 checkpoints missing from idb copied back');
    expect(runText(s)).toContain('the opfs copy of E0_U300_S9600 was damaged (ChecksumMismatchError: xxh64 differs)');
    expect(s.progress).toEqual(before.progress);
    const fresh = replay([{ type: 'start' }, run('n'), repaired]);
    expect(runText(fresh)).not.toContain('copied back');
    const failed = replay(
      [ev({ type: 'repaired', repaired: [], failure: { name: 'QuotaExceededError', message: 'full' } })],
      before,
    );
    expect(runText(failed)).toContain('copying checkpoints between the stores stopped: QuotaExceededError: full');
  });
});

describe('the status and the progress line agree', () => {
  it('one epoch number, 1-based, the same in both lines', () => {
    const s = replay([{ type: 'start' }, state('running'), run('r'), progress(150, 1)]);
    expect(statusText(s)).toBe('… · epoch 2/5 · update 150 · sample 4800 · loss 2.50');
    expect(detailText(s)).not.toMatch(/epoch/);
    expect(detailText(s)).toMatch(/ETA 42 s/);
  });

  it('a finished run reads epoch 5/5 done', () => {
    const s = replay([{ type: 'start' }, state('running'), run('r'), progress(500, 5), state('done')]);
    expect(statusText(s)).toMatch(/epoch 5\/5 .* · done$/);
    expect(detailText(s)).not.toMatch(/ETA/);
  });

  it('after Stop it says stopped, no ETA, and offers to continue', () => {
    const s = replay([
      { type: 'start' },
      state('running'),
      run('r'),
      progress(60, 0),
      saved('E0_U40_S1280', 40),
      { type: 'stop' },
      progress(61, 0, 'running'),
      state('stopping', 'saving a checkpoint'),
      saved('E0_U61_S1952', 61),
      state('idle'),
    ]);
    expect(statusText(s)).toMatch(/update 61 .* · stopped$/);
    expect(detailText(s)).not.toMatch(/ETA/);
    expect(s.banner).toEqual({ kind: 'stopped', runId: 'r', checkpoint: 'E0_U61_S1952' });
    expect(startBlocked(s)).toBeNull();
  });

  it('paused: no ETA, Pause offers to resume', () => {
    const s = replay([{ type: 'start' }, state('running'), run('r'), progress(10, 0), state('paused')]);
    expect(statusText(s)).toMatch(/ · paused$/);
    expect(detailText(s)).not.toMatch(/ETA/);
    expect(canPause(s)).toBe(true);
    expect(canStop(s)).toBe(true);
  });
});

describe('the checkpoint line', () => {
  it('a resumed run names its checkpoint, never "No checkpoint yet"', () => {
    const s = replay([
      { type: 'start' },
      run('r', { tag: 'E1_U1200_S76771', counters: counters(1200, 1), skipped: [], backend: 'webgpu' }),
      progress(1201, 1),
    ]);
    expect(checkpointText(s)).toBe('Resumed from checkpoint E1_U1200_S76771 at update 1200; none written since');
    const after = reduce(s, saved('E1_U1400_S80000', 1400));
    expect(checkpointText(after)).toMatch(/^Last checkpoint: E1_U1400_S80000 at update 1400/);
  });

  it('a best.* reported after a newer periodic one is not the last', () => {
    const s = replay([{ type: 'start' }, run('r'), saved('E0_U600_S19200', 600), saved('best.val.loss', 500)]);
    expect(s.checkpoint?.tag).toBe('E0_U600_S19200');
    expect(checkpointText(s)).toMatch(/^Last checkpoint: E0_U600_S19200 at update 600/);
    expect(checkpointText(s)).toMatch(/best: best\.val\.loss at update 500$/);
  });

  it('a best.* newer than every periodic one is the last', () => {
    const s = replay([{ type: 'start' }, run('r'), saved('E0_U400_S12800', 400), saved('best.val.loss', 500)]);
    expect(s.checkpoint?.tag).toBe('best.val.loss');
  });
});

describe('the form', () => {
  it('picking a task puts a model that can learn it', () => {
    let s = reduce(initialState(), { type: 'pick-task', task: 'g2p' });
    expect(s.texts.model).toBe('seq2seq');
    expect(modelsForTask(s)).toEqual(['seq2seq']);
    s = reduce(s, { type: 'pick-task', task: 'text' });
    expect(s.texts.model).toBe('seq2seq'); // seq2seq can learn text too: kept
    s = reduce(s, { type: 'pick-task', task: 'spam' });
    expect(s.texts.model).toBe('text-mlp');
  });

  it('an invalid task/model pair (from a link) cannot be started, and says why', () => {
    const s = initialState({ ...DEFAULT_CONFIG, task: 'g2p', model: 'char-mlp' });
    expect(startBlocked(s)).toMatch(/g2p task cannot be learned by the char-mlp model/);
  });

  it('task text without a file cannot be started; with one it can', () => {
    let s = reduce(initialState(), { type: 'pick-task', task: 'text' });
    expect(startBlocked(s)).toMatch(/your own file/);
    s = reduce(s, { type: 'user-file', file: { name: 'story.txt', size: 100 } });
    expect(startBlocked(s)).toBeNull();
  });

  it('a refused value blocks Start and names the field; fixing it frees Start', () => {
    let s = reduce(initialState(), { type: 'edit', key: 'batch_size', text: '0' });
    expect(formConfig(s).problems.batch_size).toMatch(/at least 1/);
    expect(startBlocked(s)).toMatch(/batch_size/);
    s = reduce(s, { type: 'edit', key: 'batch_size', text: '128' });
    expect(startBlocked(s)).toBeNull();
  });

  it('the form is locked while a run is busy', () => {
    const s = replay([
      { type: 'start' },
      { type: 'edit', key: 'lr', text: '0.5' },
      { type: 'pick-task', task: 'spam' },
    ]);
    expect(s.texts.lr).toBe('0.01');
    expect(s.texts.task).toBe('names');
  });

  it('presets set the model fields and are recognised; estimates come from the cached timing × updates per epoch', () => {
    let s = reduce(initialState(), { type: 'preset', preset: 'quick' });
    expect(chosenPreset(s)).toBe('quick');
    expect(s.texts.hidden).toBe(String(PRESET_VALUES['char-mlp'].quick.hidden));
    s = reduce(s, { type: 'edit', key: 'hidden', text: '33' });
    expect(chosenPreset(s)).toBe('custom');
    const long = { ...DEFAULT_CONFIG, ...PRESET_VALUES['char-mlp'].long };
    s = reduce(s, {
      type: 'timings',
      records: { [timingShapeKey(long)]: { backend: 'wasm', msPerStep: 4, updatesPerEpoch: 500, at: 0 } },
    });
    expect(presetEstimates(s)).toEqual({ quick: null, standard: null, long: 2 });
  });
});

describe('trainedRun', () => {
  it('names the run, its task and model and the trainer state for a try panel', () => {
    const cfg = { ...DEFAULT_CONFIG, task: 'spam' as const, model: 'text-mlp' as const };
    expect(trainedRun(initialState())).toBeNull();
    const s = replay([{ type: 'start' }, state('running'), run('r9', undefined, cfg)]);
    expect(trainedRun(s)).toEqual({
      runId: 'r9',
      stageName: 'train',
      task: 'spam',
      model: 'text-mlp',
      state: 'running',
    });
  });
});

describe('restarting a dead trainer', () => {
  it('keeps the failure in view and allows three restarts a minute', () => {
    let s = replay([
      { type: 'start' },
      { type: 'start-ended', error: { name: 'BackendFailedError', message: 'lost' } },
    ]);
    expect(mayRestart(s, 1_000)).toBe(true);
    s = replay(
      [
        { type: 'restarting', at: 1_000 },
        { type: 'restarting', at: 2_000 },
      ],
      s,
    );
    expect(s.error?.message).toMatch(/^lost — restarting the trainer/);
    expect(reduce(s, { type: 'start', keepError: true }).error?.name).toBe('BackendFailedError');
    s = reduce(s, { type: 'restarting', at: 3_000 });
    expect(mayRestart(s, 4_000)).toBe(false);
    expect(mayRestart(s, 62_000)).toBe(true);
  });
});
