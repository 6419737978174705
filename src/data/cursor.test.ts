import { describe, expect, test } from 'vitest';
import { BatchSampler, batchesPerEpoch, cursorAt, epochOrder } from './cursor';

describe('BatchSampler', () => {
  test('each epoch visits every sample once, in an order that depends on seed and epoch', () => {
    const s = new BatchSampler(10, 7, { epoch: 0, index: 0 });
    const seen: number[] = [];
    let ends = 0;
    for (let i = 0; i < 4; i++) {
      const b = s.next(3);
      seen.push(...b.indices);
      if (b.epochEnd) ends++;
    }
    expect(ends).toBe(1);
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.position()).toEqual({ epoch: 1, index: 0 });
    expect(Array.from(epochOrder(10, 7, 0))).not.toEqual(Array.from(epochOrder(10, 7, 1)));
    expect(Array.from(epochOrder(10, 7, 0))).not.toEqual(Array.from(epochOrder(10, 8, 0)));
  });

  test('a sampler restored from a cursor continues the same stream, even with another batch size', () => {
    const full = new BatchSampler(50, 3, { epoch: 0, index: 0 });
    const stream: number[] = [];
    for (let i = 0; i < 20; i++) stream.push(...full.next(5).indices);

    const first = new BatchSampler(50, 3, { epoch: 0, index: 0 });
    const part: number[] = [];
    for (let i = 0; i < 7; i++) part.push(...first.next(5).indices);
    const resumed = new BatchSampler(50, 3, first.position());
    while (part.length < stream.length) part.push(...resumed.next(7).indices.slice(0, stream.length - part.length));
    expect(part).toEqual(stream);
  });

  test('the cursor derived from the counters is where the sampler stands', () => {
    const size = 23;
    const s = new BatchSampler(size, 5, { epoch: 0, index: 0 });
    const counters = { epoch: 0, sample: 0 };
    let batches = 0;
    for (let i = 0; i < 40; i++) {
      const b = s.next(4);
      counters.sample += b.indices.length;
      if (b.epochEnd) counters.epoch++;
      batches++;
      expect(cursorAt(counters, size)).toEqual(s.position());
    }
    expect(s.position().epoch).toBe(Math.floor(batches / batchesPerEpoch(size, 4)));
  });
});
