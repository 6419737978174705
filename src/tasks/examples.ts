/** How a shown example reads as one line (the eval event's `samples`, kept for older views and tests). */
import type { ShownExample } from '../shared/progress';

export type { ShownExample };

export function formatExample(e: ShownExample): string {
  if (e.probability !== undefined) {
    const mark = e.correct ? '✓' : `✗ (is ${e.reference})`;
    return `${e.output} ${(e.probability * 100).toFixed(0)}% ${mark} · ${e.input.slice(0, 70)}`;
  }
  if (e.reference === undefined) return e.output;
  return `${e.input} → ${e.output || '∅'} ${e.correct ? '✓' : `(${e.reference})`}`;
}
