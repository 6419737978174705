/**
 * `window.trainerDebug`, in a test build only (`VITE_TEST_HOOKS=1`, which Playwright's web server
 * and `npm run bench` set): fault injection for the e2e specs and the benchmarks. A production
 * build never includes this module.
 */
import type { Remote } from 'comlink';
import type { RunConfig } from '../shared/config';
import type { TrainerTestApi } from '../worker/index';
import { readActiveRun } from './run-registry';
import { TrainerClient } from './trainer-client';

export interface TestHookContext {
  /** The page's trainer client, created if there is none yet. */
  client(): TrainerClient;
  /** The form's settings (its defaults where it holds none that are valid). */
  config(): RunConfig;
}

function makeHooks(ctx: TestHookContext) {
  // A test build's worker exposes the test API on the same port as the production one.
  const api = (): Remote<TrainerTestApi> => ctx.client().api as Remote<TrainerTestApi>;
  return {
    /** Destroys the running trainer's WebGPU device (what a real device loss looks like). */
    loseDevice: () => api().loseDevice(),
    /** The running trainer's worker dies as an out-of-memory kills it. */
    simulateOutOfMemory: () => api().simulateOutOfMemory(),
    /** Starts the active run's settings under `runId` in a spare worker; resolves with the error name, if any. */
    tryStart: async (runId: string) => {
      const spare = new TrainerClient();
      try {
        await spare.start(
          { ...(readActiveRun()?.config ?? ctx.config()), run_id: runId, resume_run_id: '', init_run_id: '' },
          () => {},
        );
        return 'started';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      } finally {
        spare.terminate();
      }
    },
    benchmarkCheckpoint: (size: string, backend: RunConfig['backend']) => api().benchmarkCheckpoint(size, backend),
    benchmark: (overrides: Partial<RunConfig>, steps: number) =>
      api().benchmark({ ...ctx.config(), ...overrides }, steps),
  };
}

/** What `window.trainerDebug` holds in a test build. */
export type TrainerDebug = ReturnType<typeof makeHooks>;

declare global {
  interface Window {
    /** Present only in a test build. */
    trainerDebug?: TrainerDebug;
  }
}

export function installTestHooks(ctx: TestHookContext): void {
  window.trainerDebug = makeHooks(ctx);
}
