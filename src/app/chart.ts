/**
 * The loss chart, drawn by uPlot: training loss (raw and smoothed) and validation loss of the run
 * in view, with its whole history (the metrics log) under the live points, and other runs laid
 * over it to compare. Axis titles, values on hover (uPlot's legend follows the cursor), a log
 * scale toggle, and x by update, epoch or wall time.
 *
 * API (the page calls it):
 *   const chart = new LossChart(el)      el: a <canvas> (replaced in place by the chart's figure,
 *                                         which keeps its id) or any container element
 *   chart.reset()                         forget the run in view (not the overlays)
 *   chart.addTrain(points)                live training losses ({update, loss}[])
 *   chart.addVal(point)                   a live validation loss ({update, loss})
 *   chart.setHistory(entries)             the run's log (run-log.ts entries): drawn under the live
 *                                         points; live points win where both have an update
 *   chart.setUpdatesPerEpoch(n)           so live points get an epoch (x by epoch)
 *   chart.overlay(runs)                   other runs to compare: {label, entries}[] ([] clears)
 *   chart.setOptions({x, log})            x: 'update' | 'epoch' | 'time'; log: log-scale y
 * `mountChart(el)` returns the same object, for the newer call style.
 *
 * What it shows is also in data attributes on the figure, for tests and tools that must not read
 * pixels: data-train-points, data-val-points, data-first-update, data-last-update, data-overlays,
 * data-x, data-log; and a visually hidden table lists the validation points.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { LogEntry } from '../checkpoint/run-log';
import type { LossPoint } from '../shared/progress';

export type XAxis = 'update' | 'epoch' | 'time';
export interface ChartOptions {
  x: XAxis;
  log: boolean;
}
export interface OverlayRun {
  label: string;
  entries: readonly LogEntry[];
}

interface Pt {
  update: number;
  epoch: number;
  time: number;
  loss: number;
}

/** Points drawn per series at most: longer series are thinned by a stride for drawing. */
const MAX_DRAWN = 4000;
/** Live training points kept at most: past it every other one is dropped (the newest kept), as the log does. */
const MAX_LIVE = 20_000;
const COLORS = ['#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
const X_TITLES: Record<XAxis, string> = {
  update: 'update',
  epoch: 'epoch',
  time: 'wall time (minutes since the run began)',
};

/** The validation loss of an eval's metrics: `val/loss`, else the first metric named like a loss. */
export function valLoss(metrics: Record<string, number>): number | undefined {
  if (typeof metrics['val/loss'] === 'number') return metrics['val/loss'];
  const k = Object.keys(metrics).find((m) => /loss/.test(m));
  return k === undefined ? undefined : metrics[k];
}

function fromLog(entries: readonly LogEntry[]): { train: Pt[]; val: Pt[] } {
  const train: Pt[] = [];
  const val: Pt[] = [];
  for (const e of entries) {
    if (e.kind === 'train') train.push({ update: e.update, epoch: e.epoch, time: e.time, loss: e.loss });
    else if (e.kind === 'val') {
      const loss = valLoss(e.metrics);
      if (loss !== undefined) val.push({ update: e.update, epoch: e.epoch, time: e.time, loss });
    }
  }
  return { train, val };
}

/** One point per update (the later wins), in update order. */
function byUpdate(points: Pt[]): Pt[] {
  const m = new Map<number, Pt>();
  for (const p of points) m.set(p.update, p);
  return [...m.values()].sort((a, b) => a.update - b.update);
}

/** An exponential moving average, so the trend shows through single-batch noise. */
function smooth(values: number[], beta = 0.95): number[] {
  let avg = 0;
  let n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return avg / (1 - beta ** Math.max(n, 1));
    n++;
    avg = beta * avg + (1 - beta) * v;
    return avg / (1 - beta ** n);
  });
}

function thin<T>(xs: T[]): T[] {
  if (xs.length <= MAX_DRAWN) return xs;
  const stride = Math.ceil(xs.length / MAX_DRAWN);
  return xs.filter((_, i) => i % stride === 0 || i === xs.length - 1);
}

