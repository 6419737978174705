/**
 * Joins the chart to the runs' stored histories (run-record-store.ts): the run in view gets its
 * whole log under its live points, and runs picked in the checkpoint panel are laid over it.
 */
import { DEFAULT_OUTPUT_DIR } from '../checkpoint/naming';
import { createRunRecordStore, type RunRecordStore } from '../checkpoint/run-record-store';
import type { RunEvent } from '../shared/progress';
import type { LossChart } from './chart';
import type { ActiveRun } from './run-registry';

let records: RunRecordStore | null = null;
const store = () => (records ??= createRunRecordStore());

/** A run to compare, as the checkpoint panel names it. */
export interface CompareRun {
  outputDir: string;
  runId: string;
  stageName?: string;
  label: string;
}

/**
 * Shows the history of the run that just started under the chart's live points. On a resume the
 * worker cuts the log back to the checkpoint; the page may read it before that write lands, so it
 * applies the same cut itself.
 */
export async function showRunHistory(chart: LossChart, e: RunEvent): Promise<void> {
  const log = await store().readLog(e.outputDir, e.runId, e.stageName);
  const upTo = e.resumedFrom ? e.resumedFrom.counters.update : e.warmStart ? -1 : Infinity;
  chart.setHistory(log.entries.filter((x) => x.update <= upTo));
}

/** On opening, the last run's history, so a reload shows the chart it left (the run may resume later). */
export async function showLastRun(chart: LossChart, run: ActiveRun | null): Promise<void> {
  if (!run) return;
  const log = await store().readLog(DEFAULT_OUTPUT_DIR, run.runId, run.stageName);
  chart.setHistory(log.entries);
}

/** Lays the picked runs over the chart ([] clears). */
export async function overlayRuns(chart: LossChart, runs: readonly CompareRun[]): Promise<void> {
  const logs = await Promise.all(runs.map((r) => store().readLog(r.outputDir, r.runId, r.stageName)));
  chart.overlay(runs.map((r, i) => ({ label: r.label, entries: logs[i].entries })));
}
