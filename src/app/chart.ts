/** A small canvas line chart of training and validation loss; redrawn at most once a frame. */
import type { LossPoint } from '../shared/progress';

const MAX_POINTS = 4000;

export class LossChart {
  private train: LossPoint[] = [];
  private val: LossPoint[] = [];
  private scheduled = false;

  constructor(private readonly canvas: HTMLCanvasElement) {}

  reset(): void {
    this.train = [];
    this.val = [];
    this.schedule();
  }

  addTrain(points: LossPoint[]): void {
    this.train.push(...points);
    // Keep the chart cheap on long runs: thin the history by half when it grows too long.
    if (this.train.length > MAX_POINTS) this.train = this.train.filter((_, i) => i % 2 === 0);
    this.schedule();
  }

  addVal(point: LossPoint): void {
    this.val.push(point);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // rAF only paints: training never waits on it, so a hidden tab just paints later.
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  private draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    const all = [...this.train, ...this.val];
    if (all.length === 0) return;
    const pad = 36;
    const maxU = Math.max(...all.map((p) => p.update), 1);
    const losses = all.map((p) => p.loss).filter(Number.isFinite);
    const lo = Math.min(...losses);
    const hi = Math.max(...losses);
    const span = hi - lo || 1;
    const x = (u: number) => pad + ((width - pad - 8) * u) / maxU;
    const y = (l: number) => 8 + (height - pad - 8) * (1 - (l - lo) / span);
    ctx.strokeStyle = '#999';
    ctx.beginPath();
    ctx.moveTo(pad, 8);
    ctx.lineTo(pad, height - pad);
    ctx.lineTo(width - 8, height - pad);
    ctx.stroke();
    ctx.fillStyle = '#333';
    ctx.font = '11px sans-serif';
    ctx.fillText(hi.toFixed(2), 2, 14);
    ctx.fillText(lo.toFixed(2), 2, height - pad);
    ctx.fillText(`update ${maxU}`, width - 80, height - 12);
    const line = (pts: LossPoint[], color: string) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      pts.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.update), y(p.loss)) : ctx.lineTo(x(p.update), y(p.loss))));
      ctx.stroke();
    };
    line(this.train, '#aecde6');
    line(smooth(this.train), '#1f77b4');
    line(this.val, '#d62728');
  }
}

/** An exponential moving average, so the trend shows through single-batch noise. */
function smooth(points: LossPoint[], beta = 0.95): LossPoint[] {
  let avg = 0;
  return points.map((p, i) => {
    avg = beta * avg + (1 - beta) * p.loss;
    return { update: p.update, loss: avg / (1 - beta ** (i + 1)) };
  });
}
