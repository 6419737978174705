/**
 * Validation results that mean something to a person: the task's headline metrics (precision,
 * recall, F1 and a confusion matrix for spam; phoneme and word error rates for g2p; perplexity for
 * language models) and the shown examples with right/wrong marks. A pure render of an eval event.
 */
import { html, nothing, render, type TemplateResult } from 'lit-html';
import type { EvalEvent, ShownExample } from '../../shared/progress';

/** How each metric is named for a person, and whether it reads as a percentage. */
const LABELS: Record<string, { label: string; percent: boolean; help: string }> = {
  'val/loss': { label: 'Validation loss', percent: false, help: 'cross-entropy on held-out data: lower is better' },
  'val/perplexity': {
    label: 'Perplexity',
    percent: false,
    help: 'how many characters the model hesitates between, on average: lower is better',
  },
  'val/accuracy': { label: 'Accuracy', percent: true, help: 'messages classified right' },
  'val/precision': { label: 'Precision', percent: true, help: 'of the messages called spam, the share that is spam' },
  'val/recall': { label: 'Recall', percent: true, help: 'of the spam, the share caught' },
  'val/f1': { label: 'F1', percent: true, help: 'the balance of precision and recall' },
  'val/per': {
    label: 'Phoneme error rate',
    percent: true,
    help: 'phoneme edits per reference phoneme: lower is better',
  },
  'val/wer': { label: 'Word error rate', percent: true, help: 'words not pronounced exactly right: lower is better' },
  'val/word_accuracy': { label: 'Words exactly right', percent: true, help: 'the complement of the word error rate' },
};

export function formatMetric(name: string, value: number): string {
  const l = LABELS[name];
  if (l?.percent) return `${(value * 100).toFixed(1)}%`;
  return value >= 100 ? value.toFixed(0) : value.toFixed(3);
}

function metrics(m: Record<string, number>): TemplateResult {
  return html`<dl class="metrics">
    ${Object.entries(m).map(
      ([k, v]) =>
        html`<div data-metric=${k} data-value=${String(v)}>
          <dt title=${LABELS[k]?.help ?? k}>${LABELS[k]?.label ?? k}</dt>
          <dd>${formatMetric(k, v)}</dd>
        </div>`,
    )}
  </dl>`;
}

function confusion(c: NonNullable<EvalEvent['confusion']>): TemplateResult {
  return html`<table class="confusion" id="confusion-matrix">
    <caption>
      Confusion matrix (validation): rows are the true class, columns the model's
    </caption>
    <thead>
      <tr>
        <th scope="col">true \\ predicted</th>
        ${c.classes.map((k) => html`<th scope="col">${k}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${c.matrix.map(
        (row, i) =>
          html`<tr>
            <th scope="row">${c.classes[i]}</th>
            ${row.map((n, j) => html`<td class=${i === j ? 'right' : 'wrong'} data-cell=${`${i},${j}`}>${n}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function mark(e: ShownExample): TemplateResult | typeof nothing {
  if (e.correct === undefined) return nothing;
  return e.correct
    ? html`<span class="mark right" aria-label="right">✓</span>`
    : html`<span class="mark wrong" aria-label="wrong">✗</span>`;
}

function example(e: ShownExample): TemplateResult {
  const prob = e.probability === undefined ? nothing : html` ${(e.probability * 100).toFixed(0)}%`;
  const input = e.input ? html`<span class="example-input">${e.input}</span> → ` : nothing;
  const expected =
    e.reference !== undefined && !e.correct
      ? html` <span class="muted">expected <code>${e.reference}</code></span>`
      : nothing;
  return html`<li data-correct=${e.correct === undefined ? 'none' : String(e.correct)}>
    ${mark(e)} ${input}<strong>${e.output || '∅'}</strong>${prob}${expected}
  </li>`;
}

/** Renders the latest evaluation: metrics, the confusion matrix if any, and the examples. */
export function renderResults(el: HTMLElement, e: EvalEvent | null): void {
  if (!e) {
    render(html`<p class="muted">Results appear at the first validation.</p>`, el);
    return;
  }
  const examples: ShownExample[] = e.examples ?? e.samples.map((s) => ({ input: '', output: s }));
  const right = examples.filter((x) => x.correct === true).length;
  const judged = examples.filter((x) => x.correct !== undefined).length;
  render(
    html`<p class="muted">At update ${e.counters.update}${e.epochEnd ? ' (end of an epoch)' : ''}.</p>
      ${metrics(e.metrics)} ${e.confusion ? confusion(e.confusion) : nothing}
      <h3>Examples${judged > 0 ? ` · ${right} of ${judged} right` : ''}</h3>
      <ul class="examples" id="result-examples">
        ${examples.map(example)}
      </ul>`,
    el,
  );
}
