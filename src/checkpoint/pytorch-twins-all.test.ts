// Every built-in model against its PyTorch twin (python/models.py): the app's parameters load
// with load_state_dict(strict=True) and the twin's logits match the app's forward pass (tfjs CPU
// backend, dropout 0) on a fixed batch.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTorch, runPythonJson } from '../../tools/python';
import { Rng } from '../data/rng';
import { modelDefinition } from '../models/registry';
import { initialValues, type ModelConfig, type Params } from '../models/types';
import { encodeModelPart, type Weights } from './contents';
import { concatChunks, writeTorchFile } from './torch/index';

const ROOT = resolve(__dirname, '../..');
/** float32 forward passes in two libraries; the transformers sum over more terms. */
const TOL = 1e-4;

const PY = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
from models import build_model
from continue_training import safe_load
part = safe_load(sys.argv[1])
b = json.load(open(sys.argv[2]))
model = build_model(part["model_config"])
model.load_state_dict(part["state_dict"], strict=True)
model.eval()
x = torch.tensor(b["x"], dtype=torch.float32 if b["float"] else torch.long).reshape(b["shape"])
with torch.no_grad():
    print(json.dumps(model(x).reshape(-1).tolist()))
`;

const CASES: { cfg: ModelConfig; shape: [number, number]; float?: boolean; padFirst?: number }[] = [
  { cfg: { kind: 'char-mlp', vocab_size: 27, context: 3, embed: 8, hidden: 16 }, shape: [6, 3] },
  {
    cfg: {
      kind: 'gpt',
      vocab_size: 11,
      block_size: 8,
      n_embd: 16,
      n_layer: 2,
      n_head: 2,
      n_ffn: 32,
      tie_weights: false,
      dropout: 0,
    },
    shape: [3, 6],
  },
  {
    cfg: {
      kind: 'gpt',
      vocab_size: 11,
      block_size: 8,
      n_embd: 16,
      n_layer: 1,
      n_head: 4,
      n_ffn: 24,
      tie_weights: true,
      dropout: 0,
    },
    shape: [2, 8],
  },
  {
    cfg: {
      kind: 'seq2seq',
      src_vocab_size: 9,
      vocab_size: 7,
      d_model: 16,
      n_head: 2,
      d_ff: 32,
      enc_layers: 2,
      dec_layers: 1,
      dropout: 0,
      src_len: 5,
    },
    shape: [3, 9],
    padFirst: 5,
  },
  {
    cfg: { kind: 'text-mlp', vocab_size: 20, ngram_min: 1, ngram_max: 2, hidden: 8, n_classes: 3, dropout: 0 },
    shape: [4, 20],
    float: true,
  },
];

describe('PyTorch twins of every model', () => {
  let dir: string;
  beforeAll(async () => {
    requireTorch();
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'twins-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [n, c] of CASES.entries()) {
    it(`${c.cfg.kind} #${n}: strict load and the same logits`, () => {
      const def = modelDefinition(c.cfg.kind);
      const rng = Rng.fromSeed(7, n);
      const weights: Weights = new Map();
      const params: Params = {};
      for (const spec of def.paramSpecs(c.cfg)) {
        // Random values for every parameter (not the init's ones and zeros), so each one matters.
        const data = initialValues({ ...spec, init: { kind: 'uniform', bound: 0.5 } }, rng);
        weights.set(spec.name, { shape: spec.shape, data });
        params[spec.name] = tf.variable(tf.tensor(data, spec.shape), false, `t${n}/${spec.name}`);
      }
      const [rows, cols] = c.shape;
      const vocab = c.cfg.kind === 'seq2seq' ? Number(c.cfg.src_vocab_size) : c.cfg.vocab_size;
      const x = Array.from({ length: rows * cols }, (_, i) => {
        if (c.float) return rng.next();
        const col = i % cols;
        // seq2seq: the tail of each source row is padding (0), as the task pads it.
        if (c.padFirst !== undefined && col < c.padFirst && col >= c.padFirst - ((i / cols) | 0)) return 0;
        return 1 + rng.int((c.padFirst !== undefined && col >= c.padFirst ? Number(c.cfg.vocab_size) : vocab) - 1);
      });
      const app = tf.tidy(() => {
        const xt = c.float ? tf.tensor2d(x, c.shape) : tf.tensor2d(x, c.shape, 'int32');
        return Array.from(def.logits(params, xt, c.cfg, { training: false, seed: 0 }).dataSync());
      });
      tf.dispose(Object.values(params));
      const file = join(dir, `m${n}_model.th`);
      writeFileSync(
        file,
        concatChunks(
          writeTorchFile(
            encodeModelPart({
              stateDict: weights,
              checkpointTag: 'last',
              counters: { epoch: 0, update: 0, sample: 0 },
              runId: 'twins',
              modelName: c.cfg.kind,
              modelConfig: c.cfg,
            }),
          ),
        ),
      );
      const batch = join(dir, `b${n}.json`);
      writeFileSync(batch, JSON.stringify({ x, shape: c.shape, float: !!c.float }));
      const py = runPythonJson<number[]>(PY, [file, batch]);
      expect(py.length).toBe(app.length);
      const diff = Math.max(...py.map((v, i) => Math.abs(v - app[i])));
      console.log(`${c.cfg.kind} #${n}: max |logit diff| ${diff.toExponential(2)} over ${app.length} logits`);
      expect(diff).toBeLessThan(TOL);
    });
  }
});
