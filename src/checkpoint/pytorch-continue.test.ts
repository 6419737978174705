// python/continue_training.py against the app, for every model and task: the app (tfjs CPU
// backend) trains a few updates and exports; PyTorch continues the export K updates on one process
// and on two (torchrun, gloo). Then
// - one update: the app's next update from the export and PyTorch's first one agree (loss and
//   weights), which they can only if both data pipelines fed the same batch;
// - 1 vs 2 processes: the weights after K updates agree (each batch split across the processes);
// - back in the app: its validation metrics of PyTorch's weights match what PyTorch printed.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON, requireTorch, torchrunArgs } from '../../tools/python';
import {
  appContinue,
  appEvaluate,
  CASES,
  maxAbsDiff,
  readParts,
  ROOT,
  useCpu,
  writeExport,
  type ContinueCase,
} from './test-helpers';

/** Updates PyTorch continues (a checkpoint after each). */
const K = 4;
/**
 * Weights after one update from the same checkpoint, app vs PyTorch: float32 in two libraries
 * (other summation orders); an update moves weights by up to ~lr (0.01 or 0.05), so a batch that
 * differed would show as ~1e-3.
 */
const ONE_STEP_TOL = 2e-5;
/** The mean loss of that update, computed by both. */
const LOSS_TOL = 1e-5;
/** Weights after K updates on one process vs two: the same math, partial sums in another order. */
const PROCESS_TOL = 2e-5;
/** The app's validation loss of PyTorch's weights vs PyTorch's own: float32 forward passes in two libraries. */
const VAL_TOL = 1e-4;

/** Runs continue_training.main once per job in one launch (torch is imported once); rank 0 writes what each printed. */
const DRIVER = `
import contextlib, io, json, os, sys
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
import torch.distributed as dist
import continue_training as ct
jobs = json.load(open(sys.argv[1]))
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    dist.init_process_group("gloo")  # once: every job of this launch shares the process group
rank = dist.get_rank() if dist.is_initialized() else 0
results = {}
for job in jobs:
    out, err = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ct.main(job["argv"])
        except SystemExit as e:
            status = str(e.code)
    results[job["label"]] = {"stdout": out.getvalue(), "stderr": err.getvalue(), "status": status}
if rank == 0:
    json.dump(results, open(sys.argv[2], "w"))
if dist.is_initialized():
    dist.destroy_process_group()
`;

interface JobResult {
  stdout: string;
  stderr: string;
  status: number | string;
}

function metricsOf(r: JobResult): Record<string, number> {
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('metrics '));
  expect(lines.length, r.stdout + r.stderr).toBeGreaterThan(0);
  return JSON.parse(lines[lines.length - 1].slice('metrics '.length)) as Record<string, number>;
}

function lossAt(r: JobResult, update: number): number {
  const m = r.stderr.match(new RegExp(`^update ${update} loss (\\S+)`, 'm'));
  expect(m, r.stderr).not.toBeNull();
  return Number(m![1]);
}

