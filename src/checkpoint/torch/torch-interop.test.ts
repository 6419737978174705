// PyTorch opens what we write: files go to a temp dir, Debian's Python with PyTorch loads them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe as group, expect, it } from 'vitest';
import { type Described, describe, diff } from './test-helpers';
import { PYTHON, requireTorch } from '../../../tools/python';
import {
  type PyValue,
  PyDict,
  archiveNameFor,
  concatChunks,
  float32ToBfloat16,
  float32ToHalf,
  pyFloat,
  pyTuple,
  tensor,
  writeTorchFile,
  writeZip,
} from './index';

const PY_DESCRIBE = `
import json, sys, zipfile, struct
from collections import OrderedDict
import torch

def describe(obj):
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        return {"tensor": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                "sum": float(t.double().sum()), "first": float(t.reshape(-1)[0]) if t.numel() else None}
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, float):
        return {"float": obj}
    if isinstance(obj, int):
        return obj
    if isinstance(obj, tuple):
        return {"tuple": [describe(v) for v in obj]}
    if isinstance(obj, dict):
        return {"dict": [[k if isinstance(k, str) else {"int": k}, describe(v)] for k, v in obj.items()],
                "ordered": isinstance(obj, OrderedDict)}
    if isinstance(obj, list):
        return [describe(v) for v in obj]
    raise TypeError(type(obj))

def aligned(path):
    data = open(path, "rb").read()
    z = zipfile.ZipFile(path)
    assert z.testzip() is None
    out = []
    for i in z.infolist():
        n, e = struct.unpack("<HH", data[i.header_offset + 26:i.header_offset + 30])
        out.append([i.filename, (i.header_offset + 30 + n + e) % 64, i.compress_type])
    return out

out = {}
for path in sys.argv[1:]:
    r = {"value": describe(torch.load(path)), "zip": aligned(path)}
    try:
        torch.load(path, weights_only=True)
        r["weights_only"] = True
    except Exception as e:
        r["weights_only"] = str(e)[:200]
    out[path] = r
# a model file loads into the same module, strictly
mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
model_file = [p for p in sys.argv[1:] if p.endswith("_model.th")][0]
mlp.load_state_dict(torch.load(model_file)["state_dict"], strict=True)
out["strict_load"] = float(sum(p.double().sum() for p in mlp.parameters()))
print(json.dumps(out))
`;

function seq(n: number, scale: number, shift = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * scale + shift));
}

const weights = {
  '0.weight': tensor('float32', [8, 4], seq(32, 0.37)),
  '0.bias': tensor('float32', [8], seq(8, 0.11)),
  '2.weight': tensor('float32', [3, 8], seq(24, 0.53)),
  '2.bias': tensor('float32', [3], seq(3, 0.71)),
};
const stateDict = new PyDict(Object.entries(weights), true);

