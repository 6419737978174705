/**
 * The learning rate as a pure function of the update count, so the schedule's position in a
 * checkpoint is just the counter: resuming at update u gives the same rate as never stopping.
 */
import type { ScheduleName } from '../shared/config';

export interface ScheduleConfig {
  schedule: ScheduleName;
  lr: number;
  warmup: number;
}

export function learningRateAt(s: ScheduleConfig, update: number, totalUpdates: number): number {
  if (s.warmup > 0 && update < s.warmup) return (s.lr * (update + 1)) / s.warmup;
  const span = Math.max(1, totalUpdates - s.warmup);
  const t = Math.min(1, Math.max(0, (update - s.warmup) / span));
  switch (s.schedule) {
    case 'constant':
      return s.lr;
    case 'linear':
      return s.lr * (1 - t);
    case 'cosine':
      return s.lr * 0.5 * (1 + Math.cos(Math.PI * t));
  }
}
