// The three checkpoint parts as PyTorch sees them: files we write load in real PyTorch, an
// optimizer part loads into torch.optim.Adam/SGD/RMSprop, and every part decodes back to itself.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTorch, runPythonJson } from '../../tools/python';
import {
  decodeModelPart,
  decodeOptimPart,
  decodeTrainerPart,
  encodeModelPart,
  encodeOptimPart,
  encodeTrainerPart,
  type ModelPart,
  type OptimPart,
  type TrainerPart,
  type Weights,
} from './contents';
import { concatChunks, readTorchFile, writeTorchFile } from './torch/index';

function weights(seed: number): Weights {
  const w = (shape: number[], k: number) => ({
    shape,
    data: Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      (_, i) => Math.sin(seed * 31 + k * 7 + i) / 3,
    ),
  });
  return new Map([
    ['embedding.weight', w([5, 3], 1)],
    ['layers.0.weight', w([4, 6], 2)],
    ['layers.0.bias', w([4], 3)],
  ]);
}

const model: ModelPart = {
  stateDict: weights(1),
  checkpointTag: 'E1_U10_S320',
  counters: { epoch: 1, update: 10, sample: 320 },
  runId: 'run-1',
  stageName: 'train',
  modelName: 'char-mlp',
  modelConfig: { kind: 'char-mlp', vocab_size: 5, context: 2, embed: 3, hidden: 4, vocab: ['.', 'a', 'b', 'c', 'd'] },
};

const optimFor = (kind: OptimPart['kind']): OptimPart => {
  const moments = weights(2);
  const names = [...moments.keys()];
  const slots = new Map(
    names.map((n) => {
      const m = moments.get(n)!;
      const sq = { shape: m.shape, data: m.data.map((x) => x * x) };
      const rec: Record<string, typeof m> =
        kind === 'adam'
          ? { exp_avg: m, exp_avg_sq: sq }
          : kind === 'sgd'
            ? { momentum_buffer: m }
            : { square_avg: sq, momentum_buffer: m };
      return [n, rec];
    }),
  );
  return {
    kind,
    step: 10,
    lr: 0.003,
    weightDecay: 0,
    betas: kind === 'adam' ? [0.9, 0.999] : undefined,
    eps: kind === 'sgd' ? undefined : 1e-8,
    momentum: kind === 'adam' ? undefined : 0.9,
    alpha: kind === 'rmsprop' ? 0.99 : undefined,
    paramNames: names,
    slots,
  };
};

const trainer: TrainerPart = {
  formatVersion: 1,
  counters: { epoch: 1, update: 10, sample: 320 },
  schedule: { name: 'cosine', baseLr: 0.003, warmup: 5, totalUpdates: 100, position: 10 },
  rng: [1, 0xffffffff, 123456789, 42],
  cursor: { seed: 42, epoch: 1, index: 0 },
  callbacks: { best: { 'val/loss': { mode: 'min', value: 2.5, update: 10 } }, ema: null },
  config: { lr: 0.003, batch_size: 32, task: 'names', save_at_epoch_end: true },
  backend: 'webgpu',
};

const bytesOf = (v: Parameters<typeof writeTorchFile>[0], name: string) => concatChunks(writeTorchFile(v, name));

describe('checkpoint parts', () => {
  it('decode back to what was encoded', () => {
    const m = decodeModelPart(readTorchFile(bytesOf(encodeModelPart(model), 'm')));
    expect(m.meta).toEqual({
      checkpointTag: model.checkpointTag,
      counters: model.counters,
      runId: model.runId,
      stageName: model.stageName,
      modelName: model.modelName,
      modelConfig: model.modelConfig,
    });
    expect([...m.stateDict.keys()]).toEqual([...model.stateDict.keys()]);
    for (const [k, w] of model.stateDict) expect(m.stateDict.get(k)).toEqual(w);
    for (const kind of ['adam', 'sgd', 'rmsprop'] as const) {
      const o = optimFor(kind);
      const back = decodeOptimPart(readTorchFile(bytesOf(encodeOptimPart(o), 'o')));
      expect(back.kind).toBe(kind);
      expect(back.paramNames).toEqual(o.paramNames);
      expect(back.lr).toBeCloseTo(o.lr, 12);
      if (kind !== 'sgd') expect(back.step).toBe(10);
      for (const [k, rec] of o.slots) expect(back.slots.get(k)).toEqual(rec);
    }
    expect(decodeTrainerPart(readTorchFile(bytesOf(encodeTrainerPart(trainer), 't')))).toEqual(trainer);
  });

  it('a bare state dict is accepted as weights without metadata; other shapes are refused by name', () => {
    const sd = readTorchFile(bytesOf(encodeModelPart(model), 'm'));
    // The file's top level is a dict (a Map here) whatever its declared reader type.
    const bare = (sd as unknown as Map<string, unknown>).get('state_dict') as Parameters<typeof decodeModelPart>[0];
    const r = decodeModelPart(bare);
    expect(r.meta).toBeUndefined();
    expect(r.stateDict.size).toBe(3);
    expect(() => decodeModelPart(readTorchFile(bytesOf(encodeTrainerPart(trainer), 't')))).toThrow(
      expect.objectContaining({ name: 'CheckpointFormatError' }),
    );
    expect(() => decodeOptimPart(readTorchFile(bytesOf(encodeModelPart(model), 'm')))).toThrow(
      expect.objectContaining({ name: 'CheckpointFormatError' }),
    );
    expect(() => decodeTrainerPart(readTorchFile(bytesOf(encodeModelPart(model), 'm')))).toThrow(
      expect.objectContaining({ name: 'CheckpointFormatError' }),
    );
  });
});

