// The worker's log writer against an in-memory record store: it forwards every event unchanged,
// writes with each checkpoint and at the end (not per point), names a new run after its id, cuts
// the log back on a resume, and a store that fails never fails the run.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../shared/config';
import type { RunRecordStore } from '../checkpoint/run-record-store';
import type { LogEntry, RunRecord } from '../checkpoint/run-log';
import type { RunEvent, TrainerEvent } from '../shared/progress';
import { RunLogWriter } from './run-log-writer';

function memoryRecords(initial: LogEntry[] = [], fail = false) {
  let log = [...initial];
  let record: RunRecord | undefined;
  const calls: string[] = [];
  const no = () => Promise.reject(new DOMException('the disk is full', 'QuotaExceededError'));
  const store: RunRecordStore = {
    getRecord: async () => record,
    listRecords: async () => (record ? [record] : []),
    putRecord: async (r) => {
      calls.push('putRecord');
      if (fail) return no();
      record = r;
    },
    rename: async (_o, _r, name) => name,
    appendLog: async (_o, _r, _s, entries) => {
      calls.push(`append ${entries.length}`);
      if (fail) return no();
      log.push(...entries);
    },
    replaceLog: async (_o, _r, _s, entries) => {
      calls.push(`replace ${entries.length}`);
      if (fail) return no();
      log = [...entries];
    },
    readLog: async () => ({ entries: [...log], skipped: 0, capped: false }),
    readLogText: async () => '',
    deleteStage: async () => {},
    deleteRun: async () => {},
  };
  return { store, calls, log: () => log, record: () => record };
}

const counters = (update: number) => ({ epoch: 0, update, sample: update * 32 });
const runEvent = (resumedAt?: number): RunEvent => ({
  type: 'run',
  runId: 'r1',
  stageName: 'train',
  modelName: 'char-mlp',
  outputDir: 'runs',
  config: { ...DEFAULT_CONFIG, run_id: 'r1' },
  ...(resumedAt !== undefined
    ? { resumedFrom: { tag: `E0_U${resumedAt}_S1`, counters: counters(resumedAt), skipped: [], backend: 'wasm' } }
    : {}),
});
const loss = (from: number, to: number): TrainerEvent => ({
  type: 'loss',
  points: Array.from({ length: to - from + 1 }, (_, i) => ({ update: from + i, loss: 2 - i / 100 })),
});

describe('run log writer', () => {
  it('forwards events, names a new run, and writes per checkpoint and at the end', async () => {
    const mem = memoryRecords();
    const seen: TrainerEvent[] = [];
    const w = new RunLogWriter(
      (e) => seen.push(e),
      () => mem.store,
    );
    const events: TrainerEvent[] = [
      runEvent(),
      loss(1, 10),
      { type: 'eval', counters: counters(10), metrics: { 'val/loss': 1.9 }, samples: [], epochEnd: false },
      loss(11, 20),
      {
        type: 'saved',
        tag: 'E0_U20_S640',
        counters: counters(20),
        stores: ['opfs'],
        failures: [],
        bytes: 1,
        heldMs: 1,
      },
      loss(21, 25),
      { type: 'state', state: 'idle' },
    ];
    for (const e of events) w.onEvent(e);
    await w.close();
    expect(seen).toEqual(events);
    expect(mem.record()).toMatchObject({
      runId: 'r1',
      name: 'r1',
      task: DEFAULT_CONFIG.task,
      model: DEFAULT_CONFIG.model,
    });
    expect(mem.calls.filter((c) => c.startsWith('append'))).toEqual(['append 21', 'append 5']);
    const log = mem.log();
    expect(log.filter((e) => e.kind === 'train').map((e) => e.update)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    expect(log.find((e) => e.kind === 'val')).toMatchObject({ update: 10, metrics: { 'val/loss': 1.9 } });
    // In update order within a flush.
    const updates = log.map((e) => e.update);
    expect([...updates].sort((a, b) => a - b)).toEqual(updates);
  });

  it('a resume cuts the log back to its checkpoint and says how much it dropped', async () => {
    const old: LogEntry[] = Array.from({ length: 30 }, (_, i) => ({
      kind: 'train' as const,
      update: i + 1,
      epoch: 0,
      loss: 1,
      time: 1,
      backend: 'wasm',
    }));
    const mem = memoryRecords(old);
    const w = new RunLogWriter(
      () => {},
      () => mem.store,
    );
    w.onEvent(runEvent(20));
    w.onEvent(loss(21, 22));
    await w.close();
    const log = mem.log();
    expect(log.filter((e) => e.kind === 'resume')).toEqual([expect.objectContaining({ update: 20, dropped: 10 })]);
    expect(log.filter((e) => e.kind === 'train').map((e) => e.update)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => i + 1),
      21,
      22,
    ]);
  });

  it('a store that refuses every write never fails the run', async () => {
    const mem = memoryRecords([], true);
    const seen: TrainerEvent[] = [];
    const w = new RunLogWriter(
      (e) => seen.push(e),
      () => mem.store,
    );
    w.onEvent(runEvent());
    w.onEvent(loss(1, 3));
    w.onEvent({ type: 'state', state: 'done' });
    await expect(w.close()).resolves.toBeUndefined();
    expect(seen).toHaveLength(3);
    expect(mem.calls).toContain('append 3');
  });
});
