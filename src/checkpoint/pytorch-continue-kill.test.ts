// A continue_training.py job on two processes (torchrun, gloo) that is stopped and killed, then
// started again with the same command:
// 1. SIGTERM to torchrun: the workers finish the update, rank 0 writes a checkpoint, all exit;
// 2. the same command, rank 0 SIGKILLed in the middle of a save (between the renames of `latest`'s
//    parts): every file left is whole, and no tag holds parts of two saves;
// 3. the same command again: it removes what the killed save left, continues from the newest
//    complete checkpoint, and ends where an uninterrupted one-process run ends.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON, requireTorch, torchrunArgs } from '../../tools/python';
import { formatTag, parseCheckpointFileName } from './naming';
import { CASES, maxAbsDiff, readPart, readParts, ROOT, useCpu, writeExport } from './test-helpers';

const CASE = CASES.find((c) => c.label === 'names/char-mlp')!;
/** Updates past the export: enough that a SIGTERM lands mid-run. */
const STEPS = 400;
const SAVE_EVERY = 50;
const KEEP = 2;
/** Rank 0's renames per save: model, optim, trainer of the periodic tag, then of `latest`. The 11th is the
 * second save's `latest` optim part: `latest`'s model is new, its old trainer part removed, its optim old. */
const KILL_AT_RENAME = 11;
/** Weights after the same updates on two processes (stopped, killed, rerun) and on one. */
const PROCESS_TOL = 2e-5;

/** Runs continue_training.main; with KILL_AT_RENAME set, rank 0 SIGKILLs itself at that os.replace. */
const WRAPPER = `
import os, signal, sys
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python'))})
import continue_training as ct
kill_at = int(os.environ.get("KILL_AT_RENAME", "0"))
if kill_at and os.environ.get("RANK", "0") == "0":
    renames, replace = [0], os.replace
    def dying_replace(src, dst):
        renames[0] += 1
        if renames[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(src, dst)
    ct.os.replace = dying_replace
ct.main(sys.argv[1:])
`;

