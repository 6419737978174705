import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyRuns } from '../../tools/property';
import { type CheckpointId, type CheckpointTag, tags } from './naming';
import { bestImproved, checkpointsToDelete, createBestTracker, periodicDue, resolveSavePolicy } from './save-policy';

const c = (epoch: number, update: number, sample: number) => ({ epoch, update, sample });

describe('resolveSavePolicy', () => {
  it('fills defaults and accepts the SINGA alias', () => {
    expect(resolveSavePolicy()).toEqual({
      saveEvery: 0,
      saveEverySamples: 0,
      saveEveryEpochs: 0,
      saveAtEpochEnd: false,
      checkpointAfter: 0,
      keepCheckpoint: -1,
      bestMetrics: [],
    });
    expect(resolveSavePolicy({ checkpoint_freq: 50 }).saveEvery).toBe(50);
    expect(resolveSavePolicy({ save_every: 50, checkpoint_freq: 50 }).saveEvery).toBe(50);
  });

  it.each<[string, object, RegExp]>([
    ['conflicting aliases', { save_every: 10, checkpoint_freq: 20 }, /name the same setting/],
    ['a negative save_every', { save_every: -1 }, /save_every must be a whole number/],
    ['a fractional sample interval', { save_every_samples: 1.5 }, /save_every_samples/],
    ['keep_checkpoint below -1', { keep_checkpoint: -2 }, /keep_checkpoint must be -1/],
    ['a bad mode', { best_metrics: [{ metric: 'loss', mode: 'lowest' }] }, /"min" or "max"/],
    ['an unnameable metric', { best_metrics: [{ metric: 'val loss', mode: 'min' }] }, /best_metrics: Invalid metric/],
    [
      'a metric twice',
      {
        best_metrics: [
          { metric: 'val/loss', mode: 'min' },
          { metric: 'val.loss', mode: 'min' },
        ],
      },
      /twice/,
    ],
  ])('refuses %s', (_n, cfg, msg) => {
    expect(() => resolveSavePolicy(cfg)).toThrowError(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringMatching(msg) }),
    );
  });
});

describe('periodicDue', () => {
  it('fires when a counter crosses a multiple, even when a batch jumps over it', () => {
    const p = resolveSavePolicy({ save_every: 10, save_every_samples: 1000 });
    expect(periodicDue(p, c(0, 9, 90), c(0, 10, 100), false)).toBe(true);
    expect(periodicDue(p, c(0, 10, 100), c(0, 11, 110), false)).toBe(false);
    expect(periodicDue(p, c(0, 11, 990), c(0, 12, 1020), false)).toBe(true); // 1000 skipped over
    expect(periodicDue(p, c(0, 12, 1020), c(0, 13, 1050), false)).toBe(false);
  });

  it('epochs, epoch ends and checkpoint_after', () => {
    expect(periodicDue(resolveSavePolicy({ save_every_epochs: 2 }), c(1, 5, 5), c(2, 6, 6), true)).toBe(true);
    expect(periodicDue(resolveSavePolicy({ save_every_epochs: 2 }), c(2, 6, 6), c(3, 7, 7), true)).toBe(false);
    expect(periodicDue(resolveSavePolicy({ save_at_epoch_end: true }), c(2, 6, 6), c(3, 7, 7), true)).toBe(true);
    expect(periodicDue(resolveSavePolicy({ save_at_epoch_end: true }), c(2, 6, 6), c(2, 7, 7), false)).toBe(false);
    const late = resolveSavePolicy({ save_every: 10, checkpoint_after: 25 });
    expect(periodicDue(late, c(0, 19, 0), c(0, 20, 0), false)).toBe(false);
    expect(periodicDue(late, c(0, 29, 0), c(0, 30, 0), false)).toBe(true);
    expect(periodicDue(resolveSavePolicy(), c(0, 0, 0), c(9, 9999, 9999), true)).toBe(false);
  });

  it('saves exactly once per multiple over any run of batch sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 100 }),
        (every, batches) => {
          const p = resolveSavePolicy({ save_every_samples: every });
          let before = c(0, 0, 0);
          let saves = 0;
          for (const b of batches) {
            const after = c(0, before.update + 1, before.sample + b);
            if (periodicDue(p, before, after, false)) saves++;
            before = after;
          }
          // Batches larger than `every` can cross several multiples in one step: one save for them.
          expect(saves).toBeLessThanOrEqual(Math.floor(before.sample / every));
          expect(saves > 0).toBe(before.sample >= every);
        },
      ),
      propertyRuns('save policy: once per multiple', 500),
    );
  });
});

describe('best tracking', () => {
  it('tracks min and max metrics in a JSON-safe state', () => {
    let s = createBestTracker(
      resolveSavePolicy({
        best_metrics: [
          { metric: 'loss', mode: 'min' },
          { metric: 'acc', mode: 'max' },
        ],
      }),
    );
    const step = (m: string, v: number) => {
      const r = bestImproved(s, m, v);
      s = r.state;
      return r.improved;
    };
    expect([step('loss', 2), step('loss', 3), step('loss', 1), step('loss', 1)]).toEqual([true, false, true, false]);
    expect([step('acc', 0.5), step('acc', 0.4), step('acc', 0.7)]).toEqual([true, false, true]);
    expect([step('loss', Number.NaN), step('other', 0)]).toEqual([false, false]);
    expect(JSON.parse(JSON.stringify(s))).toEqual({
      metrics: { loss: { mode: 'min', best: 1 }, acc: { mode: 'max', best: 0.7 } },
    });
    expect(createBestTracker(resolveSavePolicy({ best_metrics: [{ metric: 'loss', mode: 'min' }] }))).toEqual({
      metrics: { loss: { mode: 'min', best: null } },
    });
  });
});

describe('checkpointsToDelete', () => {
  const m = (tag: CheckpointTag, patch: Partial<CheckpointId> = {}) => ({
    id: { outputDir: 'runs', runId: 'r', modelName: 'net', tag, ...patch },
  });
  const all = [
    m(tags.periodic(1, 10, 40)),
    m(tags.periodic(3, 30, 120)),
    m(tags.periodic(2, 20, 80)),
    m(tags.latest()),
    m(tags.last()),
    m(tags.best('loss')),
    m(tags.periodic(1, 10, 40), { modelInfo: 'ema_factor=0.9999' }),
    m(tags.periodic(2, 20, 80), { modelInfo: 'ema_factor=0.9999' }),
  ];
  it('keeps the newest K periodic per model variant and never latest, last or best', () => {
    expect(checkpointsToDelete({ keepCheckpoint: 1 }, all)).toEqual([all[2], all[0], all[6]]);
    expect(checkpointsToDelete({ keepCheckpoint: 2 }, all)).toEqual([all[0]]);
    expect(checkpointsToDelete({ keepCheckpoint: -1 }, all)).toEqual([]);
    expect(checkpointsToDelete({ keepCheckpoint: 0 }, all).map((x) => x.id.tag.kind)).toEqual(
      Array(5).fill('periodic'),
    );
  });
});
