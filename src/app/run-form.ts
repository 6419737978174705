/**
 * The run form, built from the config schema. Every value is checked as it is typed; a value that
 * is refused is shown with its reason and the run cannot start until it is fixed.
 */
import {
  CONFIG_FIELDS,
  CONFIG_KEYS,
  FIELD_GROUPS,
  type FieldGroup,
  configFromParams,
  configToParams,
  parseField,
  type ConfigProblem,
  type RunConfig,
} from '../shared/config';
import { setUserFile } from './user-file';

export class RunForm {
  private inputs = new Map<keyof RunConfig, HTMLInputElement | HTMLSelectElement>();
  private messages = new Map<keyof RunConfig, HTMLElement>();
  private groups = new Map<FieldGroup, HTMLElement>();
  private fileInput: HTMLInputElement | null = null;

  constructor(
    private readonly form: HTMLFormElement,
    private readonly onChange: (config: RunConfig | null) => void,
  ) {
    // The everyday settings are open; checkpoint, resume and warm-start options fold away.
    FIELD_GROUPS.forEach((group, i) => {
      const details = document.createElement('details');
      details.open = i < 2;
      const summary = document.createElement('summary');
      summary.textContent = group;
      details.append(summary);
      this.form.append(details);
      this.groups.set(group, details);
    });
    for (const key of CONFIG_KEYS) this.addField(key);
    this.addUserFile();
  }

  /** 'Your own data': a file picker that also takes a dropped file (task `text`). */
  private addUserFile(): void {
    const row = document.createElement('div');
    row.className = 'field user-file';
    const label = document.createElement('label');
    label.htmlFor = 'f-user-file';
    label.textContent = 'Your own data (task text): .txt, or .tsv of source<TAB>target';
    const input = document.createElement('input');
    input.type = 'file';
    input.id = 'f-user-file';
    input.accept = '.txt,.tsv,.text,text/plain,text/tab-separated-values';
    const message = document.createElement('span');
    message.className = 'message';
    message.id = 'm-user-file';
    input.setAttribute('aria-describedby', message.id);
    const take = async (file: File | undefined) => {
      if (!file) return;
      setUserFile({ name: file.name, bytes: await file.arrayBuffer() });
      message.textContent = `${file.name}, ${(file.size / 1024).toFixed(1)} KB`;
    };
    input.addEventListener('change', () => void take(input.files?.[0]));
    row.addEventListener('dragover', (e) => e.preventDefault());
    row.addEventListener('drop', (e) => {
      e.preventDefault();
      void take(e.dataTransfer?.files[0]);
    });
    row.append(label, input, message);
    this.groups.get('Model and data')!.append(row);
    this.fileInput = input;
  }

  private value(key: keyof RunConfig): string {
    const input = this.inputs.get(key)!;
    return input instanceof HTMLInputElement && input.type === 'checkbox' ? String(input.checked) : input.value;
  }

  private addField(key: keyof RunConfig): void {
    const spec = CONFIG_FIELDS[key];
    const row = document.createElement('div');
    row.className = 'field';
    const label = document.createElement('label');
    label.htmlFor = `f-${key}`;
    label.textContent = spec.label;
    let input: HTMLInputElement | HTMLSelectElement;
    if (spec.kind === 'choice') {
      input = document.createElement('select');
      for (const o of spec.options) input.append(new Option(o, o));
    } else if (spec.kind === 'bool') {
      input = document.createElement('input');
      input.type = 'checkbox';
    } else if (spec.kind === 'text') {
      input = document.createElement('input');
      input.type = 'text';
      input.spellcheck = false;
    } else {
      input = document.createElement('input');
      input.type = 'text';
      input.inputMode = spec.kind === 'int' ? 'numeric' : 'decimal';
    }
    input.id = `f-${key}`;
    input.name = key;
    const message = document.createElement('span');
    message.className = 'message';
    message.id = `m-${key}`;
    input.setAttribute('aria-describedby', message.id);
    input.addEventListener(spec.kind === 'bool' ? 'change' : 'input', () => this.onChange(this.read()));
    row.append(label, input, message);
    this.groups.get(spec.group)!.append(row);
    this.inputs.set(key, input);
    this.messages.set(key, message);
  }

  /** Shows a config; problems (e.g. from a bad URL) are shown beside their fields. */
  show(config: RunConfig, problems: ConfigProblem[] = []): void {
    for (const key of CONFIG_KEYS) {
      const input = this.inputs.get(key)!;
      if (input instanceof HTMLInputElement && input.type === 'checkbox') input.checked = config[key] === true;
      else input.value = String(config[key]);
    }
    this.clearMessages();
    for (const p of problems) {
      this.setMessage(p.key, `${p.message}; the default ${JSON.stringify(config[p.key])} is used`, false);
      (this.inputs.get(p.key)!.closest('details') as HTMLDetailsElement).open = true;
    }
  }

  /** The config in the form, or null when a field is refused (its message says why). */
  read(): RunConfig | null {
    const params = new URLSearchParams();
    for (const key of CONFIG_KEYS) params.set(key, this.value(key));
    this.clearMessages();
    let ok = true;
    for (const key of CONFIG_KEYS) {
      const parsed = parseField(key, this.value(key));
      if (!parsed.ok) {
        ok = false;
        this.setMessage(key, parsed.message, true);
      }
    }
    return ok ? configFromParams(params).config : null;
  }

  setDisabled(disabled: boolean): void {
    for (const input of this.inputs.values()) input.disabled = disabled;
    if (this.fileInput) this.fileInput.disabled = disabled;
  }

  private clearMessages(): void {
    for (const key of CONFIG_KEYS) {
      this.messages.get(key)!.textContent = '';
      this.inputs.get(key)!.removeAttribute('aria-invalid');
    }
  }

  private setMessage(key: keyof RunConfig, text: string, invalid: boolean): void {
    this.messages.get(key)!.textContent = text;
    if (invalid) this.inputs.get(key)!.setAttribute('aria-invalid', 'true');
  }
}

/** Keeps the URL in step with the form, so a link reproduces the setup. */
export function writeConfigToUrl(config: RunConfig): void {
  const url = new URL(location.href);
  url.search = configToParams(config).toString();
  history.replaceState(null, '', url);
}