export class LossChart {
  readonly root: HTMLElement;
  private readonly plotEl: HTMLElement;
  private readonly table: HTMLTableElement;
  private readonly xSelect: HTMLSelectElement;
  private readonly logBox: HTMLInputElement;
  private plot: uPlot | null = null;
  private plotKey = '';
  private history: { train: Pt[]; val: Pt[] } = { train: [], val: [] };
  private live: { train: Pt[]; val: Pt[] } = { train: [], val: [] };
  private overlays: { label: string; train: Pt[]; val: Pt[] }[] = [];
  private opts: ChartOptions = { x: 'update', log: false };
  private updatesPerEpoch = 0;
  private scheduled: ReturnType<typeof setTimeout> | null = null;

  constructor(target: HTMLElement) {
    const fig = document.createElement('figure');
    fig.className = 'loss-chart';
    if (target.id) fig.id = target.id;
    fig.setAttribute('aria-label', target.getAttribute('aria-label') ?? 'Loss chart');
    const controls = document.createElement('div');
    controls.className = 'chart-controls';
    const xLabel = document.createElement('label');
    xLabel.textContent = 'x axis ';
    this.xSelect = document.createElement('select');
    this.xSelect.name = 'chart-x';
    for (const x of ['update', 'epoch', 'time'] as const) {
      const o = document.createElement('option');
      o.value = x;
      o.textContent = x === 'time' ? 'wall time' : x;
      this.xSelect.append(o);
    }
    xLabel.append(this.xSelect);
    const logLabel = document.createElement('label');
    this.logBox = document.createElement('input');
    this.logBox.type = 'checkbox';
    this.logBox.name = 'chart-log';
    logLabel.append(this.logBox, ' log scale');
    controls.append(xLabel, logLabel);
    this.xSelect.addEventListener('change', () => this.setOptions({ x: this.xSelect.value as XAxis }));
    this.logBox.addEventListener('change', () => this.setOptions({ log: this.logBox.checked }));
    this.plotEl = document.createElement('div');
    this.plotEl.className = 'chart-plot';
    this.table = document.createElement('table');
    this.table.className = 'visually-hidden';
    fig.append(controls, this.plotEl, this.table);
    if (target instanceof HTMLCanvasElement) target.replaceWith(fig);
    else target.replaceChildren(fig);
    this.root = fig;
    if (typeof ResizeObserver === 'function')
      new ResizeObserver(() => this.plot?.setSize(this.size())).observe(this.plotEl);
    this.schedule();
  }

  reset(): void {
    this.history = { train: [], val: [] };
    this.live = { train: [], val: [] };
    this.schedule();
  }

  addTrain(points: LossPoint[]): void {
    const time = Date.now();
    for (const p of points)
      this.live.train.push({ update: p.update, loss: p.loss, time, epoch: this.epochOf(p.update) });
    if (this.live.train.length > MAX_LIVE) {
      const n = this.live.train.length;
      this.live.train = this.live.train.filter((_, i) => (n - 1 - i) % 2 === 0);
    }
    this.schedule();
  }

  addVal(point: LossPoint): void {
    this.live.val.push({ update: point.update, loss: point.loss, time: Date.now(), epoch: this.epochOf(point.update) });
    this.schedule();
  }

  /** The run's logged history, drawn under the live points. */
  setHistory(entries: readonly LogEntry[]): void {
    this.history = fromLog(entries);
    this.schedule();
  }

  setUpdatesPerEpoch(n: number): void {
    if (n > 0) this.updatesPerEpoch = n;
  }

  overlay(runs: readonly OverlayRun[]): void {
    this.overlays = runs.map((r) => ({ label: r.label, ...fromLog(r.entries) }));
    this.schedule();
  }

  setOptions(o: Partial<ChartOptions>): void {
    this.opts = { ...this.opts, ...o };
    this.xSelect.value = this.opts.x;
    this.logBox.checked = this.opts.log;
    this.schedule();
  }

  private epochOf(update: number): number {
    if (this.updatesPerEpoch > 0) return update / this.updatesPerEpoch;
    // Without the rate, the history's own ratio.
    const last = this.history.train.at(-1);
    return last && last.update > 0 ? (update * last.epoch) / last.update : 0;
  }

  /** The run in view: history where no live point covers it, then the live points. */
  private current(): { train: Pt[]; val: Pt[] } {
    return {
      train: byUpdate([...this.history.train, ...this.live.train]),
      val: byUpdate([...this.history.val, ...this.live.val]),
    };
  }

