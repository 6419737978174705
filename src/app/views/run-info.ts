/** The run's details: which run, its checkpoints, validation metrics, samples and backends. */
import { html, nothing, type TemplateResult } from 'lit-html';
import { BACKENDS, type BackendName } from '../../shared/config';
import type { BackendReport } from '../../shared/progress';
import type { PageState } from '../state/page-state';
import { checkpointText, runText } from '../state/selectors';

const metricKey = (k: string) => k.replace(/[^A-Za-z0-9]/g, '_');

/** Above the chart: the run, the checkpoint line, the metrics and a save warning. */
export function runLines(s: PageState): TemplateResult {
  const metrics = s.evaluation ? Object.entries(s.evaluation.metrics) : [];
  const c = s.checkpoint;
  return html`<p
      id="run-line"
      class="muted"
      data-run-id=${s.run?.runId ?? nothing}
      title=${s.run?.warmStart ? JSON.stringify(s.run.warmStart, null, 1) : nothing}
      .textContent=${runText(s)}
    ></p>
    <p
      id="checkpoint-line"
      class="muted"
      data-tag=${c && c.kind !== 'resumed' ? c.tag : nothing}
      data-update=${c && c.kind !== 'resumed' ? String(c.update) : nothing}
      data-stores=${c?.stores ? c.stores.join(' ') : nothing}
      data-saving=${String(s.saving)}
      .textContent=${checkpointText(s)}
    ></p>
    <p id="metrics-line" class="muted">
      ${metrics.length > 0 ? 'Validation: ' : ''}${metrics.map(([k, v], i) => html`${i > 0 ? ' · ' : ''}<span data-metric=${metricKey(k)}>${k} ${v.toFixed(4)}</span>`)}
    </p>
    <p id="save-warning" class="banner" aria-live="polite" ?hidden=${!s.saveWarning}>${s.saveWarning ?? ''}</p>`;
}

function backendItem(report: BackendReport | null, b: BackendName): TemplateResult {
  if (!report) return html`<li data-backend=${b}>${b}: not tried yet</li>`;
  const t = report.timings[b];
  const timing = t === undefined ? '' : ` — ${t.toFixed(1)} ms/step`;
  const reason = report.reasons[b];
  let text =
    b === report.backend
      ? `${b}: in use${timing}`
      : reason === undefined
        ? `${b}: not tried`
        : `${b}: ${reason}${reason.includes('ms a step') ? '' : timing}`;
  const w = b === 'wasm' ? report.wasmThreads : undefined;
  if (w)
    text += ` · ${w.threads} thread${w.threads === 1 ? '' : 's'}${w.threadedBuild ? ', threaded build' : ''}${w.why ? ` (${w.why})` : ''}`;
  return html`<li
    data-backend=${b}
    data-ms=${t === undefined ? nothing : String(t)}
    data-in-use=${b === report.backend ? 'true' : nothing}
    data-threads=${w ? String(w.threads) : nothing}
    data-threaded-build=${w ? String(w.threadedBuild) : nothing}
  >
    ${text}
  </li>`;
}

/** Below the chart: samples and the backends. */
export function runExtras(s: PageState): TemplateResult {
  const r = s.backend;
  return html`<h3>Samples from the model</h3>
    <ul id="samples" aria-live="off">
      ${(s.evaluation?.samples ?? []).map((x) => html`<li>${x || '(empty)'}</li>`)}
    </ul>
    <h3>Backends</h3>
    ${
      r?.cachedAt
        ? html`<p class="muted" id="backends-cached">
            Timings measured ${new Date(r.cachedAt).toLocaleString()} on this device for this model shape, reused.
          </p>`
        : nothing
    }
    <ul id="backends">
      ${BACKENDS.map((b) => backendItem(r, b))}
    </ul>`;
}

/** The header's one-line backend summary. */
export function backendLine(s: PageState): string {
  const r = s.backend;
  if (!r) return 'Backend: not chosen yet';
  const soft = r.backend === 'webgpu' && r.webgpuFallbackAdapter ? ' (software adapter)' : '';
  return `Backend: ${r.backend}${soft}`;
}