describe('continue_training.py continues every model, on one process or two', () => {
  let dir: string;
  const exported: Record<string, number> = {};
  let one: Record<string, JobResult>;
  let two: Record<string, JobResult>;

  const folderOf = (c: ContinueCase, out: string) => join(dir, out, c.run.run_id, c.run.stage_name, 'checkpoints');
  const exportOf = (c: ContinueCase) =>
    join(dir, 'exports', c.run.run_id, c.run.run_id, c.run.stage_name, 'checkpoints', `${c.run.model}_cp=latest`);

  /** The periodic checkpoint PyTorch wrote at `update` (`<folder>/<model>_cp=E.._U{update}_S..`). */
  function periodicAt(c: ContinueCase, out: string, update: number): string {
    const names = readdirSync(folderOf(c, out));
    const hit = names.find(
      (n) => n.startsWith(`${c.run.model}_cp=E`) && n.includes(`_U${update}_`) && n.endsWith('_model.th'),
    );
    expect(hit, `no checkpoint at update ${update} in ${names.join(' ')}`).toBeDefined();
    return join(folderOf(c, out), hit!.slice(0, -'_model.th'.length));
  }

  beforeAll(async () => {
    requireTorch();
    await useCpu();
    dir = mkdtempSync(join(tmpdir(), 'continue-'));
    mkdirSync(join(dir, 'data'), { recursive: true });
    const jobs = (out: string) =>
      CASES.map((c) => {
        const argv = [
          join(dir, 'exports', c.run.run_id),
          '--steps',
          String(K),
          '--out',
          join(dir, out),
          '--save_every',
          '1',
          '--keep_checkpoint',
          '-1',
        ];
        if (c.file) argv.push('--data', join(dir, 'data', c.file.name));
        return { label: c.label, argv };
      });
    for (const c of CASES) {
      exported[c.label] = (await writeExport(c, join(dir, 'exports', c.run.run_id))).update;
      if (c.file) writeFileSync(join(dir, 'data', c.file.name), c.file.text);
    }
    // What it must refuse, by name: text the vocabulary cannot encode, a text run without its file,
    // and a checkpoint whose pickle would run a command.
    const textMlp = CASES.find((c) => c.label === 'text/char-mlp')!;
    writeFileSync(join(dir, 'data', 'other.txt'), 'ßeta\nΩmega\n'.repeat(20)); // lower case: ß and ω are new
    const unsafe = join(dir, 'unsafe');
    mkdirSync(unsafe);
    for (const part of ['optim', 'trainer'])
      copyFileSync(
        join(ROOT, `test-data/import-good/char-mlp_cp=E0_U10_S320_${part}.th`),
        join(unsafe, `char-mlp_cp=E0_U10_S320_${part}.th`),
      );
    copyFileSync(
      join(ROOT, 'test-data/import-bad/pickle-os-system/char-mlp_cp=E0_U10_S320_model.th'),
      join(unsafe, 'char-mlp_cp=E0_U10_S320_model.th'),
    );
    const refusals = [
      {
        label: 'refuse/unknown-chars',
        argv: [
          join(dir, 'exports', textMlp.run.run_id),
          '--steps',
          '1',
          '--out',
          join(dir, 'refused'),
          '--data',
          join(dir, 'data', 'other.txt'),
        ],
      },
      {
        label: 'refuse/no-file',
        argv: [join(dir, 'exports', textMlp.run.run_id), '--steps', '1', '--out', join(dir, 'refused')],
      },
      {
        label: 'refuse/unsafe-pickle',
        argv: [unsafe, '--checkpoint', 'E0_U10_S320', '--steps', '1', '--out', join(dir, 'refused')],
      },
    ];
    writeFileSync(join(dir, 'driver.py'), DRIVER);
    writeFileSync(join(dir, 'jobs1.json'), JSON.stringify([...jobs('out1'), ...refusals]));
    writeFileSync(join(dir, 'jobs2.json'), JSON.stringify(jobs('out2')));
    const single = spawnSync(PYTHON, [join(dir, 'driver.py'), join(dir, 'jobs1.json'), join(dir, 'one.json')], {
      encoding: 'utf8',
    });
    expect(single.status, single.stderr).toBe(0);
    const multi = spawnSync(
      PYTHON,
      [...torchrunArgs(2, join(dir, 'logs')), join(dir, 'driver.py'), join(dir, 'jobs2.json'), join(dir, 'two.json')],
      {
        encoding: 'utf8',
      },
    );
    expect(multi.status, multi.stderr.slice(-3000)).toBe(0);
    one = JSON.parse(readFileSync(join(dir, 'one.json'), 'utf8')) as Record<string, JobResult>;
    two = JSON.parse(readFileSync(join(dir, 'two.json'), 'utf8')) as Record<string, JobResult>;
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses by name what it cannot continue, and writes nothing', () => {
    expect(one['refuse/unknown-chars'].status).toBe(
      `DatasetError: the new data has 2 characters outside the model's vocabulary ("ß", "ω"): choose unknown_chars=map_to_unk to map them to the unknown character`,
    );
    expect(one['refuse/no-file'].status).toMatch(
      /^DatasetError: the text task trains on your own file: pass it with --data FILE/,
    );
    const unsafe = one['refuse/unsafe-pickle'];
    expect(unsafe.status).toMatch(
      /^CheckpointError: .*_model\.th holds more than tensors and plain values; refused, nothing in it was run \(Unsupported class os\.system\)$/,
    );
    expect(unsafe.stdout + unsafe.stderr).not.toContain('pwned');
    expect(existsSync(join(dir, 'refused'))).toBe(false);
  });

  for (const c of CASES) {
    describe(c.label, () => {
      it('one update: the app and PyTorch take the same batch and agree on loss and weights', async () => {
        const r = one[c.label];
        expect(r.status, r.stderr).toBe(0);
        const start = exported[c.label];
        const app = await appContinue(c, exportOf(c), 1);
        const py = readParts(periodicAt(c, 'out1', start + 1));
        expect(py.trainer.counters.update).toBe(start + 1);
        const d = maxAbsDiff(app.weights, py.model.stateDict);
        const moved = maxAbsDiff(readParts(exportOf(c)).model.stateDict, app.weights);
        const loss = Math.abs(app.losses[0].loss - lossAt(r, start + 1));
        console.log(
          `${c.label}: one update, app vs PyTorch: max |Δweight| ${d.max.toExponential(2)} (${d.name}[${d.at}]), key biases ${d.keyBias.toExponential(2)}; ` +
            `|Δloss| ${loss.toExponential(2)}; the update moved weights by up to ${moved.max.toExponential(2)}`,
        );
        expect(moved.max).toBeGreaterThan(20 * ONE_STEP_TOL);
        expect(loss).toBeLessThan(LOSS_TOL);
        expect(d.max).toBeLessThan(ONE_STEP_TOL);
        expect(d.keyBias).toBeLessThan(c.run.lr * 1.01);
      });

      it(`${K} updates on one process and on two end with the same weights`, () => {
        expect(two[c.label].status, two[c.label].stderr).toBe(0);
        expect(two[c.label].stderr).toContain('on 2 processes (gloo)');
        const a = readParts(join(folderOf(c, 'out1'), `${c.run.model}_cp=latest`));
        const b = readParts(join(folderOf(c, 'out2'), `${c.run.model}_cp=latest`));
        expect(a.trainer.counters.update).toBe(exported[c.label] + K);
        // Rank 0 saved the module inside DistributedDataParallel: PyTorch's names without `module.`.
        expect([...b.model.stateDict.keys()]).toEqual([...a.model.stateDict.keys()]);
        expect(b.trainer.counters).toEqual(a.trainer.counters);
        expect(b.trainer.rng).toEqual(a.trainer.rng);
        expect(b.trainer.cursor).toEqual(a.trainer.cursor);
        const d = maxAbsDiff(a.model.stateDict, b.model.stateDict);
        console.log(
          `${c.label}: ${K} updates, 1 vs 2 processes: max |Δweight| ${d.max.toExponential(2)} (${d.name}[${d.at}]), key biases ${d.keyBias.toExponential(2)}`,
        );
        expect(d.max).toBeLessThan(PROCESS_TOL);
        expect(d.keyBias).toBeLessThan(K * c.run.lr * 1.01);
      });

      it("back in the app, its validation of PyTorch's weights matches what PyTorch printed", async () => {
        const py = metricsOf(one[c.label]);
        expect(py.update).toBe(exported[c.label] + K);
        const app = await appEvaluate(c, join(folderOf(c, 'out1'), `${c.run.model}_cp=latest`));
        console.log(`${c.label}: validation, app ${JSON.stringify(app)} vs PyTorch ${JSON.stringify(py)}`);
        expect(Object.keys(app).sort()).toEqual(
          Object.keys(py)
            .filter((k) => k !== 'update')
            .sort(),
        );
        expect(Math.abs(app['val/loss'] - py['val/loss'])).toBeLessThan(VAL_TOL);
        for (const k of Object.keys(app)) if (k !== 'val/loss') expect(Math.abs(app[k] - py[k]), k).toBeLessThan(0.01);
      });
    });
  }
});
