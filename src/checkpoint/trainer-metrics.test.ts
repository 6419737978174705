// The trainer part's latest validation metrics (for the checkpoint table): written as floats by
// name with the update they were measured at, read back exactly; absent in older files.
import { describe, expect, it } from 'vitest';
import { decodeTrainerPart, encodeTrainerPart, TRAINER_FORMAT_VERSION, type TrainerPart } from './contents';
import { concatChunks, PyDict, readTorchFile, writeTorchFile } from './torch/index';

const trainer: TrainerPart = {
  formatVersion: TRAINER_FORMAT_VERSION,
  counters: { epoch: 0, update: 40, sample: 1280 },
  schedule: { name: 'constant', baseLr: 0.01, warmup: 0, totalUpdates: 100, position: 40 },
  rng: [1, 2, 3, 4],
  cursor: { seed: 1, epoch: 0, index: 1280 },
  callbacks: {},
  config: { task: 'spam' },
  backend: 'cpu',
};

const roundTrip = (t: TrainerPart) =>
  decodeTrainerPart(readTorchFile(concatChunks(writeTorchFile(encodeTrainerPart(t), 'a'))));

describe('metrics in the trainer part', () => {
  it('round-trips the metrics and their update exactly, an integer-valued metric included', () => {
    const metrics = { 'val/loss': 0.6931471805599453, 'val/f1': 0.4, 'val/precision': 1, 'val/recall': 0.25 };
    const back = roundTrip({ ...trainer, metrics, metricsUpdate: 30 });
    expect(back.metrics).toEqual(metrics);
    expect(back.metricsUpdate).toBe(30);
  });

  it('leaves them out when there were none (before the first validation, older files)', () => {
    const back = roundTrip(trainer);
    expect(back).toEqual(trainer);
    expect('metrics' in back).toBe(false);
  });

  it('keeps only finite numbers from a hand-edited file', () => {
    const py = encodeTrainerPart(trainer) as PyDict;
    py.set('metrics', PyDict.fromObject({ 'val/loss': 1.5, note: 'text', nested: PyDict.fromObject({ a: 1 }) }));
    const back = decodeTrainerPart(readTorchFile(concatChunks(writeTorchFile(py, 'a'))));
    expect(back.metrics).toEqual({ 'val/loss': 1.5 });
  });
});
