import { describe, expect, it } from 'vitest';
import { isQuotaFailure, quotaError, toStorageError } from './quota';
import { TrainerError } from '../../shared/errors';

const err = (name: string, message = '') => Object.assign(new Error(message), { name });

describe('quota mapping', () => {
  it.each<[string, unknown, { usage?: number; quota?: number } | undefined, boolean]>([
    ['QuotaExceededError', err('QuotaExceededError'), undefined, true],
    ['AbortError saying quota', err('AbortError', 'Quota exceeded.'), undefined, true],
    [
      'UnknownError near the quota',
      err('UnknownError', 'An unknown error occurred'),
      { usage: 990, quota: 1000 },
      true,
    ],
    ['UnknownError far from the quota', err('UnknownError', 'io'), { usage: 0, quota: 10 * 2 ** 30 }, false],
    ['AbortError without an estimate', err('AbortError', 'aborted'), undefined, false],
    ['NotFoundError', err('NotFoundError', 'quota'), undefined, false],
    ['a string', 'QuotaExceededError', undefined, false],
  ])('%s', (_n, e, est, want) => {
    expect(isQuotaFailure(e, est)).toBe(want);
  });

  it('names the way out', async () => {
    const q = quotaError('save a checkpoint');
    expect(q).toBeInstanceOf(TrainerError);
    expect(q.name).toBe('QuotaExceededError');
    expect(q.message).toMatch(/Delete old checkpoints/);
    expect(q.message).toMatch(/free disk space/);
    const mapped = await toStorageError(err('QuotaExceededError'), 'save x');
    expect(mapped).toMatchObject({ name: 'QuotaExceededError' });
    const other = err('TypeError', 'x');
    expect(await toStorageError(other, 'save x')).toBe(other);
  });
});
