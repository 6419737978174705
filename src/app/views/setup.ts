/** The set-up form, task first: the task, a model that can learn it, a preset, then only that model's fields. */
import { html, nothing, type TemplateResult } from 'lit-html';
import {
  COMMON_MODEL_FIELDS,
  CONFIG_FIELDS,
  CONFIG_KEYS,
  FIELD_HELP,
  MODEL_FIELDS,
  PRESETS,
  TASKS,
  TASK_INFO,
  TASK_MODELS,
  type FieldGroup,
  type ModelKind,
  type RunConfig,
  type TaskName,
} from '../../shared/config';
import { isBusy, type Action, type PageState } from '../state/page-state';
import { chosenPreset, formConfig, formatDuration, presetEstimates } from '../state/selectors';

export interface SetupHandlers {
  dispatch: (a: Action) => void;
  /** The user chose (or dropped) a file for task `text`. */
  chooseFile: (file: File | undefined) => void;
}

/** The group each field is shown in; model fields not read by the chosen model are not shown at all. */
function fieldsOf(s: PageState, group: FieldGroup): (keyof RunConfig)[] {
  if (group === 'Model and data') {
    const model = s.texts.model as ModelKind;
    const own = MODEL_FIELDS[model] ?? [];
    return [...own, ...COMMON_MODEL_FIELDS];
  }
  return CONFIG_KEYS.filter((k) => CONFIG_FIELDS[k].group === group && k !== 'task' && k !== 'model');
}

function field(
  s: PageState,
  key: keyof RunConfig,
  problems: Partial<Record<keyof RunConfig, string>>,
  h: SetupHandlers,
) {
  const spec = CONFIG_FIELDS[key];
  const text = s.texts[key];
  const busy = isBusy(s);
  const message = s.urlProblems[key] ?? problems[key] ?? '';
  const invalid = problems[key] !== undefined;
  const help = FIELD_HELP[key];
  const describedBy = help ? `m-${key} h-${key}` : `m-${key}`;
  const edit = (value: string) => h.dispatch({ type: 'edit', key, text: value });
  let input: TemplateResult;
  if (spec.kind === 'choice') {
    input = html`<select
      id="f-${key}"
      name=${key}
      ?disabled=${busy}
      aria-describedby=${describedBy}
      @change=${(e: Event) => edit((e.target as HTMLSelectElement).value)}
    >
      ${spec.options.map((o) => html`<option value=${o} ?selected=${o === text}>${o}</option>`)}
    </select>`;
  } else if (spec.kind === 'bool') {
    input = html`<input
      type="checkbox"
      id="f-${key}"
      name=${key}
      .checked=${text === 'true'}
      ?disabled=${busy}
      aria-describedby=${describedBy}
      @change=${(e: Event) => edit(String((e.target as HTMLInputElement).checked))}
    />`;
  } else {
    input = html`<input
      type="text"
      id="f-${key}"
      name=${key}
      inputmode=${spec.kind === 'int' ? 'numeric' : spec.kind === 'float' ? 'decimal' : nothing}
      spellcheck="false"
      .value=${text}
      ?disabled=${busy}
      aria-invalid=${invalid ? 'true' : nothing}
      aria-describedby=${describedBy}
      @input=${(e: Event) => edit((e.target as HTMLInputElement).value)}
    />`;
  }
  return html`<div class="field">
    <label for="f-${key}">${spec.label}</label>
    ${input} ${help ? html`<span class="help" id="h-${key}">${help}</span>` : nothing}
    <span class="message" id="m-${key}">${message}</span>
  </div>`;
}

function taskPicker(s: PageState, h: SetupHandlers) {
  const busy = isBusy(s);
  return html`<fieldset class="tasks">
    <legend>1. Task</legend>
    ${TASKS.map((t: TaskName) => {
      const info = TASK_INFO[t];
      return html`<div class="task-card" data-task=${t}>
        <input
          type="radio"
          name="task"
          id="task-${t}"
          value=${t}
          .checked=${s.texts.task === t}
          ?disabled=${busy}
          aria-describedby="task-${t}-about"
          @change=${() => h.dispatch({ type: 'pick-task', task: t })}
        />
        <label for="task-${t}">${info.title}</label>
        <div id="task-${t}-about" class="about">
          <span>${info.sentence}</span>
          <span class="glimpse" aria-label="Examples">${info.glimpse.join(' · ')}</span>
        </div>
      </div>`;
    })}
  </fieldset>`;
}