const files: Record<string, PyValue> = {
  'mlp_cp=E1_U10_S320_model.th': PyDict.fromObject({
    state_dict: stateDict,
    checkpoint_tag: 'E1_U10_S320',
    training_iteration: PyDict.fromObject({ epoch: 1, update: 10, sample: 320 }),
    run_id: 'abc123',
    stage_name: null,
    model_name: 'mlp',
    model_config: PyDict.fromObject({ kind: 'mlp', hidden: 8, dropout: 0.1, lr: pyFloat(1), names: ['a', 'b'] }),
  }),
  'mlp_cp=E1_U10_S320_optim.th': PyDict.fromObject({
    state: new PyDict(
      Object.values(weights).map((w, i) => [
        i,
        PyDict.fromObject({
          step: tensor('float32', [], Float32Array.from([3])),
          exp_avg: tensor('float32', w.shape, seq(w.data.length, 0.1, i)),
          exp_avg_sq: tensor(
            'float32',
            w.shape,
            seq(w.data.length, 0.2, i).map((x) => x * x),
          ),
        }),
      ]),
    ),
    param_groups: [
      PyDict.fromObject({
        lr: 0.001,
        betas: pyTuple(0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0,
        amsgrad: false,
        maximize: false,
        foreach: null,
        capturable: false,
        differentiable: false,
        fused: false,
        params: [0, 1, 2, 3],
      }),
    ],
    param_idx_to_name: new PyDict(Object.keys(weights).map((k, i) => [i, k])),
  }),
  'mlp_cp=E1_U10_S320_trainer.th': PyDict.fromObject({
    counters: PyDict.fromObject({ epoch: 1, update: 10, sample: 320 }),
    schedule: PyDict.fromObject({ position: 10, warmup: pyFloat(0), factors: [0.5, pyFloat(1), 2] }),
    callbacks: [
      PyDict.fromObject({ kind: 'best_metric', metric: 'loss', best: 0.125, higher_is_better: false }),
      PyDict.fromObject({ kind: 'early_stopping', patience: 3, bad_epochs: 0, stopped: false }),
      PyDict.fromObject({ kind: 'ema', factor: 0.9999, weights: null }),
    ],
    rng: PyDict.fromObject({ seed: 1234, state: [2n ** 63n - 1n, -(2n ** 40n), 0, 4294967295] }),
    data: PyDict.fromObject({ permutation_seed: 77, next_index: 320, nested: pyTuple(pyTuple(), [[]], new PyDict()) }),
    run_config: PyDict.fromObject({ name: 'run ✓', tags: ['x', 'y'], empty: '' }),
  }),
  // every dtype, and no Python float anywhere: PyTorch 1.13 opens it with weights_only=True
  'dtypes_model.th': new PyDict(
    [
      ['f32', tensor('float32', [2, 3], seq(6, 1.3))],
      ['f64', tensor('float64', [2], Float64Array.from([Math.PI, -2.5]))],
      ['f16', tensor('float16', [3], float32ToHalf([1, -2.5, 0.099975586]))],
      ['bf16', tensor('bfloat16', [2], float32ToBfloat16([1.5, -3.140625]))],
      ['i64', tensor('int64', [3], BigInt64Array.from([2n ** 60n, -5n, 0n]))],
      ['i32', tensor('int32', [2], Int32Array.from([-7, 9]))],
      ['i16', tensor('int16', [2], Int16Array.from([-300, 300]))],
      ['i8', tensor('int8', [2], Int8Array.from([-128, 127]))],
      ['u8', tensor('uint8', [2], Uint8Array.from([0, 255]))],
      ['bool', tensor('bool', [3], Uint8Array.from([1, 0, 1]))],
      ['scalar', tensor('float32', [], Float32Array.from([3.5]))],
      ['empty', tensor('float32', [0, 4], new Float32Array(0))],
      ['tied_a', weights['0.bias']],
      ['tied_b', weights['0.bias']],
      ['int_meta', PyDict.fromObject({ version: 1, big: 2n ** 62n })] as [string, PyValue],
    ],
    true,
  ),
};

let dir = '';
let result: Record<string, { value: Described; zip: [string, number, number][]; weights_only: true | string }> & {
  strict_load?: number;
} = {};

beforeAll(() => {
  requireTorch();
  dir = mkdtempSync(join(tmpdir(), 'torch-interop-'));
  const paths: string[] = [];
  for (const [name, value] of Object.entries(files)) {
    const p = join(dir, name);
    writeFileSync(p, concatChunks(writeTorchFile(value, archiveNameFor(name))));
    paths.push(p);
  }
  const stdout = execFileSync(PYTHON, ['-c', PY_DESCRIBE, ...paths], { encoding: 'utf8', maxBuffer: 64 << 20 });
  result = JSON.parse(stdout);
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

group('PyTorch 1.13 opens what writeTorchFile wrote', () => {
  for (const [name, value] of Object.entries(files)) {
    it(`torch.load(${name}) sees every tensor and value`, () => {
      const r = result[join(dir, name)];
      expect(r, 'python printed nothing for this file').toBeDefined();
      expect(diff(r.value, describe(value))).toBeNull();
    });
    it(`${name}: stored entries, data at 64-byte offsets, PyTorch's entry order`, () => {
      const r = result[join(dir, name)];
      const folder = archiveNameFor(name);
      const names = r.zip.map(([n]) => n);
      expect(names[0]).toBe(`${folder}/data.pkl`);
      expect(names[names.length - 1]).toBe(`${folder}/version`);
      expect(names.slice(1, -1)).toEqual(names.slice(1, -1).map((_, i) => `${folder}/data/${i}`));
      for (const [n, mod, method] of r.zip) {
        expect(mod, n).toBe(0);
        expect(method, n).toBe(0);
      }
    });
  }

  it('loads a float-free state dict with weights_only=True', () => {
    expect(result[join(dir, 'dtypes_model.th')].weights_only).toBe(true);
  });

  it('loads the model file into the same module with strict=True', () => {
    let sum = 0;
    for (const t of Object.values(weights)) for (const x of t.data) sum += x;
    expect(result.strict_load).toBeCloseTo(sum, 9);
  });

  it("writes a general zip of .th files that Python's zipfile reads", () => {
    const model = writeTorchFile(stateDict, 'x');
    const chunks = writeZip(
      [
        { name: 'run/stage/checkpoints/mlp_cp=last_model.th', data: model },
        { name: 'run/checkpoints/readme.txt', data: new TextEncoder().encode('hello\n') },
      ],
      { modified: new Date(2024, 0, 2, 3, 4, 6) },
    );
    const p = join(dir, 'export.zip');
    writeFileSync(p, concatChunks(chunks));
    const out = execFileSync(
      PYTHON,
      [
        '-c',
        `import sys, zipfile, io, torch
z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
sd = torch.load(io.BytesIO(z.read("run/stage/checkpoints/mlp_cp=last_model.th")))
print(z.namelist(), z.getinfo("run/checkpoints/readme.txt").date_time, sorted(sd.keys()))`,
        p,
      ],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe(
      "['run/stage/checkpoints/mlp_cp=last_model.th', 'run/checkpoints/readme.txt'] (2024, 1, 2, 3, 4, 6) ['0.bias', '0.weight', '2.bias', '2.weight']",
    );
  });
});
