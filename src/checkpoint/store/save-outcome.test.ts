// What one save reports when it wrote several checkpoints and a store refused some of them.
import { describe, expect, it } from 'vitest';
import { tags } from '../naming';
import { type DualSaveResult, saveOutcome } from './dual-store';
import { counters, id } from './test-helpers';

const quota = { name: 'QuotaExceededError', message: 'the disk is full' };
const crash = { name: 'SimulatedCrash', message: 'simulated crash at chunks-put' };

function result(stores: DualSaveResult['stores'], failures: DualSaveResult['failures']): DualSaveResult {
  const i = id(tags.latest());
  return {
    id: i,
    key: 'runs/run1/train/checkpoints/net_cp=latest',
    counters: counters(1),
    metrics: {},
    parts: [],
    createdAt: 1,
    generation: 'g1',
    stores,
    failures,
  };
}

describe('saveOutcome', () => {
  it('reports both stores and no failure when every checkpoint reached both', () => {
    expect(saveOutcome([result(['opfs', 'idb'], []), result(['opfs', 'idb'], [])])).toEqual({
      stores: ['opfs', 'idb'],
      failures: [],
    });
  });

  it('names the store that refused, once, with its first error, and leaves it out of the stores', () => {
    const out = saveOutcome([
      result(['opfs'], [{ store: 'idb', error: quota }]),
      result(['opfs'], [{ store: 'idb', error: crash }]),
    ]);
    expect(out).toEqual({ stores: ['opfs'], failures: [{ store: 'idb', error: quota }] });
  });

  it('a store that missed only the second checkpoint does not hold the save', () => {
    const out = saveOutcome([result(['opfs', 'idb'], []), result(['idb'], [{ store: 'opfs', error: quota }])]);
    expect(out).toEqual({ stores: ['idb'], failures: [{ store: 'opfs', error: quota }] });
  });

  it('each checkpoint in a different store: no one store holds the save, both are named', () => {
    const out = saveOutcome([
      result(['opfs'], [{ store: 'idb', error: quota }]),
      result(['idb'], [{ store: 'opfs', error: crash }]),
    ]);
    expect(out).toEqual({
      stores: [],
      failures: [
        { store: 'idb', error: quota },
        { store: 'opfs', error: crash },
      ],
    });
  });
});
