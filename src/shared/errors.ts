/**
 * Every failure a user can meet has a stable `name`. Errors cross the worker boundary as
 * `{name, message}` only, so the page switches on the name, never on the class.
 */
export const ERROR_NAMES = [
  'BackendUnavailableError',
  'BackendFailedError',
  'InvalidConfigError',
  'DatasetError',
  'CheckpointNameError',
  'CheckpointNotFoundError',
  'CheckpointCorruptError',
  'CheckpointFormatError',
  'UnsafePickleError',
  'ChecksumMismatchError',
  'TopologyMismatchError',
  'ShapeMismatchError',
  'QuotaExceededError',
  'RunLockedError',
  'TrainerBusyError',
  'ImportConflictError',
  /** "Try it": the input cannot be answered (empty, too long, characters the model never saw). */
  'TryInputError',
  /** "Try it" asked for the model training now, and none is. */
  'NoModelError',
] as const;

export type ErrorName = (typeof ERROR_NAMES)[number];

export class TrainerError extends Error {
  override readonly name: ErrorName;
  constructor(name: ErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

/** The plain shape an error takes on the wire between worker and page. */
export interface WireError {
  name: string;
  message: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

export function isNamed(e: unknown, name: ErrorName): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name;
}
