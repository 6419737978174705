// `npm run bench -- --smoke` in CI: the whole benchmark at its small size, once, against this
// spec's own test server. It checks that every figure was measured, not what it is.
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';

test('the bench smoke measures every figure and leaves nothing behind', async ({ baseURL }) => {
  test.setTimeout(170_000);
  const r = spawnSync(process.execPath, ['bench/run.mjs', '--smoke', '--url', baseURL!], {
    encoding: 'utf8',
    timeout: 160_000,
    maxBuffer: 16 << 20,
  });
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  const results = JSON.parse(r.stdout) as {
    mode: string;
    missing: string[];
    leftovers: string[];
    wasmThreads: number | null;
    checkpoints: { size: string; bytesPerCheckpoint: number; params: number; vsTfjs: { saveRatio: number } }[];
    trainingLoop: { backend: string }[];
  };
  expect(results.mode).toBe('smoke');
  expect(results.missing).toEqual([]);
  expect(results.leftovers).toEqual([]);
  expect(results.checkpoints.map((c) => c.size)).toEqual(['40K']);
  // It did save the state: weights and Adam's two moments, float32.
  expect(results.checkpoints[0].bytesPerCheckpoint).toBeGreaterThan(3 * 4 * results.checkpoints[0].params);
  expect(results.trainingLoop.map((l) => l.backend)).toEqual(['wasm']);
  // The table goes to stderr beside the JSON.
  expect(r.stderr).toContain('resume to first step; beyond a step / raw ms');
});
