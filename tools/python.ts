/** Runs Debian's Python with PyTorch for interop tests; fails loudly, saying how to install it. */
import { spawnSync } from 'node:child_process';

export const PYTHON = process.env.TORCH_PYTHON || '/usr/bin/python3';

export function requireTorch(): void {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import torch (${(r.stderr || String(r.error)).trim().split('\n').pop()}). ` +
        'The PyTorch interop tests need it: apt-get install -y python3-torch',
    );
  }
}

/** Runs a Python script with arguments; returns its stdout parsed as JSON. */
export function runPythonJson<T = unknown>(script: string, args: string[], cwd?: string): T {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * torchrun (`python3 -m torch.distributed.run`) with N processes on this machine. Debian 12's
 * PyTorch 1.13 under Python 3.11 cannot parse torchrun's default `--redirects 0 --tee 0` (an
 * IntFlag lookup finds no member for 0 and it fails in `to_map`), so both are given: each worker's
 * output goes to the console and to a log file under `logDir`.
 */
export function torchrunArgs(nproc: number, logDir: string): string[] {
  return [
    '-m',
    'torch.distributed.run',
    '--nproc_per_node',
    String(nproc),
    '--redirects',
    '1',
    '--tee',
    '1',
    '--log_dir',
    logDir,
  ];
}
