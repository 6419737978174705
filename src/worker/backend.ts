/**
 * Which tfjs backend trains. WebGPU first, then WebGL, WASM and CPU; every backend not used gets a
 * reason the page shows. A software WebGPU adapter (SwiftShader) is many times slower than WebGL or
 * WASM, so in automatic mode every usable backend is timed on the real model and the fastest wins.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { BACKENDS, type BackendChoice, type BackendName, type RunConfig } from '../shared/config';
import type { BackendReport } from '../shared/progress';
import { TrainerError } from '../shared/errors';
import type { Task } from '../tasks/types';
import { TrainingSession } from './session';

// The wasm binaries are bundled as assets (and precached), never fetched from a CDN.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

/** Most threads the WASM backend's pool gets: past this, a small model's kernels gain little and the page's own threads lose cores. */
const MAX_WASM_THREADS = 8;
// Threads need SharedArrayBuffer, which a browser grants only to a cross-origin isolated page
// (the server's COOP/COEP headers); without it tfjs loads its single-threaded SIMD build.
setThreadsCount(Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_WASM_THREADS)));

/**
 * How many threads the started WASM backend uses, and why not more. tfjs loads its threaded build
 * only where SharedArrayBuffer exists, and its pool takes at most half the logical cores.
 */
export async function wasmThreads(): Promise<BackendReport['wasmThreads']> {
  let threads: number;
  try {
    threads = getThreadsCount();
  } catch {
    return undefined; // not started
  }
  const threadedBuild = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
  const cores = navigator.hardwareConcurrency || 1;
  const why = !self.crossOriginIsolated
    ? 'the page is not cross-origin isolated (its server sends no COOP/COEP headers), so no SharedArrayBuffer'
    : !threadedBuild
      ? 'this browser cannot run threaded WebAssembly'
      : threads < Math.min(cores, MAX_WASM_THREADS)
        ? `tfjs uses at most half of the ${cores} logical cores`
        : '';
  return { threads, threadedBuild, why };
}

interface Availability {
  ok: boolean;
  reason: string;
  fallbackAdapter?: boolean;
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean; description?: string; vendor?: string };
}

async function probeWebGpu(): Promise<Availability> {
  // WebGPU is not in TS's WebWorker lib; only the call made here is declared.
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu is missing in workers)' };
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { ok: false, reason: `requestAdapter() failed: ${(e as Error).message}` };
  }
  if (!adapter)
    return { ok: false, reason: 'no WebGPU adapter: requestAdapter() returned null (GPU blocked or disabled)' };
  const fallbackAdapter = !!(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
  return { ok: true, reason: '', fallbackAdapter };
}

/** Makes `name` tfjs's active backend, initialising it if needed; says why not if it cannot. */
export async function activate(name: BackendName): Promise<Availability> {
  let extra: Availability = { ok: true, reason: '' };
  if (name === 'webgpu') {
    extra = await probeWebGpu();
    if (!extra.ok) return extra;
  }
  if (name === 'webgl' && typeof OffscreenCanvas === 'undefined') {
    return { ok: false, reason: 'no OffscreenCanvas in this worker, so no WebGL' };
  }
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return { ok: false, reason: `tfjs could not initialise the ${name} backend` };
    await tf.ready();
    return extra;
  } catch (e) {
    return { ok: false, reason: `${name} failed to start: ${(e as Error).message}` };
  }
}

/**
 * Picks the backend. `timeStep` runs a few real training steps on the active backend and returns
 * milliseconds per step; it is only called in automatic mode when more than one backend is usable.
 */
export interface ChooseOptions {
  /** A cancel: checked before every probe and trial; an abort ends the choice at once with its reason. */
  signal?: AbortSignal;
  /** Told before each timed trial: which backend, the i-th (1-based) of n. */
  onTrial?: (backend: BackendName, index: number, count: number) => void;
  /** Timings measured earlier on this device for this model shape: reused when their backend still starts. */
  cached?: {
    backend: BackendName;
    at: number;
    timings: Partial<Record<BackendName, number>>;
    reasons: Partial<Record<BackendName, string>>;
  } | null;
}

