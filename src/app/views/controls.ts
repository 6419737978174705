/** Start, Pause and Stop, why Start is off, the epoch estimate, and the status with its progress bar. */
import { html, nothing, type TemplateResult } from 'lit-html';
import { timingShapeKey } from '../../shared/config';
import { isBusy, type PageState } from '../state/page-state';
import {
  canPause,
  canStop,
  detailText,
  epochSeconds,
  formConfig,
  formatDuration,
  startBlocked,
  statusText,
} from '../state/selectors';

export interface ControlHandlers {
  start: () => void;
  pauseOrResume: () => void;
  stop: () => void;
  measureAgain: () => void;
  autoResume: (value: 'auto' | 'prompt') => void;
}

function estimate(s: PageState): TemplateResult | typeof nothing {
  const { config } = formConfig(s);
  if (!config) return nothing;
  const perEpoch = epochSeconds(s, config);
  const cached = s.timings[timingShapeKey(config)];
  const text =
    perEpoch === null
      ? config.backend === 'auto'
        ? 'Time per epoch: not measured on this device yet; the backends are timed in the first seconds after Start.'
        : 'Time per epoch: measured once a run of this shape has timed its backends (backend auto).'
      : `About ${formatDuration(perEpoch)} per epoch on this device (${cached.backend}: ${cached.msPerStep.toFixed(1)} ms a step × ${cached.updatesPerEpoch} updates, measured ${new Date(cached.at).toLocaleString()}).`;
  return html`<p id="estimate" class="muted">${text}</p>`;
}

export function controls(s: PageState, h: ControlHandlers, autoResume: 'auto' | 'prompt'): TemplateResult {
  const blocked = startBlocked(s);
  const p = s.progress;
  const task = s.texts.task;
  const paused = s.trainer === 'paused';
  const { config } = formConfig(s);
  const cached = config ? s.timings[timingShapeKey(config)] : undefined;
  return html`<div class="buttons">
      <button id="start" type="button" ?disabled=${blocked !== null} aria-describedby="start-reason" @click=${h.start}>
        Start training ${task}
      </button>
      <button id="pause" type="button" ?disabled=${!canPause(s)} @click=${h.pauseOrResume}>
        ${paused ? 'Resume training' : 'Pause training'}
      </button>
      <button id="stop" type="button" ?disabled=${!canStop(s)} @click=${h.stop}>Stop training</button>
    </div>
    <p
      id="start-reason"
      class="reason"
      ?hidden=${blocked === null || isBusy(s)}
      .textContent=${blocked === null ? '' : `Start is off: ${blocked}.`}
    ></p>
    <div
      id="status"
      role="status"
      aria-live="polite"
      data-state=${s.trainer}
      data-update=${p ? String(p.counters.update) : nothing}
      data-loss=${p ? String(p.loss ?? '') : nothing}
      data-num-tensors=${p ? String(p.numTensors) : nothing}
      data-val-loss=${s.evaluation ? String(s.evaluation.metrics['val/loss'] ?? '') : nothing}
      data-val-update=${s.evaluation ? String(s.evaluation.counters.update) : nothing}
      .textContent=${statusText(s)}
    ></div>
    <progress id="progress" max="1" .value=${p?.fraction ?? 0} aria-label="Training progress"></progress>
    <p id="progress-detail" class="muted" .textContent=${detailText(s)}></p>
    ${estimate(s)}
    <p class="row">
      <button
        id="measure-again"
        type="button"
        class="secondary"
        ?disabled=${!cached || s.trainer === 'preparing'}
        @click=${h.measureAgain}
      >
        Measure backends again
      </button>
      <label for="auto-resume">After a crash</label>
      <select
        id="auto-resume"
        @change=${(e: Event) => h.autoResume((e.target as HTMLSelectElement).value === 'prompt' ? 'prompt' : 'auto')}
      >
        <option value="auto" ?selected=${autoResume === 'auto'}>resume the run at once</option>
        <option value="prompt" ?selected=${autoResume === 'prompt'}>ask me first</option>
      </select>
    </p>`;
}
