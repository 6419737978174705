/**
 * The "Try the model" panel: one form per task (a prompt with temperature, top-k and length for
 * language models; a word for g2p; a message for spam; a source line for a TSV model), the source
 * that answers (the model training now or a checkpoint), and the answer. A pure render of plain
 * data and callbacks: the inputs a person types live in the DOM until they press the button.
 */
import { html, nothing, render, type TemplateResult } from 'lit-html';
import type { TaskName } from '../../shared/config';
import type { WireError } from '../../shared/errors';
import {
  TRY_LIMITS,
  tryInputKind,
  type ClassifyResult,
  type GenerateResult,
  type TranslateResult,
  type TryInput,
  type TryResult,
  type TrySource,
} from '../../shared/try';

/** One model that can answer: the one training now, or a checkpoint. */
export interface TrySourceOption {
  /** Stable key of the option (the select's value). */
  key: string;
  label: string;
  source: TrySource;
}

export interface TryPanelProps {
  /** The task and model kind of the run the panel is about; null before any run exists. */
  task: TaskName | null;
  modelKind: string;
  sources: TrySourceOption[];
  /** Key of the chosen source. */
  selected: string;
  busy: boolean;
  result: TryResult | null;
  error: WireError | null;
}

export interface TryPanelActions {
  onSelect(key: string): void;
  onTry(input: TryInput): void;
}

const TASK_HELP: Record<TaskName, string> = {
  names: 'Type the start of a name (or nothing) and let the model finish it.',
  text: 'Type the start of a text and let the model go on, in the style of your file.',
  g2p: 'Type an English word: the model spells out how it is said (ARPAbet phonemes).',
  spam: 'Paste a message: the model says how likely it is spam.',
};

function num(form: HTMLFormElement, name: string, fallback: number): number {
  const el = form.elements.namedItem(name) as HTMLInputElement | null;
  const v = el?.valueAsNumber;
  return v === undefined || Number.isNaN(v) ? fallback : v;
}

function text(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | null)?.value ?? '';
}

/** The input the form holds, as the trainer takes it. */
export function readTryInput(form: HTMLFormElement, kind: TryInput['kind']): TryInput {
  if (kind === 'generate')
    return {
      kind,
      prompt: text(form, 'prompt'),
      temperature: num(form, 'temperature', 0.8),
      topK: num(form, 'topK', 0),
      length: num(form, 'length', 40),
      seed: num(form, 'seed', 1),
    };
  return { kind, text: text(form, 'text') };
}

function inputs(task: TaskName, kind: TryInput['kind'], disabled: boolean): TemplateResult {
  if (kind === 'generate') {
    const words = task === 'names';
    return html`
      <label
        >${words ? 'Start of the name' : 'Prompt'}
        <input name="prompt" id="try-prompt" autocomplete="off" maxlength=${TRY_LIMITS.maxText} ?disabled=${disabled} />
      </label>
      <div class="try-settings">
        <label
          >Temperature
          <input
            name="temperature"
            type="number"
            min="0"
            max=${TRY_LIMITS.maxTemperature}
            step="0.1"
            value="0.8"
            aria-describedby="try-temp-help"
            ?disabled=${disabled}
          />
        </label>
        <label
          >Top-k
          <input
            name="topK"
            type="number"
            min="0"
            step="1"
            value="0"
            aria-describedby="try-topk-help"
            ?disabled=${disabled}
        /></label>
        <label
          >Length
          <input
            name="length"
            type="number"
            min="1"
            max=${TRY_LIMITS.maxLength}
            step="1"
            value=${words ? 24 : 200}
            ?disabled=${disabled}
        /></label>
        <label>Seed <input name="seed" type="number" step="1" value="1" ?disabled=${disabled} /></label>
      </div>
      <p class="muted" id="try-temp-help">
        Temperature 0 always picks the likeliest character; higher is more adventurous.
      </p>
      <p class="muted" id="try-topk-help">Top-k keeps only the k likeliest characters (0: all of them).</p>
    `;
  }
  if (kind === 'classify')
    return html`<label
      >Message
      <textarea name="text" id="try-text" rows="4" maxlength=${TRY_LIMITS.maxText} ?disabled=${disabled}></textarea>
    </label>`;
  return html`<label
    >${task === 'g2p' ? 'Word' : 'Source line'}
    <input
      name="text"
      id="try-text"
      autocomplete="off"
      spellcheck="false"
      maxlength=${TRY_LIMITS.maxText}
      ?disabled=${disabled}
    />
  </label>`;
}