function modelPicker(s: PageState, h: SetupHandlers) {
  const task = s.texts.task as TaskName;
  const models = TASK_MODELS[task] ?? [];
  const current = s.texts.model;
  const options: string[] = models.includes(current as ModelKind) ? [...models] : [...models, current];
  return html`<div class="field model-field">
    <label for="f-model">2. Model</label>
    <select
      id="f-model"
      name="model"
      ?disabled=${isBusy(s)}
      aria-describedby="h-model"
      @change=${(e: Event) => h.dispatch({ type: 'edit', key: 'model', text: (e.target as HTMLSelectElement).value })}
    >
      ${options.map(
        (m) =>
          html`<option value=${m} ?selected=${m === current}>
            ${m}${models.includes(m as ModelKind) ? '' : ' (cannot learn this task)'}
          </option>`,
      )}
    </select>
    <span class="help" id="h-model">Models that can learn ${TASK_INFO[task]?.title.toLowerCase() ?? task}.</span>
  </div>`;
}

function presetPicker(s: PageState, h: SetupHandlers) {
  const chosen = chosenPreset(s);
  const estimates = presetEstimates(s);
  return html`<fieldset class="presets">
    <legend>3. Size</legend>
    ${PRESETS.map((p) => {
      const est = estimates[p];
      return html`<label class="preset">
        <input
          type="radio"
          name="preset"
          value=${p}
          .checked=${chosen === p}
          ?disabled=${isBusy(s)}
          @change=${() => h.dispatch({ type: 'preset', preset: p })}
        />
        ${p}
        <span class="estimate" data-preset=${p}>${est === null ? '' : `~${formatDuration(est)}/epoch`}</span>
      </label>`;
    })}
    ${chosen === 'custom' ? html`<span class="muted">custom settings</span>` : nothing}
  </fieldset>`;
}

function userFileField(s: PageState, h: SetupHandlers) {
  const f = s.userFile;
  return html`<div
    class="field user-file"
    @dragover=${(e: DragEvent) => e.preventDefault()}
    @drop=${(e: DragEvent) => {
      e.preventDefault();
      h.chooseFile(e.dataTransfer?.files[0]);
    }}
  >
    <label for="f-user-file">Your own data: .txt, or .tsv of source&lt;TAB&gt;target</label>
    <input
      type="file"
      id="f-user-file"
      accept=".txt,.tsv,.text,text/plain,text/tab-separated-values"
      ?disabled=${isBusy(s)}
      aria-describedby="m-user-file"
      @change=${(e: Event) => h.chooseFile((e.target as HTMLInputElement).files?.[0])}
    />
    <span class="message" id="m-user-file">${f ? `${f.name}, ${(f.size / 1024).toFixed(1)} KB` : ''}</span>
  </div>`;
}

const FOLDED: FieldGroup[] = ['Checkpoints', 'Resume', 'Warm start'];

/** The task, model and preset pickers (above the controls). */
export function setupTop(s: PageState, h: SetupHandlers): TemplateResult {
  return html`${taskPicker(s, h)} ${s.texts.task === 'text' ? userFileField(s, h) : nothing}
    <div class="model-row">${modelPicker(s, h)} ${presetPicker(s, h)}</div>`;
}

/** The chosen model's fields and the other settings (below the controls). */
export function setupFields(s: PageState, h: SetupHandlers): TemplateResult {
  const { problems } = formConfig(s);
  const groupOpen = (g: FieldGroup) =>
    !FOLDED.includes(g) || fieldsOf(s, g).some((k) => problems[k] !== undefined || s.urlProblems[k] !== undefined);
  const title = (g: FieldGroup) => (g === 'Model and data' ? `${s.texts.model} settings` : g);
  return html`${(['Model and data', 'Optimization', ...FOLDED] as FieldGroup[]).map(
    (g) =>
      html`<details ?open=${groupOpen(g)} data-group=${g}>
        <summary>${title(g)}</summary>
        ${fieldsOf(s, g).map((k) => field(s, k, problems, h))}
      </details>`,
  )}`;
}