describe('PyTorch reads the parts', () => {
  let dir = '';
  beforeAll(() => {
    requireTorch();
    dir = mkdtempSync(join(tmpdir(), 'parts-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads model, optimizer and trainer files and the optimizer into torch.optim', () => {
    writeFileSync(
      join(dir, 'net_cp=E1_U10_S320_model.th'),
      bytesOf(encodeModelPart(model), 'net_cp=E1_U10_S320_model'),
    );
    writeFileSync(
      join(dir, 'net_cp=E1_U10_S320_trainer.th'),
      bytesOf(encodeTrainerPart(trainer), 'net_cp=E1_U10_S320_trainer'),
    );
    for (const kind of ['adam', 'sgd', 'rmsprop'] as const) {
      writeFileSync(join(dir, `${kind}_optim.th`), bytesOf(encodeOptimPart(optimFor(kind)), `${kind}_optim`));
    }
    const script = `
import json, sys, torch
from collections import OrderedDict
m = torch.load('net_cp=E1_U10_S320_model.th')
t = torch.load('net_cp=E1_U10_S320_trainer.th')
out = {"model": {k: [list(v.shape), float(v.double().sum()), str(v.dtype)] for k, v in m["state_dict"].items()},
       "tag": m["checkpoint_tag"], "iter": m["training_iteration"], "config": m["model_config"],
       "trainer": t, "optim": {}}
params = [torch.nn.Parameter(v.clone()) for v in m["state_dict"].values()]
for kind, cls, kw in [("adam", torch.optim.Adam, {}), ("sgd", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                      ("rmsprop", torch.optim.RMSprop, {"momentum": 0.9})]:
    sd = torch.load(kind + "_optim.th")
    opt = cls(params, **kw)
    opt.load_state_dict(sd)
    for p in params: p.grad = torch.ones_like(p)
    opt.step()
    st = opt.state_dict()
    out["optim"][kind] = {"groups": {k: v for k, v in st["param_groups"][0].items() if k in ("lr", "betas", "eps", "momentum", "alpha")},
                          "names": sd["param_idx_to_name"], "slots": sorted(st["state"][0].keys())}
print(json.dumps(out, default=float))
`;
    const r = runPythonJson<{
      model: Record<string, [number[], number, string]>;
      tag: string;
      iter: Record<string, number>;
      config: Record<string, unknown>;
      trainer: Record<string, unknown>;
      optim: Record<string, { groups: Record<string, unknown>; names: Record<string, string>; slots: string[] }>;
    }>(script, [], dir);
    for (const [k, w] of model.stateDict) {
      const [shape, sum, dtype] = r.model[k];
      expect(shape).toEqual(w.shape);
      expect(dtype).toBe('torch.float32');
      expect(sum).toBeCloseTo(
        w.data.reduce((a, b) => a + b, 0),
        4,
      );
    }
    expect(r.tag).toBe('E1_U10_S320');
    expect(r.iter).toEqual({ epoch: 1, update: 10, sample: 320 });
    expect(r.config).toEqual(model.modelConfig);
    expect(r.trainer.rng_state).toEqual(trainer.rng);
    expect(r.trainer.data_cursor).toEqual(trainer.cursor);
    expect(r.trainer.config).toEqual(trainer.config);
    expect(r.optim.adam.groups).toEqual({ lr: 0.003, betas: [0.9, 0.999], eps: 1e-8 });
    expect(r.optim.adam.slots).toEqual(['exp_avg', 'exp_avg_sq', 'step']);
    expect(r.optim.adam.names).toEqual({ 0: 'embedding.weight', 1: 'layers.0.weight', 2: 'layers.0.bias' });
    expect(r.optim.sgd.slots).toEqual(['momentum_buffer']);
    expect(r.optim.rmsprop.slots).toEqual(['momentum_buffer', 'square_avg', 'step']);
  });
});
