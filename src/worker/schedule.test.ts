import { expect, test } from 'vitest';
import { learningRateAt } from './schedule';

test('warm-up rises linearly, cosine ends at zero, constant stays', () => {
  const s = { schedule: 'cosine' as const, lr: 1, warmup: 10 };
  expect(learningRateAt(s, 0, 110)).toBeCloseTo(0.1);
  expect(learningRateAt(s, 9, 110)).toBeCloseTo(1);
  expect(learningRateAt(s, 10, 110)).toBeCloseTo(1);
  expect(learningRateAt(s, 60, 110)).toBeCloseTo(0.5);
  expect(learningRateAt(s, 110, 110)).toBeCloseTo(0);
  expect(learningRateAt({ ...s, schedule: 'linear' }, 60, 110)).toBeCloseTo(0.5);
  expect(learningRateAt({ ...s, schedule: 'constant', warmup: 0 }, 77, 110)).toBe(1);
});