const BUTTON: Record<TryInput['kind'], string> = {
  generate: 'Generate',
  translate: 'Answer',
  classify: 'Classify',
};

function origin(r: TryResult): TemplateResult {
  const where = r.origin.checkpoint
    ? html`checkpoint <code>${r.origin.checkpoint.split('/').pop()}</code>`
    : html`the model training now`;
  return html`<p class="muted">Answered by ${where}, at update ${r.origin.update}.</p>`;
}

function notes(n: string[]): TemplateResult | typeof nothing {
  return n.length === 0 ? nothing : html`<p class="muted">Input ${n.join('; ')}.</p>`;
}

function generated(r: GenerateResult): TemplateResult {
  return html`<p class="try-output" data-kind="generate">
      <span class="prompt">${r.prompt}</span
      ><strong id="try-generated">${r.text}</strong>${r.ended ? html`<span class="muted"> (end)</span>` : nothing}
    </p>
    ${notes(r.notes)}`;
}

function translated(r: TranslateResult): TemplateResult {
  const dict =
    r.dictionary === undefined
      ? r.origin.task === 'g2p'
        ? html`<p id="try-dictionary" data-known="false">The dictionary does not have “${r.input}”.</p>`
        : nothing
      : html`<p id="try-dictionary" data-known="true" data-matches=${String(!!r.matchesDictionary)}>
          Dictionary: <code>${r.dictionary.join(' | ')}</code>
          ${
            r.matchesDictionary
              ? html`<span class="mark right" aria-label="matches">✓ the model agrees</span>`
              : html`<span class="mark wrong" aria-label="differs">✗ the model differs</span>`
          }
        </p>`;
  return html`<p class="try-output" data-kind="translate">
      ${r.input} → <strong id="try-translation">${r.output || '∅ (nothing)'}</strong>
    </p>
    ${dict} ${notes(r.notes)}`;
}

function classified(r: ClassifyResult): TemplateResult {
  const p = r.positive;
  return html`<p class="try-output" data-kind="classify">
      ${
        p
          ? html`<strong id="try-probability" data-probability=${String(p.probability)}
                >${(p.probability * 100).toFixed(1)}% ${p.label}</strong
              >
              <meter min="0" max="1" .value=${p.probability} aria-label=${`${p.label} probability`}></meter>`
          : html`<strong>${r.predicted}</strong>`
      }
    </p>
    <ul class="muted">
      ${r.classes.map((c, i) => html`<li>${c}: ${(r.probabilities[i] * 100).toFixed(1)}%</li>`)}
    </ul>
    ${notes(r.notes)}`;
}

function answer(r: TryResult): TemplateResult {
  const body = r.kind === 'generate' ? generated(r) : r.kind === 'translate' ? translated(r) : classified(r);
  return html`${body}${origin(r)}`;
}

export function renderTryPanel(el: HTMLElement, props: TryPanelProps, actions: TryPanelActions): void {
  if (!props.task) {
    render(html`<p class="muted" id="try-empty">Start a run, or pick a checkpoint, to try its model here.</p>`, el);
    return;
  }
  const kind = tryInputKind(props.task, props.modelKind);
  const noSource = props.sources.length === 0;
  const submit = (e: Event) => {
    e.preventDefault();
    if (!props.busy && !noSource) actions.onTry(readTryInput(e.currentTarget as HTMLFormElement, kind));
  };
  render(
    html`
      <p class="muted">${TASK_HELP[props.task]}</p>
      <form id="try-form" data-kind=${kind} @submit=${submit} novalidate>
        <label
          >Model
          <select
            id="try-source"
            ?disabled=${noSource}
            @change=${(e: Event) => actions.onSelect((e.target as HTMLSelectElement).value)}
          >
            ${props.sources.map(
              (s) => html`<option value=${s.key} ?selected=${s.key === props.selected}>${s.label}</option>`,
            )}
          </select>
        </label>
        ${inputs(props.task, kind, false)}
        <button type="submit" id="try-button" ?disabled=${props.busy || noSource}>
          ${props.busy ? 'Answering…' : BUTTON[kind]}
        </button>
      </form>
      <div
        id="try-answer"
        aria-live="polite"
        data-state=${props.busy ? 'busy' : props.error ? 'error' : props.result ? 'answered' : 'empty'}
      >
        ${
          props.error
            ? html`<p class="banner error" role="alert" data-error=${props.error.name}>
                ${props.error.name}: ${props.error.message}
              </p>`
            : props.result
              ? answer(props.result)
              : nothing
        }
      </div>
    `,
    el,
  );
}

