import type { CheckpointId, CheckpointPart } from '../naming';
import type { StoreChoice } from '../../shared/config';
import type { Counters } from '../../shared/progress';

/** The training counters a checkpoint was taken at. */
export type { Counters };

/**
 * One stored part: its full path (the naming scheme's), byte size and checksum (lowercase hex):
 * XXH64 in saves since issue 12, SHA-256 in older ones (see checksum.ts). Exactly one is set.
 */
export interface PartInfo {
  part: CheckpointPart;
  path: string;
  size: number;
  xxh64?: string;
  sha256?: string;
}

/** What a store knows about one complete checkpoint without reading its parts. */
export interface CheckpointMeta {
  /** checkpointKey(id): the path without `_{part}.th`. */
  key: string;
  id: CheckpointId;
  parts: PartInfo[];
  counters: Counters;
  metrics: Record<string, number>;
  /** ms since the epoch, when the save began. */
  createdAt: number;
  /** Unique per save; two copies with the same generation hold the same bytes. */
  generation: string;
}

/** The parts of one checkpoint, each as the chunks the writer produced (never concatenated). */
export type CheckpointParts = Partial<Record<CheckpointPart, readonly Uint8Array[]>>;

export interface SaveInfo {
  counters: Counters;
  metrics?: Record<string, number>;
  /** Set by the dual store so that both copies of one save share it; otherwise generated. */
  generation?: string;
  createdAt?: number;
  /**
   * The parts' XXH64 when the caller computes them (the dual store hashes once for both copies,
   * while the stores write); a store hashes any part missing here itself.
   */
  checksums?: Partial<Record<CheckpointPart, string>> | Promise<Partial<Record<CheckpointPart, string>>>;
}

export interface ListFilter {
  outputDir?: string;
  runId?: string;
  stageName?: string;
}

/** One place checkpoints live. Every method is safe to call from the page or the worker. */
export interface CheckpointStore {
  readonly kind: StoreChoice;
  /** Writes all parts, then commits: afterwards the checkpoint is complete, or the call threw and nothing of it is visible. */
  save(id: CheckpointId, parts: CheckpointParts, info: SaveInfo): Promise<CheckpointMeta>;
  /** Complete checkpoints only, from metadata alone (no part is read). */
  list(filter?: ListFilter): Promise<CheckpointMeta[]>;
  /** The metadata of one checkpoint, or undefined when there is no complete one under the key. */
  stat(key: string): Promise<CheckpointMeta | undefined>;
  /**
   * One part's bytes, verified against its recorded checksum (ChecksumMismatchError otherwise).
   * `expected`: this store's metadata of the checkpoint as the caller has just read it (stat or
   * list); the part is verified against that record, and a copy replaced since is refused.
   */
  read(key: string, part: CheckpointPart, expected?: CheckpointMeta): Promise<Uint8Array>;
  /** Removes one checkpoint; absent keys are ignored. */
  delete(key: string): Promise<void>;
  /** Removes a stage's checkpoints (`stageName` undefined: the run's stage-less checkpoints). */
  deleteStage(runId: string, stageName?: string, outputDir?: string): Promise<void>;
  /** Removes every checkpoint of a run, in every stage. */
  deleteRun(runId: string, outputDir?: string): Promise<void>;
  /** Removes what interrupted saves or deletes left behind; returns how many items it removed or completed. */
  sweep(): Promise<number>;
}