  private schedule(): void {
    // A timer, not requestAnimationFrame: a hidden tab still keeps the chart's data current.
    if (this.scheduled) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = null;
      this.render();
    }, 100);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.plotEl.clientWidth || 640), height: 260 };
  }

  private render(): void {
    const cur = this.current();
    const fig = this.root;
    const all = [...cur.train, ...cur.val];
    fig.dataset.trainPoints = String(cur.train.length);
    fig.dataset.valPoints = String(cur.val.length);
    fig.dataset.firstUpdate = all.length ? String(Math.min(...all.map((p) => p.update))) : '';
    fig.dataset.lastUpdate = all.length ? String(Math.max(...all.map((p) => p.update))) : '';
    fig.dataset.overlays = String(this.overlays.length);
    fig.dataset.x = this.opts.x;
    fig.dataset.log = String(this.opts.log);
    this.renderTable(cur.val);

    const t0 = (pts: Pt[]) => (pts.length ? Math.min(...pts.map((p) => p.time)) : 0);
    const xOf = (pts: Pt[], start: number) =>
      pts.map((p) =>
        this.opts.x === 'update' ? p.update : this.opts.x === 'epoch' ? p.epoch : (p.time - start) / 60_000,
      );
    // For x by time, each run's minutes count from its own first point.
    const table = (pts: Pt[], start: number, withSmooth: boolean): uPlot.AlignedData => {
      const ps = thin(pts);
      const ys = ps.map((p) => (Number.isFinite(p.loss) && (!this.opts.log || p.loss > 0) ? p.loss : null));
      const cols: (number | null)[][] = [ys];
      if (withSmooth) cols.push(smooth(ps.map((p) => p.loss)).map((v) => (Number.isFinite(v) ? v : null)));
      return [xOf(ps, start), ...cols] as uPlot.AlignedData;
    };
    const start = t0(all);
    const tables: uPlot.AlignedData[] = [table(cur.train, start, true), table(cur.val, start, false)];
    const series: uPlot.Series[] = [
      { label: X_TITLES[this.opts.x] },
      { label: 'train loss', stroke: '#aecde6', width: 1 },
      { label: 'train loss (smoothed)', stroke: '#1f77b4', width: 1.5 },
      { label: 'val loss', stroke: '#d62728', width: 2, points: { show: true, size: 5 } },
    ];
    this.overlays.forEach((o, i) => {
      const s = t0([...o.train, ...o.val]);
      const tr = table(o.train, s, true);
      tables.push([tr[0], tr[2]] as uPlot.AlignedData, table(o.val, s, false));
      const color = COLORS[i % COLORS.length];
      series.push(
        { label: `${o.label}: train (smoothed)`, stroke: color, width: 1.5 },
        { label: `${o.label}: val`, stroke: color, width: 2, dash: [6, 4], points: { show: true, size: 5 } },
      );
    });
    // uPlot needs one x array for every series; join aligns the tables on the union of their x values.
    const aligned = uPlot.join(tables);
    const key = `${this.opts.x}|${this.opts.log}|${series.map((s) => String(s.label as string)).join('|')}`;
    if (this.plot && key === this.plotKey) {
      this.plot.setData(aligned);
      return;
    }
    this.plot?.destroy();
    this.plotKey = key;
    this.plot = new uPlot(
      {
        ...this.size(),
        series,
        scales: { x: { time: false }, y: this.opts.log ? { distr: 3 } : {} },
        axes: [{ label: X_TITLES[this.opts.x] }, { label: this.opts.log ? 'loss (log scale)' : 'loss', size: 60 }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        spanGaps: true,
      } as uPlot.Options,
      aligned,
      this.plotEl,
    );
  }

  private renderTable(val: Pt[]): void {
    const caption = document.createElement('caption');
    caption.textContent = 'Validation loss by update';
    const head = document.createElement('tr');
    for (const h of ['update', 'epoch', 'val loss']) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = h;
      head.append(th);
    }
    const rows = val.slice(-50).map((p) => {
      const tr = document.createElement('tr');
      for (const v of [String(p.update), p.epoch.toFixed(2), p.loss.toPrecision(4)]) {
        const td = document.createElement('td');
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    });
    this.table.replaceChildren(caption, head, ...rows);
  }
}

/** The same chart, for the newer call style. */
export function mountChart(el: HTMLElement): LossChart {
  return new LossChart(el);
}
