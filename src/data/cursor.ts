/**
 * The data position: which sample comes next. The order of an epoch is a pure function of
 * (seed, epoch), so a cursor of two numbers restores it exactly, and since it counts samples, not
 * batches, a resumed run may change its batch size and still see every sample once per epoch.
 */
import { Rng } from './rng';

export interface DataCursor {
  /** Epochs completed. */
  epoch: number;
  /** Index of the next sample within the current epoch's order. */
  index: number;
}

/**
 * Where the data stands after `counters.sample` samples: every epoch before `counters.epoch` was
 * whole, so the rest is the index into the current epoch's order.
 */
export function cursorAt(counters: { epoch: number; sample: number }, size: number): DataCursor {
  return { epoch: counters.epoch, index: counters.sample - counters.epoch * size };
}

/** Batches in one epoch of `size` samples: the last one may be smaller. */
export function batchesPerEpoch(size: number, batchSize: number): number {
  return Math.ceil(size / batchSize);
}

export function epochOrder(size: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  Rng.fromSeed(seed, 0x5eed, epoch).shuffle(order);
  return order;
}

/** Walks the epochs batch by batch; the last batch of an epoch may be smaller. */
export class BatchSampler {
  private order: Int32Array;
  private orderEpoch: number;

  constructor(
    readonly size: number,
    readonly seed: number,
    private cursor: DataCursor,
  ) {
    if (size <= 0) throw new RangeError('BatchSampler needs at least one sample');
    this.orderEpoch = cursor.epoch;
    this.order = epochOrder(size, seed, cursor.epoch);
  }

  position(): DataCursor {
    return { ...this.cursor };
  }

  /** Indices of the next batch, and whether it ends the epoch. */
  next(batchSize: number): { indices: Int32Array; epochEnd: boolean } {
    if (this.orderEpoch !== this.cursor.epoch) {
      this.order = epochOrder(this.size, this.seed, this.cursor.epoch);
      this.orderEpoch = this.cursor.epoch;
    }
    const start = this.cursor.index;
    const end = Math.min(start + batchSize, this.size);
    const indices = this.order.slice(start, end);
    const epochEnd = end >= this.size;
    this.cursor = epochEnd ? { epoch: this.cursor.epoch + 1, index: 0 } : { epoch: this.cursor.epoch, index: end };
    return { indices, epochEnd };
  }

  batchesPerEpoch(batchSize: number): number {
    return batchesPerEpoch(this.size, batchSize);
  }
}
