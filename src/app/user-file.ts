/**
 * The file a person picked or dropped as their own data (task `text`). The form sets it; the
 * trainer client sends a copy of its bytes with `start`, so it can be used for run after run.
 */
export interface UserFile {
  name: string;
  bytes: ArrayBuffer;
}

let current: UserFile | null = null;

export function setUserFile(file: UserFile | null): void {
  current = file;
}

/** A copy of the chosen file (the copy is transferred to the worker), or undefined. */
export function userFileCopy(): UserFile | undefined {
  return current ? { name: current.name, bytes: current.bytes.slice(0) } : undefined;
}
