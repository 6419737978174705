import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, configFromParams, parseField } from '../shared/config';
import { secondsDue } from './checkpointer';

describe('save_every_seconds', () => {
  it('is on by default, every 60 s', () => {
    expect(DEFAULT_CONFIG.save_every_seconds).toBe(60);
  });

  it('is due once the seconds have passed since the last resumable save, never when 0', () => {
    expect(secondsDue(60, 1_000, 60_999)).toBe(false);
    expect(secondsDue(60, 1_000, 61_000)).toBe(true);
    expect(secondsDue(0, 0, 1e12)).toBe(false);
  });

  it('is read from a link and refused when negative', () => {
    expect(configFromParams(new URLSearchParams('save_every_seconds=5')).config.save_every_seconds).toBe(5);
    const bad = parseField('save_every_seconds', '-1');
    expect(bad.ok).toBe(false);
  });
});
