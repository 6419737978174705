// npm run bench: runs the benchmarks in headless Chromium against the built app; prints one JSON
// document on stdout and a table on stderr.
//   --smoke               small sizes, one repeat, few steps; fails unless every figure was measured
//   --compare prev.json   also prints this run's figures over an earlier run's
//   --url http://host:port  use an app server already serving a test build (no build, no server)
//   BENCH_GPU=1           a real GPU: no SwiftShader flags; WebGPU, WebGL and WASM for every model
import { chromium } from 'playwright';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HEAP_SOURCE, peakOver, sampleWorkerHeap } from './heap.mjs';
import { compareRuns, missingFigures, table } from './report.mjs';

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const smoke = flag('--smoke');
const comparePath = option('--compare');
const givenUrl = option('--url');
const gpu = !!process.env.BENCH_GPU;

const executablePath = [process.env.CHROME_PATH, '/usr/bin/chromium'].find((p) => p && existsSync(p));
if (!executablePath) {
  console.error('No Chromium found: apt-get install -y chromium, or set CHROME_PATH.');
  process.exit(1);
}
const args = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// On a machine with a real GPU, BENCH_GPU=1 drops the SwiftShader flags so Chromium uses it.
// `gc()` exposed: the memory figures collect garbage left by earlier work before their windows.
const launchArgs = [
  ...(gpu ? ['--enable-unsafe-webgpu', '--no-sandbox', '--enable-features=Vulkan'] : args),
  '--js-flags=--expose-gc',
];
/** A port no one listens on now (the OS picks it), so a Playwright server or another bench never clashes. */
async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
const port = givenUrl ? 0 : Number(process.env.BENCH_PORT) || (await freePort());
const baseUrl = givenUrl ?? `http://127.0.0.1:${port}`;
let stopServer = () => {};
/** Why our own server ended, if it did: its exit and the tail of its stderr. */
let serverExit = null;
let serverErr = '';
if (!givenUrl) {
  // The benchmarks live in a test build (VITE_TEST_HOOKS=1), served the one way the app is served.
  // Build output goes to stderr so that stdout stays one JSON document.
  execFileSync('npx', ['vite', 'build'], { stdio: ['ignore', 2, 2], env: { ...process.env, VITE_TEST_HOOKS: '1' } });
  const server = spawn(process.execPath, ['scripts/serve.mjs'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  server.stderr.on('data', (d) => (serverErr = (serverErr + d).slice(-2000)));
  server.on('exit', (code, signal) => (serverExit = signal ?? `code ${code}`));
  stopServer = () => {
    try {
      process.kill(-server.pid);
    } catch {
      // already gone
    }
  };
  process.on('exit', stopServer);
}

/** Waits for the app server: generously (a loaded machine starts it slowly), each request bounded too. */
async function waitForServer(limitMs = Number(process.env.BENCH_SERVER_WAIT_MS) || 120_000) {
  const until = Date.now() + limitMs;
  let last = 'no answer yet';
  while (Date.now() < until) {
    if (serverExit !== null) {
      throw new Error(
        `the app server on port ${port} exited (${serverExit}) before answering: ${serverErr.trim() || 'no message'}`,
      );
    }
    try {
      const r = await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(10_000) });
      if (r.ok) return;
      last = `HTTP ${r.status} ${r.statusText}`;
    } catch (e) {
      last = e?.cause?.code ?? e?.name ?? String(e);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the app server at ${baseUrl} did not answer within ${Math.round(limitMs / 1000)} s (last: ${last})`);
}

// On a real GPU every backend is compared; SwiftShader's WebGL adds nothing here.
const backends = (process.env.BENCH_BACKENDS || (gpu ? 'webgpu,webgl,wasm' : smoke ? 'wasm' : 'webgpu,wasm')).split(
  ',',
);
const steps = Number(process.env.BENCH_STEPS) || (smoke ? 3 : 30);
try {
  await waitForServer();
  // A persistent profile in a fresh folder, as a user's browser has: OPFS and IndexedDB on disk.
  // (A plain launch's contexts are off-the-record, where Chromium keeps both in memory and every
  // sync-handle write is a round trip to the browser process: not what a user meets.)
  const profileDir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
  process.on('exit', () => rmSync(profileDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profileDir, { executablePath, args: launchArgs });
  const browser = context.browser();
  const page = context.pages()[0] ?? (await context.newPage());
  // The checkpoint bench's progress lines, from the trainer worker's console.
  page.on('worker', (w) => w.on?.('console', (m) => m.text().startsWith('bench ') && console.error(m.text())));
  await page.goto(`${baseUrl}/`);
  const sections = (process.env.BENCH_SECTIONS || (smoke ? 'loop,checkpoints' : 'loop,models,checkpoints')).split(',');
  const results = {
    startedAt: new Date().toISOString(),
    mode: smoke ? 'smoke' : 'full',
    profile: 'persistent, on disk (a fresh user-data folder)',
    gpu,
    wasmThreads: null,
    trainingLoop: [],
  };
  // One failing measurement is reported in the JSON, not allowed to lose the others.
  const attempt = async (what, fn) => {
    try {
      return await fn();
    } catch (e) {
      console.error(`${what} failed: ${e.message}`);
      return { error: `${what}: ${e.message.split('\n')[0]}` };
    }
  };
  for (const backend of sections.includes('loop') ? backends : []) {
    const r = await attempt(`loop on ${backend}`, () =>
      page.evaluate(([backend, steps]) => window.trainerDebug.benchmark({ backend }, steps), [backend, steps]),
    );
    results.trainingLoop.push(r.error ? r : { ...r, target: 'ratio >= 0.95', meetsTarget: r.ratio >= 0.95 });
  }
  // Each model at its default size (the form's defaults; the GPT with a 16-character context,
  // since the char-MLP's 3 would not be a transformer's use) on each backend: samples/s of the
  // bare loop and the app's loop, and their ratio. Few steps: SwiftShader and tfjs's CPU are slow.
  const modelBackends = (process.env.BENCH_MODEL_BACKENDS || (gpu ? 'webgpu,webgl,wasm' : 'webgpu,cpu')).split(',');
  // A transformer step at the default size takes 5 s (gpt) to 15 s (seq2seq) on SwiftShader
  // (hundreds of tiny kernel dispatches), and benchmarkLoops runs 5 warm-up steps plus 6 × steps:
  // one step per round there, ten elsewhere.
  const stepsFor = (model, backend) =>
    Number(process.env.BENCH_MODEL_STEPS) ||
    (backend === 'webgpu' && (model === 'gpt' || model === 'seq2seq') ? 1 : 10);
  const only = process.env.BENCH_MODELS?.split(',');
  const models = [
    { task: 'names', model: 'char-mlp' },
    // Batches of 16 for the transformers (on both backends, so they compare): at 64 a
    // SwiftShader step takes 6 s (gpt) to 18 s (seq2seq) and the bench would run for ten minutes.
    { task: 'names', model: 'gpt', context: 16, batch_size: 16 },
    { task: 'g2p', model: 'seq2seq', batch_size: 16 },
    { task: 'spam', model: 'text-mlp' },
  ];
  if (sections.includes('models')) results.models = [];
  for (const overrides of sections.includes('models') ? models : []) {
    if (only && !only.includes(overrides.model)) continue;
    for (const backend of modelBackends) {
      const t0 = Date.now();
      const r = await page.evaluate(
        ([overrides, steps]) => window.trainerDebug.benchmark(overrides, steps),
        [{ ...overrides, backend }, stepsFor(overrides.model, backend)],
      );
      results.models.push({
        task: overrides.task,
        ...r,
        ratio: Number(r.ratio.toFixed(3)),
        seconds: (Date.now() - t0) / 1000,
      });
      console.error(
        `${overrides.model} on ${r.backend}: app ${r.appSamplesPerSecond.toFixed(0)} samples/s, bare ${r.bareSamplesPerSecond.toFixed(0)}, ratio ${r.ratio.toFixed(3)}`,
      );
    }
  }
  // Checkpoints (issue 4) and resume (issue 5) at about 1M and 20M parameters with Adam.
  const cpBackend = process.env.BENCH_CHECKPOINT_BACKEND || 'wasm';
  results.checkpoints = [];
  for (const size of sections.includes('checkpoints')
    ? (process.env.BENCH_CHECKPOINT_SIZES || (smoke ? '40K' : '1M,20M')).split(',')
    : []) {
    const heap = await attempt('worker heap sampling', () => sampleWorkerHeap(browser));
    const r = await attempt(`checkpoint ${size}`, () =>
      page.evaluate(([size, backend]) => window.trainerDebug.benchmarkCheckpoint(size, backend), [size, cpBackend]),
    );
    const stopped = heap.error ? heap : await attempt('worker heap sampling', () => heap.stop());
    const samples = stopped.error ? [] : stopped;
    if (!r.error) {
      // The JS heap + ArrayBuffers of the worker, at its peak in each window, over the state's bytes:
      // about 1 means the operation held one CPU copy of the state at a time.
      const peak = (w) => {
        const p = peakOver(samples, w);
        return p && { ...p, copiesOfState: Number((p.peakOverBaselineBytes / r.memory.stateBytes).toFixed(2)) };
      };
      r.memory.heapSource = stopped.error ? stopped.error : HEAP_SOURCE;
      r.memory.save.heap = peak(r.memory.save.window);
      r.memory.resume.heap = peak(r.memory.resume.window);
    }
    if (r.error) {
      results.checkpoints.push({ size, ...r });
      continue;
    }
    results.checkpoints.push({
      size,
      ...r,
      targets: {
        'opfs and idb within 1.25 of raw': r.opfs.ratio <= 1.25 && r.idb.ratio <= 1.25,
        'loop held no more than device read + one step': r.loopHeld.ratio <= 1,
        'resume (beyond a steady step) within 2x of raw read + upload': r.resume.ratio <= 2,
        'save and resume at least 3x faster than tfjs': r.vsTfjs.saveRatio <= 1 / 3 && r.vsTfjs.loadRatio <= 1 / 3,
        // The same, with the first step (the same training work in both) left out of the resume.
        'save and load (no step) at least 3x faster than tfjs':
          r.vsTfjs.saveRatio <= 1 / 3 && r.vsTfjs.loadOnlyRatio <= 1 / 3,
      },
    });
    results.wasmThreads ??= r.wasmThreads ?? null;
    console.error(`checkpoint ${size}: ${JSON.stringify(r)}`);
  }
  // Whatever a benchmark writes, it removes: a `bench*` folder, run or database left behind is a bug.
  results.leftovers = await page.evaluate(async () => {
    const names = async (dir) => {
      const out = [];
      for await (const name of dir.keys()) out.push(name);
      return out;
    };
    const root = await navigator.storage.getDirectory();
    const top = await names(root);
    const runs = top.includes('runs') ? await names(await root.getDirectoryHandle('runs')) : [];
    return [
      ...top.filter((n) => n.startsWith('bench')).map((n) => `OPFS ${n}`),
      ...runs.filter((n) => n.startsWith('bench')).map((n) => `OPFS runs/${n}`),
      ...(await indexedDB.databases())
        .map((d) => d.name)
        .filter((n) => n?.startsWith('bench'))
        .map((n) => `IndexedDB ${n}`),
    ];
  });
  if (results.leftovers.length > 0) {
    console.error(`benchmarks left data behind: ${results.leftovers.join(', ')}`);
    process.exitCode = 1;
  }
  if (comparePath)
    results.comparedWith = {
      file: comparePath,
      ratios: compareRuns(results, JSON.parse(readFileSync(comparePath, 'utf8'))),
    };
  if (smoke) {
    results.missing = missingFigures(results);
    if (results.missing.length > 0) {
      console.error(`smoke: not measured: ${results.missing.join(', ')}`);
      process.exitCode = 1;
    }
  }
  console.log(JSON.stringify(results, null, 2));
  console.error(table(results));
  await context.close();
} finally {
  stopServer();
}
