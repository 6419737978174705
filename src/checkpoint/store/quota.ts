/**
 * Storage space: turning a full disk into one named error, and the browser's storage estimate
 * and persistence switch.
 */
import { TrainerError } from '../../shared/errors';

/** How close to the quota (bytes) an unexplained AbortError/UnknownError is taken to mean "full". */
const NEAR_QUOTA_BYTES = 64 * 1024 * 1024;

export interface StorageEstimateLike {
  usage?: number;
  quota?: number;
}

const QUOTA_HINT =
  'Delete old checkpoints or runs (or export and then delete them), or free disk space, then save again. ' +
  'Earlier checkpoints are unchanged.';

/**
 * Decides whether a storage failure means "out of space". QuotaExceededError always does;
 * Chromium also reports a full disk as an AbortError (IndexedDB) or UnknownError (file system),
 * so those count when their message says so or when the estimate shows the origin near its quota.
 */
export function isQuotaFailure(e: unknown, estimate?: StorageEstimateLike): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { name, message } = e as { name?: unknown; message?: unknown };
  if (name === 'QuotaExceededError') return true;
  if (name !== 'AbortError' && name !== 'UnknownError') return false;
  if (typeof message === 'string' && /quota|space|disk full|no space/i.test(message)) return true;
  if (estimate?.usage !== undefined && estimate.quota !== undefined) {
    return estimate.quota - estimate.usage < NEAR_QUOTA_BYTES || estimate.usage >= 0.95 * estimate.quota;
  }
  return false;
}

/** The QuotaExceededError a user sees, with the way out in its message. */
export function quotaError(what: string, cause?: unknown): TrainerError {
  return new TrainerError('QuotaExceededError', `Not enough storage space to ${what}. ${QUOTA_HINT}`, { cause });
}

/**
 * Maps a storage failure to QuotaExceededError when it means "full", asking the browser for an
 * estimate only when the error alone cannot tell; any other error comes back unchanged.
 */
export async function toStorageError(e: unknown, what: string): Promise<unknown> {
  if (e instanceof TrainerError) return e;
  const name = (e as { name?: unknown } | null)?.name;
  let estimate: StorageEstimateLike | undefined;
  if (name === 'AbortError' || name === 'UnknownError')
    estimate = await navigator.storage?.estimate().catch(() => undefined);
  return isQuotaFailure(e, estimate) ? quotaError(what, e) : e;
}

export interface StorageStatus {
  /** Bytes this origin uses, as the browser estimates. */
  usage: number;
  /** Bytes this origin may use. */
  quota: number;
  /** True when the browser will not evict this origin's data under storage pressure. */
  persisted: boolean;
}

/** The origin's storage usage, quota and persistence. */
export async function storageStatus(): Promise<StorageStatus> {
  const storage = navigator.storage;
  const [est, persisted] = await Promise.all([storage.estimate(), storage.persisted().catch(() => false)]);
  return { usage: est.usage ?? 0, quota: est.quota ?? 0, persisted };
}

/**
 * Asks the browser to keep this origin's data under storage pressure; resolves to whether it is
 * now persisted. persist() exists only in windows, so from a worker this reports the current state.
 */
export async function requestPersistence(): Promise<boolean> {
  // The WebWorker lib rightly lacks persist(); this module compiles for both realms.
  const storage = navigator.storage as StorageManager & { persist?: () => Promise<boolean> };
  if (typeof storage.persist === 'function') return storage.persist();
  return storage.persisted();
}
