/** The error banner and the run banner (recovery, stop, read-only, nothing to resume), with what each offers. */
import { html, nothing, type TemplateResult } from 'lit-html';
import type { PageState } from '../state/page-state';
import { bannerText } from '../state/selectors';

export interface BannerHandlers {
  /** Continue the stopped run from its checkpoint. */
  continueRun: () => void;
  /** Resume the cut-off run (after "ask me first", or taking over from a closed tab). */
  resumeCutOff: () => void;
  /** Nothing to resume: begin a new run with the form's settings. */
  freshStart: () => void;
  dismiss: () => void;
}

export function errorBanner(s: PageState): TemplateResult | typeof nothing {
  return s.error ? html`${s.error.name}: ${s.error.message}` : nothing;
}

export function runBanner(s: PageState, h: BannerHandlers): TemplateResult | typeof nothing {
  const b = s.banner;
  if (!b) return nothing;
  const dismiss = html`<button type="button" class="secondary" @click=${h.dismiss}>Dismiss this message</button>`;
  let actions: TemplateResult | typeof nothing = nothing;
  switch (b.kind) {
    case 'stopped':
      actions = html`<button type="button" @click=${h.continueRun}>Continue this run</button> ${dismiss}`;
      break;
    case 'cut-off':
      actions = html`<button type="button" @click=${h.resumeCutOff}>Resume it</button> ${dismiss}`;
      break;
    case 'lock-released':
      actions = html`<button type="button" @click=${h.resumeCutOff}>Take over and resume</button>`;
      break;
    case 'nothing-to-resume':
      actions = html`<button type="button" @click=${h.freshStart}>Train a new run with these settings</button>
        ${dismiss}`;
      break;
    case 'recovered':
      actions = dismiss;
      break;
    case 'read-only':
      break;
  }
  return html`<span>${bannerText(s)}</span> ${actions}`;
}
