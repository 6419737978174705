// python/continue_training.py keeps the run's history: the app exports a checkpoint with its
// metrics log (which, as after a crash, also holds points past the checkpoint, and a torn line);
// PyTorch continues K updates. Its log then holds the export's entries up to the checkpoint, a
// resume line that counts what was dropped, one train entry per update and a validation, all
// marked `pytorch`, and importing its output brings that log back into the app beside the
// checkpoints. A rerun of the same command cuts the log back to the checkpoint it continues from.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON, requireTorch } from '../../tools/python';
import { modelShapes } from '../worker/model-shapes';
import { planImport, type ImportSource } from './import';
import { formatLog, parseLog, type LogEntry, type ValEntry } from './run-log';
import { CASES, ROOT, useCpu, writeExport } from './test-helpers';

const K = 3;
const CASE = CASES.find((c) => c.label === 'names/char-mlp')!;

function runPython(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, [join(ROOT, 'python/continue_training.py'), ...argv], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe('continue_training.py appends to the run history', () => {
  let dir: string;
  let update: number;
  let logPath: string;
  const exportDir = () => join(dir, 'export');
  const argv = () => [exportDir(), '--steps', String(K), '--out', join(dir, 'out'), '--save_every', '1'];

  beforeAll(async () => {
    requireTorch();
    await useCpu();
    dir = mkdtempSync(join(tmpdir(), 'history-'));
    update = (await writeExport(CASE, exportDir())).update;
    const t = 1_700_000_000_000;
    const exported: LogEntry[] = [];
    for (let u = 1; u <= update + 2; u++)
      exported.push({ kind: 'train', update: u, epoch: u / 100, loss: 3 - u / 10, time: t + u, backend: 'cpu' });
    exported.push({ kind: 'val', update, epoch: update / 100, metrics: { 'val/loss': 2.5 }, time: t, backend: 'cpu' });
    const stage = join(exportDir(), CASE.run.run_id, CASE.run.stage_name);
    // Two points past the checkpoint (logged before a crash), then a line torn mid-append.
    writeFileSync(join(stage, 'metrics.jsonl'), formatLog(exported) + '{"kind":"train","upda');
    logPath = join(dir, 'out', CASE.run.run_id, CASE.run.stage_name, 'metrics.jsonl');
    const r = runPython(argv());
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the export log up to the checkpoint, marks the resume, and adds a pytorch point per update', () => {
    const log = parseLog(readFileSync(logPath, 'utf8'));
    expect(log.skipped).toBe(0);
    const before = log.entries.filter((e) => e.backend === 'cpu');
    expect(before.filter((e) => e.kind === 'train').map((e) => e.update)).toEqual(
      Array.from({ length: update }, (_, i) => i + 1),
    );
    const resume = log.entries.find((e) => e.kind === 'resume');
    expect(resume).toMatchObject({ kind: 'resume', update, dropped: 2, backend: 'pytorch' });
    const train = log.entries.filter((e) => e.kind === 'train' && e.backend === 'pytorch');
    expect(train.map((e) => e.update)).toEqual(Array.from({ length: K }, (_, i) => update + 1 + i));
    for (const e of train) if (e.kind === 'train') expect(Number.isFinite(e.loss) && e.loss > 0).toBe(true);
    const val = log.entries.filter((e): e is ValEntry => e.kind === 'val' && e.backend === 'pytorch');
    expect(val.length).toBeGreaterThan(0);
    expect(val.at(-1)!.update).toBe(update + K);
    expect(Object.keys(val.at(-1)!.metrics)).toContain('val/loss');
  });

  it('importing its output brings the log back beside the checkpoints', async () => {
    const out = join(dir, 'out');
    const sources: ImportSource[] = walk(out)
      .filter((p) => p.endsWith('.th') || p.endsWith('.jsonl'))
      .map((p) => ({ path: `out/${relative(out, p)}`, bytes: new Uint8Array(readFileSync(p)) }));
    const plan = await planImport(sources, { shapesFor: async (c) => modelShapes(c) });
    expect(plan.refused).toEqual([]);
    expect(plan.logs).toHaveLength(1);
    expect(plan.logs[0]).toMatchObject({ runId: CASE.run.run_id, stageName: CASE.run.stage_name, skippedLines: 0 });
    expect(plan.logs[0].entries.filter((e) => e.backend === 'pytorch' && e.kind === 'train')).toHaveLength(K);
  });

  it('a rerun cuts the log back to the checkpoint it continues from', () => {
    // Points a killed job logged past its last checkpoint:
    const extra: LogEntry = { kind: 'train', update: update + K + 5, epoch: 1, loss: 1, time: 1, backend: 'pytorch' };
    writeFileSync(logPath, readFileSync(logPath, 'utf8') + formatLog([extra]));
    const r = runPython(argv());
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const log = parseLog(readFileSync(logPath, 'utf8'));
    expect(log.entries.some((e) => e.update > update + K)).toBe(false);
    expect(log.entries.filter((e) => e.kind === 'resume').at(-1)).toMatchObject({ update: update + K, dropped: 1 });
    expect(log.entries.filter((e) => e.kind === 'train' && e.backend === 'pytorch')).toHaveLength(K);
  });
});