/** A run whose model can be tried: its task and model, and whether it is training now. */
export interface TryRun {
  runId: string;
  stageName?: string;
  task: TaskName;
  modelKind: string;
  training: boolean;
}

/** A checkpoint of a run, as the panel lists it. */
export interface TryCheckpoint {
  tag: string;
  update: number;
  /** A short reading of its metrics (`val/loss 1.234`), or ''. */
  metrics: string;
}

export interface TryPanelDeps {
  tryModel(request: { source: TrySource; input: TryInput }): Promise<TryResult>;
  /** A run's checkpoints that can answer, newest first. */
  listCheckpoints(runId: string, stageName?: string): Promise<TryCheckpoint[]>;
  /** The task and model of a stored run (from its checkpoints), for a checkpoint of a run not shown yet. */
  describeRun(runId: string, stageName?: string): Promise<{ task: TaskName; modelKind: string } | null>;
}

export interface TryPanelHandle {
  /** The run the page shows changed (a start, a resume, a stop). */
  setRun(run: TryRun | null): void;
  /** Lists the run's checkpoints again (after a save). */
  refresh(): Promise<void>;
  /** Chooses a checkpoint to answer (the checkpoint table's "Try" button). */
  tryFromCheckpoint(runId: string, stageName: string | undefined, tag: string): Promise<void>;
}

/**
 * Mounts the panel: its own small state (source, answer, busy) in this closure, drawn by
 * renderTryPanel on every change. The page's PageState can take this state over unchanged.
 */
export function mountTryPanel(el: HTMLElement, deps: TryPanelDeps): TryPanelHandle {
  let run: TryRun | null = null;
  let sources: TrySourceOption[] = [];
  let selected = 'training';
  let busy = false;
  let result: TryResult | null = null;
  let error: WireError | null = null;
  let asked = 0;

  const draw = () =>
    renderTryPanel(
      el,
      { task: run?.task ?? null, modelKind: run?.modelKind ?? '', sources, selected, busy, result, error },
      {
        onSelect: (key) => {
          selected = key;
          draw();
        },
        onTry: (input) => void ask(input),
      },
    );

  async function ask(input: TryInput): Promise<void> {
    const option = sources.find((s) => s.key === selected) ?? sources[0];
    if (!option) return;
    const mine = ++asked;
    busy = true;
    error = null;
    draw();
    try {
      const r = await deps.tryModel({ source: option.source, input });
      if (mine === asked) result = r;
    } catch (e) {
      if (mine === asked) {
        error = { name: (e as Error).name ?? 'Error', message: (e as Error).message ?? String(e) };
        result = null;
      }
    } finally {
      if (mine === asked) busy = false;
      draw();
    }
  }

  async function refresh(): Promise<void> {
    const r = run;
    if (!r) {
      sources = [];
      draw();
      return;
    }
    const listed = await deps.listCheckpoints(r.runId, r.stageName).catch(() => []);
    if (r !== run) return;
    sources = [
      ...(r.training ? [{ key: 'training', label: 'The model training now', source: 'training' as const }] : []),
      ...listed.map((c) => ({
        key: `cp:${c.tag}`,
        label: `Checkpoint ${c.tag} · update ${c.update}${c.metrics ? ` · ${c.metrics}` : ''}`,
        source: { runId: r.runId, stageName: r.stageName, tag: c.tag, task: r.task },
      })),
    ];
    if (!sources.some((s) => s.key === selected)) selected = sources[0]?.key ?? 'training';
    draw();
  }

  function setRun(next: TryRun | null): void {
    const sameRun = run && next && run.runId === next.runId && run.stageName === next.stageName;
    if (!sameRun) {
      result = null;
      error = null;
    }
    // While training, the live model answers first; after a stop, the newest checkpoint.
    if (next && (!sameRun || run?.training !== next.training)) selected = next.training ? 'training' : '';
    run = next;
    void refresh();
  }

  draw();
  return {
    setRun,
    refresh,
    async tryFromCheckpoint(runId, stageName, tag) {
      if (!run || run.runId !== runId || run.stageName !== stageName) {
        const d = await deps.describeRun(runId, stageName);
        if (!d) {
          error = { name: 'CheckpointNotFoundError', message: `no checkpoint of run ${runId} to try` };
          draw();
          return;
        }
        setRun({ runId, stageName, ...d, training: false });
      }
      await refresh();
      selected = `cp:${tag}`;
      draw();
      el.scrollIntoView?.({ block: 'nearest' });
    },
  };
}