describe('a two-process job stopped, killed mid-save and rerun with the same command', () => {
  let dir: string;
  let out: string;
  let folder: string;
  let exportedAt: number;
  let args: string[];

  const torchrun = (logs: string) => [...torchrunArgs(2, join(dir, logs)), join(dir, 'wrapper.py'), ...args];
  const files = () => readdirSync(folder).sort();
  const updateOf = (prefix: string) => readParts(join(folder, prefix)).trainer.counters.update;

  beforeAll(async () => {
    requireTorch();
    await useCpu();
    dir = mkdtempSync(join(tmpdir(), 'continue-kill-'));
    out = join(dir, 'out');
    folder = join(out, CASE.run.run_id, CASE.run.stage_name, 'checkpoints');
    exportedAt = (await writeExport(CASE, join(dir, 'export'))).update;
    writeFileSync(join(dir, 'wrapper.py'), WRAPPER);
    args = [
      join(dir, 'export'),
      '--steps',
      String(STEPS),
      '--out',
      out,
      '--save_every',
      String(SAVE_EVERY),
      '--keep_checkpoint',
      String(KEEP),
    ];
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('SIGTERM: the workers finish the update and rank 0 writes a checkpoint there', async () => {
    const job = spawn(PYTHON, torchrun('logs1'), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let signalled = false;
    job.stdout.resume();
    job.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const seen = [...stderr.matchAll(/^update (\d+) /gm)].map((m) => Number(m[1]));
      if (!signalled && seen.some((u) => u >= exportedAt + 3)) {
        signalled = true;
        job.kill('SIGTERM');
      }
    });
    await new Promise<void>((resolve) => job.on('close', () => resolve()));
    expect(signalled, stderr).toBe(true);
    expect(stderr).toContain('stopping on a signal: writing a checkpoint');
    const stopped = updateOf(`${CASE.run.model}_cp=latest`);
    expect(stopped).toBeGreaterThan(exportedAt);
    expect(stopped).toBeLessThan(exportedAt + STEPS);
    // Both ranks stopped after the same update: rank 0 logged exactly that many.
    expect([...stderr.matchAll(/^update (\d+) /gm)].map((m) => Number(m[1])).pop()).toBe(stopped);
    expect(files().filter((f) => f.includes(`_U${stopped}_`))).toHaveLength(3);
  }, 180_000);

  it('SIGKILL in the middle of a save leaves only whole files, never two saves under one tag', () => {
    const job = spawnSync(PYTHON, torchrun('logs2'), {
      encoding: 'utf8',
      env: { ...process.env, KILL_AT_RENAME: String(KILL_AT_RENAME) },
    });
    expect(job.status, job.stderr.slice(-2000)).not.toBe(0);
    const names = files();
    const visible = names.filter((f) => !f.startsWith('.'));
    const byTag = new Map<string, Map<string, number | undefined>>();
    for (const f of visible) {
      // Every file decodes (PyTorch's format, its CRCs, the app's contents): none is torn.
      const { part, update } = readPart(join(folder, f));
      const tag = formatTag(parseCheckpointFileName(f).tag);
      byTag.set(tag, (byTag.get(tag) ?? new Map<string, number | undefined>()).set(part, update));
    }
    // `latest` was being replaced: its old trainer part is gone and its new model part is in, so it is
    // no checkpoint (a rerun removes it); the periodic checkpoint of that save is complete.
    expect([...byTag.get('latest')!.keys()].sort()).toEqual(['model', 'optim']);
    const complete = [...byTag].filter(([, parts]) => parts.has('trainer'));
    expect(complete.length).toBeGreaterThan(0);
    for (const [tag, parts] of complete) {
      expect([...parts.keys()].sort(), tag).toEqual(['model', 'optim', 'trainer']);
      expect(parts.get('model'), tag).toBe(parts.get('trainer'));
    }
    // The staged parts it had not renamed yet are hidden files (the app's import skips them).
    expect(names.some((f) => f.startsWith('.') && f.includes('.tmp-'))).toBe(true);
  }, 180_000);

  it('the same command again continues from the newest complete checkpoint and ends as an uninterrupted run', () => {
    const periodic = files()
      .filter((f) => /_cp=E\d+_U\d+_S\d+_trainer\.th$/.test(f))
      .map((f) => Number(f.match(/_U(\d+)_/)![1]));
    const newest = Math.max(...periodic);
    const job = spawnSync(PYTHON, torchrun('logs3'), { encoding: 'utf8' });
    expect(job.status, job.stderr.slice(-2000)).toBe(0);
    expect(job.stderr).toContain('removed what a killed save left');
    expect(job.stderr).toMatch(
      new RegExp(`from \\S+_U${newest}_S\\d+_model\\.th at update ${newest} on 2 processes \\(gloo\\)`),
    );
    const end = exportedAt + STEPS;
    expect(updateOf(`${CASE.run.model}_cp=latest`)).toBe(end);
    // Only complete checkpoints remain, the newest KEEP periodic ones and `latest`.
    const names = files();
    expect(names.filter((f) => f.startsWith('.'))).toEqual([]);
    const tags = [...new Set(names.map((f) => f.slice(f.indexOf('_cp=') + 4, f.lastIndexOf('_'))))];
    expect(tags.filter((t) => t !== 'latest')).toHaveLength(KEEP);
    for (const t of tags)
      expect(
        names.filter((f) => f.includes(`_cp=${t}_`)),
        t,
      ).toHaveLength(3);

    const reference = join(dir, 'reference');
    const one = spawnSync(
      PYTHON,
      [
        join(ROOT, 'python/continue_training.py'),
        join(dir, 'export'),
        '--steps',
        String(STEPS),
        '--out',
        reference,
        '--save_every',
        '0',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(one.status, one.stderr.slice(-2000)).toBe(0);
    const a = readParts(join(folder, `${CASE.run.model}_cp=latest`));
    const b = readParts(
      join(reference, CASE.run.run_id, CASE.run.stage_name, 'checkpoints', `${CASE.run.model}_cp=latest`),
    );
    expect(a.trainer.counters).toEqual(b.trainer.counters);
    expect(a.trainer.rng).toEqual(b.trainer.rng);
    expect(a.trainer.cursor).toEqual(b.trainer.cursor);
    const d = maxAbsDiff(a.model.stateDict, b.model.stateDict);
    console.log(
      `stopped, killed and rerun on 2 processes vs uninterrupted on 1, after ${STEPS} updates: max |Δweight| ${d.max.toExponential(2)}`,
    );
    expect(d.max).toBeLessThan(PROCESS_TOL);
  }, 180_000);
});
