/**
 * The page's memory of the run it is training, kept in localStorage so that it survives a crash:
 * if the app opens and the last run was still marked as training, the tab died under it.
 */
import type { RunConfig } from '../shared/config';

const KEY = 'trainer.activeRun';
const AUTO_RESUME_KEY = 'trainer.autoResume';

export interface ActiveRun {
  runId: string;
  stageName?: string;
  modelName: string;
  config: RunConfig;
  /** The newest update the page saw, to say how many a crash lost. */
  lastUpdate: number;
  /** The newest checkpoint the page heard of. */
  lastCheckpoint?: string;
  state: 'training' | 'stopped' | 'done' | 'failed';
}

export function readActiveRun(): ActiveRun | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as ActiveRun) : null;
  } catch {
    return null;
  }
}

export function writeActiveRun(run: ActiveRun): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(run));
  } catch {
    // A full disk must not stop training; the crash banner is what is lost.
  }
}

export function updateActiveRun(patch: Partial<ActiveRun>): void {
  const current = readActiveRun();
  if (current) writeActiveRun({ ...current, ...patch });
}

/** 'auto' resumes a crashed run at once; 'prompt' asks first. */
export function autoResumeSetting(): 'auto' | 'prompt' {
  return localStorage.getItem(AUTO_RESUME_KEY) === 'prompt' ? 'prompt' : 'auto';
}

/** Set by the page's "after a crash" control. */
export function setAutoResume(value: 'auto' | 'prompt'): void {
  localStorage.setItem(AUTO_RESUME_KEY, value);
}

/** Whether another tab holds the run's Web Lock (it is training there). */
export async function runIsLockedElsewhere(runId: string): Promise<boolean> {
  if (!navigator.locks) return false;
  const { held = [] } = await navigator.locks.query();
  return held.some((l) => l.name === `run:${runId}`);
}
