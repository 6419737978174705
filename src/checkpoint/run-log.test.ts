// The metrics log's text format: valid lines round-trip; torn, foreign and hostile lines are
// skipped and counted (never thrown); what a reader holds is bounded; a resume cuts the log back.
import { describe, expect, it } from 'vitest';
import {
  MAX_LOG_BYTES,
  MAX_LOG_ENTRIES,
  boundLog,
  cleanRunName,
  formatLog,
  parseLog,
  parseRunRecord,
  truncateForResume,
  type LogEntry,
} from './run-log';

const train = (update: number, loss = 1): LogEntry => ({
  kind: 'train',
  update,
  epoch: update / 10,
  loss,
  time: 1000 + update,
  backend: 'webgpu',
});
const val = (update: number): LogEntry => ({
  kind: 'val',
  update,
  epoch: update / 10,
  metrics: { 'val/loss': 2 },
  time: 1000 + update,
  backend: 'wasm',
});

describe('run log', () => {
  it('round-trips its entries', () => {
    const entries = [train(1, 3.5), train(2, 3.1), val(2), train(3, NaN)];
    const back = parseLog(formatLog(entries));
    expect(back.skipped).toBe(0);
    expect(back.capped).toBe(false);
    expect(back.entries.slice(0, 3)).toEqual(entries.slice(0, 3));
    // A diverged loss is written as null and read back as NaN.
    expect(back.entries[3].kind === 'train' && Number.isNaN(back.entries[3].loss)).toBe(true);
  });

  it('skips torn, foreign and hostile lines with a count', () => {
    const good = formatLog([train(1), val(1)]);
    const bad = [
      '{"kind":"train","update":2,"lo', // torn by a crash mid-append
      'not json at all',
      '[1,2,3]',
      'null',
      '{"kind":"train","update":-1,"loss":1,"time":1,"backend":"x"}',
      '{"kind":"train","update":1.5,"loss":1,"time":1,"backend":"x"}',
      '{"kind":"train","update":3,"loss":"high","time":1,"backend":"x"}',
      '{"kind":"exec","update":3,"time":1,"backend":"x"}',
      '{"kind":"val","update":3,"time":1,"backend":"x","metrics":{"a":"b"}}',
      '{"kind":"val","update":3,"time":1,"backend":"x","metrics":{"__proto__":1}}',
      `{"kind":"train","update":3,"loss":1,"time":1,"backend":"${'x'.repeat(5000)}"}`,
      `{"kind":"val","update":3,"time":1,"backend":"x","metrics":{${Array.from({ length: 100 }, (_, i) => `"m${i}":1`).join(',')}}}`,
    ];
    const parsed = parseLog(good + bad.join('\n') + '\n' + formatLog([train(4)]));
    expect(parsed.skipped).toBe(bad.length);
    expect(parsed.entries.map((e) => e.update)).toEqual([1, 1, 4]);
    expect(Object.prototype.hasOwnProperty.call({}, 'polluted')).toBe(false);
  });

  it('bounds what it reads: the newest MAX_LOG_BYTES, and at most MAX_LOG_ENTRIES entries', () => {
    const line = formatLog([train(1)]);
    const n = Math.ceil((MAX_LOG_BYTES * 1.5) / line.length);
    const entries: LogEntry[] = Array.from({ length: n }, (_, i) => train(i + 1));
    const text = formatLog(entries);
    expect(text.length).toBeGreaterThan(MAX_LOG_BYTES);
    const parsed = parseLog(text);
    expect(parsed.capped).toBe(true);
    expect(parsed.entries.length).toBeLessThanOrEqual(MAX_LOG_ENTRIES);
    expect(parsed.entries.length).toBeGreaterThan(MAX_LOG_ENTRIES / 4);
    // The newest points are what it keeps; the cut first line counts as skipped, at most one.
    expect(parsed.entries.at(-1)!.update).toBe(n);
    expect(parsed.skipped).toBeLessThanOrEqual(1);
  });

  it('thins train points past the bound and keeps every validation', () => {
    const entries: LogEntry[] = [];
    for (let u = 1; u <= 3 * MAX_LOG_ENTRIES; u++) entries.push(u % 100 === 0 ? val(u) : train(u));
    const out = boundLog(entries);
    expect(out.length).toBeLessThanOrEqual(MAX_LOG_ENTRIES);
    expect(out.filter((e) => e.kind === 'val')).toHaveLength(entries.filter((e) => e.kind === 'val').length);
    expect(out.at(-1)!.update).toBe(3 * MAX_LOG_ENTRIES);
    const updates = out.map((e) => e.update);
    expect([...updates].sort((a, b) => a - b)).toEqual(updates);
  });

  it('a resume keeps the entries up to its checkpoint and counts the rest', () => {
    const entries = [train(1), train(2), val(2), train(3), train(4), val(4)];
    const { entries: kept, dropped } = truncateForResume(entries, 2, 'E0_U2_S64', 'wasm', 5);
    expect(dropped).toBe(3);
    expect(kept.map((e) => `${e.kind}@${e.update}`)).toEqual(['train@1', 'train@2', 'val@2', 'resume@2']);
    expect(parseLog(formatLog(kept)).entries).toEqual(kept);
  });

  it('reads a run record from untrusted JSON, names cleaned', () => {
    const r = parseRunRecord({ name: ' my\u0000 run\n2 ', task: 'names', model: 'gpt', createdAt: 5 }, 'runs', 'r1');
    expect(r).toEqual({ outputDir: 'runs', runId: 'r1', name: 'my run 2', task: 'names', model: 'gpt', createdAt: 5 });
    expect(parseRunRecord({ name: 1, task: 'names', model: 'gpt', createdAt: 5 }, 'runs', 'r1')).toBeNull();
    expect(parseRunRecord('x', 'runs', 'r1')).toBeNull();
    expect(parseRunRecord({ name: '   ', task: 't', model: 'm', createdAt: 1 }, 'runs', 'r1')!.name).toBe('r1');
    expect(cleanRunName('x'.repeat(500))).toHaveLength(120);
  });
});