export async function chooseBackend(
  choice: BackendChoice,
  timeStep: (backend: BackendName) => Promise<number>,
  opts: ChooseOptions = {},
): Promise<BackendReport> {
  const { signal, onTrial, cached } = opts;
  const reasons: Partial<Record<BackendName, string>> = {};
  const timings: Partial<Record<BackendName, number>> = {};
  let webgpuFallbackAdapter: boolean | undefined;

  if (choice !== 'auto') {
    // The user's choice first; if it cannot run, the next in the usual order, saying why.
    const order = [choice, ...BACKENDS.filter((b) => b !== choice)];
    for (const b of order) {
      const a = await activate(b);
      if (b === 'webgpu') webgpuFallbackAdapter = a.fallbackAdapter;
      if (a.ok) {
        reasons[b] = '';
        return { backend: b, reasons, timings, webgpuFallbackAdapter, wasmThreads: await wasmThreads() };
      }
      reasons[b] = a.reason;
    }
    throw new TrainerError('BackendUnavailableError', describeFailures(reasons));
  }

  if (cached) {
    // Timed before on this device and shape: the same choice, without the trials.
    signal?.throwIfAborted();
    const a = await activate(cached.backend);
    if (a.ok) {
      if (cached.backend === 'webgpu') webgpuFallbackAdapter = a.fallbackAdapter;
      return {
        backend: cached.backend,
        reasons: { ...cached.reasons, [cached.backend]: '' },
        timings: { ...cached.timings },
        webgpuFallbackAdapter,
        wasmThreads: await wasmThreads(),
        cachedAt: cached.at,
      };
    }
  }

  const usable: BackendName[] = [];
  for (const b of BACKENDS) {
    signal?.throwIfAborted();
    if (b === 'cpu' && usable.length > 0) {
      reasons.cpu = `not tried: a faster backend is usable (${usable.join(', ')}); tfjs's plain-JavaScript CPU backend is the slowest`;
      continue;
    }
    const a = await activate(b);
    if (b === 'webgpu') webgpuFallbackAdapter = a.fallbackAdapter;
    if (!a.ok) {
      reasons[b] = a.reason;
      continue;
    }
    usable.push(b);
  }
  if (usable.length === 0) throw new TrainerError('BackendUnavailableError', describeFailures(reasons));
  if (usable.length === 1) {
    reasons[usable[0]] = '';
    await activate(usable[0]);
    return { backend: usable[0], reasons, timings, webgpuFallbackAdapter, wasmThreads: await wasmThreads() };
  }
  for (const [i, b] of usable.entries()) {
    signal?.throwIfAborted();
    onTrial?.(b, i + 1, usable.length);
    await activate(b);
    try {
      timings[b] = await timeStep(b);
    } catch (e) {
      // A cancel is not a failed trial: it ends the choice.
      signal?.throwIfAborted();
      reasons[b] = `failed a trial step: ${(e as Error).message}`;
    }
  }
  const timed = usable.filter((b) => timings[b] !== undefined);
  if (timed.length === 0) throw new TrainerError('BackendUnavailableError', describeFailures(reasons));
  const best = timed.reduce((a, b) => (timings[b]! < timings[a]! ? b : a));
  for (const b of timed) {
    if (b === best) reasons[b] = '';
    else {
      const soft = b === 'webgpu' && webgpuFallbackAdapter ? ' (a software WebGPU adapter, no GPU)' : '';
      reasons[b] =
        `slower here${soft}: ${timings[b]!.toFixed(1)} ms a step against ${timings[best]!.toFixed(1)} ms on ${best}`;
    }
  }
  await activate(best);
  return { backend: best, reasons, timings, webgpuFallbackAdapter, wasmThreads: await wasmThreads() };
}

/** Milliseconds per step of the real model on the active backend: 2 warm-up steps, then 3 timed. */
export async function timeTrialSteps(
  run: RunConfig,
  task: Task,
  backend: BackendName,
  signal?: AbortSignal,
): Promise<number> {
  signal?.throwIfAborted();
  const trial = new TrainingSession(run, task, `trial-${backend}/`);
  try {
    const idx = new Int32Array(Math.min(run.batch_size, task.trainSize)).map((_, i) => i);
    const step = async () => {
      // A cancel between steps: the trial's variables are disposed below, nothing leaks.
      signal?.throwIfAborted();
      const l = trial.trainStep(idx, run.lr, 0);
      await l.data();
      l.dispose();
    };
    await step();
    await step();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await step();
    return (performance.now() - t0) / 3;
  } finally {
    trial.dispose();
  }
}

function describeFailures(reasons: Partial<Record<BackendName, string>>): string {
  return `No tfjs backend could start: ${Object.entries(reasons)
    .map(([b, r]) => `${b}: ${r}`)
    .join('; ')}`;
}
