import { expect, test } from 'vitest';
import { Rng } from './rng';

test('a restored state continues the same stream', () => {
  const a = Rng.fromSeed(1);
  for (let i = 0; i < 5; i++) a.next();
  const b = new Rng(a.state());
  const xs = Array.from({ length: 10 }, () => a.next());
  const ys = Array.from({ length: 10 }, () => b.next());
  expect(ys).toEqual(xs);
});

test('different seeds give different streams, and values are in range', () => {
  const a = Rng.fromSeed(1);
  const b = Rng.fromSeed(2);
  const xs = Array.from({ length: 1000 }, () => a.next());
  expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  expect(b.next()).not.toBe(Rng.fromSeed(1).next());
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  const n = Array.from({ length: 4000 }, () => a.normal());
  const m = n.reduce((s, x) => s + x, 0) / n.length;
  const v = n.reduce((s, x) => s + (x - m) ** 2, 0) / n.length;
  expect(Math.abs(m)).toBeLessThan(0.06);
  expect(Math.abs(v - 1)).toBeLessThan(0.08);
});
