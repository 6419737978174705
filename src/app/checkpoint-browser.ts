/**
 * The checkpoint browser: `output_dir / run / stage / checkpoints` as the stores list them, with
 * delete (asks first), resume and warm start (they fill the run form), export (the `.th` files
 * or one `.zip`, streamed to disk through the File System Access pickers where the browser has
 * them) and import (file picker, folder picker, drag and drop). The page reads the stores
 * directly; only the model-shape check of an import goes through the worker (it holds tfjs).
 *
 * Each run shows its name (the user may rename it), task, model and date from its run record
 * (run-record-store.ts), and a "Compare" box that lays its history over the chart. The metrics
 * column reads each checkpoint's trainer part (`metrics`, else its best-metric trackers) and, for
 * weights-only `best.*` checkpoints, the run's log at that update. Every button's accessible name
 * says what it acts on; a resume or warm start confirms in a line under its own row; runs the
 * user folded stay folded across redraws.
 */
import './history.css';
import { decodeTrainerPart, toJson, type JsonValue } from '../checkpoint/contents';
import { exportFiles, exportZipChunks, exportZipName, historyFiles, type ExportFile } from '../checkpoint/export';
import { createRunRecordStore, type RunRecordStore } from '../checkpoint/run-record-store';
import { MAX_RUN_NAME, type RunRecord, type ValEntry } from '../checkpoint/run-log';
import type { CompareRun } from './run-history';
import { applyImport, planImport, type ImportSource, type ShapesFor } from '../checkpoint/import';
import { formatTag, tags } from '../checkpoint/naming';
import {
  createCheckpointStore,
  type DualCheckpointMeta,
  type DualCheckpointStore,
} from '../checkpoint/store/dual-store';
import { requestPersistence, storageStatus } from '../checkpoint/store/quota';
import { readTorchFile } from '../checkpoint/torch/index';
import { DEFAULT_CONFIG, validateConfig, type RunConfig } from '../shared/config';
import { toWireError } from '../shared/errors';
import type { RunForm } from './run-form';
import { runIsLockedElsewhere } from './run-registry';

export interface CheckpointBrowserOptions {
  root: HTMLElement;
  form: RunForm;
  /** Parameter shapes of a model config (the worker answers); throws for an unknown model. */
  shapesFor: ShapesFor;
  /** Called after the browser filled the form (resume, warm start, loaded config). */
  onFormFilled: (config: RunConfig) => void;
  /**
   * Whether this tab trains the run and holds it paused (a full disk): then no save is in
   * flight, and deleting its old checkpoints is the way out the disk-full message offers.
   */
  ownRunPaused?: (runId: string) => boolean;
  /** The runs picked to compare ([] when none): the page lays their histories over the chart. */
  onCompare?: (runs: CompareRun[]) => void;
  /** "Try": the Try panel answers from this checkpoint. */
  onTry?: (runId: string, stageName: string | undefined, tag: string) => void;
}

// The File System Access API's pickers: Chromium has them, TypeScript's DOM lib does not yet.
interface Writable {
  write(data: BufferSource | Blob | string): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
interface FileHandleLike {
  kind: 'file';
  name: string;
  getFile(): Promise<File>;
  createWritable(): Promise<Writable>;
}
interface DirHandleLike {
  kind: 'directory';
  name: string;
  values(): AsyncIterable<FileHandleLike | DirHandleLike>;
  getFileHandle(name: string, o: { create: boolean }): Promise<FileHandleLike>;
}
interface PickerWindow {
  showSaveFilePicker?: (o: {
    suggestedName: string;
    types?: { description: string; accept: Record<string, string[]> }[];
  }) => Promise<FileHandleLike>;
  showDirectoryPicker?: (o: { mode: 'readwrite' }) => Promise<DirHandleLike>;
}

let instance: CheckpointBrowser | null = null;

/** Re-reads the stores and redraws (called when the worker reports a save). Cheap: metadata only. */
export function refresh(): void {
  instance?.scheduleRefresh();
}

/** Builds the browser in its section; call once. */
export function initCheckpointBrowser(opts: CheckpointBrowserOptions): void {
  instance = new CheckpointBrowser(opts);
}

const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attrs: Record<string, string> = {},
): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

class CheckpointBrowser {
  private readonly store: DualCheckpointStore = createCheckpointStore();
  private readonly tree: HTMLElement;
  private readonly storageLine: HTMLElement;
  private readonly result: HTMLElement;
  private readonly format: HTMLSelectElement;
  private readonly records: RunRecordStore = createRunRecordStore();
  private pending: ReturnType<typeof setTimeout> | null = null;
  private metas: DualCheckpointMeta[] = [];
  private runRecords = new Map<string, RunRecord>();
  /** Runs the user folded (by `<output_dir>/<run_id>`): a redraw keeps them folded. */
  private readonly folded = new Set<string>();
  /** Runs picked to compare, by `<output_dir>/<run_id>`. */
  private readonly compared = new Set<string>();
  /** Metrics per checkpoint, by key and generation (a part's bytes never change under one generation). */
  private readonly metricsCache = new Map<string, string>();
  /** Val entries of each stage's log, by `<output_dir>/<run_id>/<stage>`, for weights-only best checkpoints. */
  private valLogs = new Map<string, ValEntry[]>();
  /** A confirmation shown under a checkpoint's row (resume, warm start), by checkpoint key. */
  private rowNote: { key: string; text: string } | null = null;
  /** A name being typed for a run (by `<output_dir>/<run_id>`): a redraw while training saves keeps it. */
  private renaming: { path: string; value: string } | null = null;

  constructor(private readonly o: CheckpointBrowserOptions) {
    const q = <T extends HTMLElement>(sel: string) => o.root.querySelector(sel) as T;
    this.tree = q('#checkpoint-tree');
    this.storageLine = q('#storage-line');
    this.result = q('#import-result');
    this.format = q<HTMLSelectElement>('#export-format');
    const files = q<HTMLInputElement>('#import-files');
    const folder = q<HTMLInputElement>('#import-folder');
    for (const input of [files, folder]) {
      input.addEventListener('change', () => {
        const list = [...(input.files ?? [])];
        input.value = '';
        void this.importFiles(list.map((f) => ({ file: f, path: f.webkitRelativePath || f.name })));
      });
    }
    q<HTMLButtonElement>('#export-config').addEventListener('click', () => {
      const config = o.form.read();
      if (config) void this.run(() => this.saveJson(`${config.run_id || 'run'}-config.json`, config));
    });
    const load = q<HTMLInputElement>('#load-config');
    load.addEventListener('change', () => {
      const f = load.files?.[0];
      load.value = '';
      if (f) void this.run(() => this.loadConfig(f));
    });
    document.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    document.addEventListener('drop', (e) => {
      // A drop that another control handled (the form's own-data field) is not an import.
      if (e.defaultPrevented || !e.dataTransfer) return;
      e.preventDefault();
      void this.run(async () => this.importDropped(await droppedFiles(e.dataTransfer!)));
    });
    void requestPersistence()
      .catch(() => false)
      .then(() => this.scheduleRefresh(0));
  }

  scheduleRefresh(delay = 300): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.redraw();
    }, delay);
  }

  /** Runs a user action; its failure is shown plainly (a cancelled picker is not a failure). */
  private async run(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (e) {
      const err = toWireError(e);
      if (err.name === 'AbortError') return;
      this.say('failed', `${err.name}: ${err.message}`, err.name);
    }
  }

  private say(state: string, text: string, errorName?: string, items: { text: string; name?: string }[] = []): void {
    this.result.dataset.state = state;
    // A row's confirmation lasts until the panel reports something else.
    if (state !== 'filled' && this.rowNote) {
      this.rowNote = null;
      this.tree.querySelector('tr.row-note')?.remove();
    }
    if (errorName) this.result.dataset.errorName = errorName;
    else delete this.result.dataset.errorName;
    this.result.replaceChildren(el('p', text));
    if (items.length) {
      const ul = el('ul');
      for (const i of items) ul.append(el('li', i.text, i.name ? { 'data-error-name': i.name } : {}));
      this.result.append(ul);
    }
  }

  private async redraw(): Promise<void> {
    try {
      this.metas = await this.store.list();
    } catch (e) {
      const err = toWireError(e);
      this.tree.replaceChildren(el('p', `The checkpoint stores cannot be listed: ${err.name}: ${err.message}`));
      return;
    }
    this.tree.dataset.count = String(this.metas.length);
    try {
      this.runRecords = new Map((await this.records.listRecords()).map((r) => [`${r.outputDir}/${r.runId}`, r]));
    } catch {
      this.runRecords = new Map(); // the panel still lists checkpoints; runs show their ids
    }
    this.renderTree();
    void this.fillMetrics();
    try {
      const s = await storageStatus();
      this.storageLine.textContent = `Storage: ${formatBytes(s.usage)} used of ${formatBytes(s.quota)} · ${s.persisted ? 'persistent' : 'not persistent: the browser may evict it under storage pressure'}`;
      this.storageLine.dataset.usage = String(s.usage);
      this.storageLine.dataset.quota = String(s.quota);
    } catch {
      this.storageLine.textContent = 'Storage: unknown';
    }
  }

  private renderTree(): void {
    if (this.metas.length === 0) {
      this.renaming = null;
      this.tree.replaceChildren(el('p', 'No checkpoints yet.', { class: 'muted' }));
      return;
    }
    // A redraw comes with every save while a run trains: the control in use keeps the focus, and
    // the name field its caret, so neither a keyboard user nor someone typing loses their place.
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && this.tree.contains(active) ? active : null;
    const focusLabel = focused?.getAttribute('aria-label') ?? null;
    const caret =
      focused instanceof HTMLInputElement && focused.type === 'text'
        ? ([focused.selectionStart, focused.selectionEnd] as const)
        : null;
    const runs = new Map<string, DualCheckpointMeta[]>();
    for (const m of this.metas) {
      const k = `${m.id.outputDir}/${m.id.runId}`;
      runs.set(k, [...(runs.get(k) ?? []), m]);
    }
    const newest = (ms: DualCheckpointMeta[]) => Math.max(...ms.map((m) => m.createdAt));
    const nodes: HTMLElement[] = [];
    for (const [path, ms] of [...runs].sort((a, b) => newest(b[1]) - newest(a[1]))) {
      const { runId, outputDir } = ms[0].id;
      const rec = this.runRecords.get(path);
      const name = rec?.name ?? runId;
      // The run's name, facts and actions stay in view when its checkpoints are folded; the fold's
      // <summary> holds text only (controls inside a summary are nested interactive content).
      const box = el('div', undefined, { class: 'ckpt-run', 'data-run': runId, 'data-run-name': name });
      const details = el('details', undefined, { class: 'ckpt-run-checkpoints' });
      details.open = !this.folded.has(path);
      details.addEventListener('toggle', () => {
        if (details.open) this.folded.delete(path);
        else this.folded.add(path);
      });
      const head = el('div', undefined, { class: 'run-head' });
      const title = el('span', name, { class: 'run-name' });
      const facts = [
        rec?.task || ms[0].id.modelName,
        rec?.model,
        new Date(rec?.createdAt ?? Math.min(...ms.map((m) => m.createdAt))).toLocaleString(),
        `${ms.length} checkpoint${ms.length === 1 ? '' : 's'}`,
        formatBytes(ms.reduce((n, m) => n + size(m), 0)),
      ].filter(Boolean);
      const info = el('span', ` · ${facts.join(' · ')}${name !== runId ? ` · id ${runId}` : ''} `, {
        class: 'run-facts',
        title: path,
      });
      const compare = el('input', undefined, {
        type: 'checkbox',
        'data-action': 'compare',
        'aria-label': `Compare run ${name} on the chart`,
      });
      compare.checked = this.compared.has(path);
      compare.addEventListener('change', () => {
        if (compare.checked) this.compared.add(path);
        else this.compared.delete(path);
        this.emitCompare();
      });
      const compareLabel = el('label', undefined, { class: 'compare' });
      compareLabel.append(compare, ' compare');
      head.append(
        title,
        info,
        compareLabel,
        this.button(
          'Rename',
          'rename-run',
          () => this.startRename(head, outputDir, runId, name, ms),
          undefined,
          `Rename run ${name}`,
        ),
        this.button('Export run', 'export-run', () => this.exportRun(ms), undefined, `Export run ${name}`),
        this.button(
          'Config',
          'export-run-config',
          () => this.exportRunConfig(ms),
          "Save the run's settings as JSON",
          `Export the config of run ${name}`,
        ),
        this.button(
          'Delete run',
          'delete-run',
          () => this.deleteRun(runId, outputDir),
          undefined,
          `Delete run ${name}`,
        ),
      );
      const count = `${ms.length} checkpoint${ms.length === 1 ? '' : 's'}`;
      details.append(el('summary', `${count} of run ${name}`));
      box.append(head, details);
      const stages = new Map<string, DualCheckpointMeta[]>();
      for (const m of ms) stages.set(m.id.stageName ?? '', [...(stages.get(m.id.stageName ?? '') ?? []), m]);
      for (const [stage, list] of stages) {
        const stageHead = el('h3', stage ? `stage ${stage} ` : '(no stage) ', { 'data-stage': stage });
        stageHead.append(
          this.button(
            'Delete stage',
            'delete-stage',
            () => this.deleteStage(runId, stage || undefined, outputDir),
            undefined,
            `Delete stage ${stage || '(none)'} of run ${name}`,
          ),
        );
        // The table scrolls inside its own box on a narrow screen; the page never scrolls sideways.
        const wrap = el('div', undefined, { class: 'ckpt-table-wrap' });
        wrap.append(
          this.table(
            list.sort((a, b) => b.counters.update - a.counters.update || (a.key < b.key ? -1 : 1)),
            name,
          ),
        );
        details.append(stageHead, wrap);
      }
      nodes.push(box);
      if (this.renaming?.path === path) this.startRename(head, outputDir, runId, name, ms, false);
    }
    if (this.renaming && !runs.has(this.renaming.path)) this.renaming = null; // the run is gone
    this.tree.replaceChildren(...nodes);
    if (focusLabel === null) return;
    const again = this.labelled(focusLabel);
    again?.focus();
    if (caret && again instanceof HTMLInputElement) again.setSelectionRange(caret[0], caret[1]);
  }

  /** The panel's first control with this accessible name (controls are found again by it after a redraw). */
  private labelled(label: string): HTMLElement | undefined {
    return [...this.tree.querySelectorAll<HTMLElement>('[aria-label]')].find(
      (e) => e.getAttribute('aria-label') === label,
    );
  }

  private table(list: DualCheckpointMeta[], runName: string): HTMLTableElement {
    const table = el('table', undefined, { class: 'ckpt-table' });
    const head = el('tr');
    for (const h of ['checkpoint', 'counters', 'metrics', 'size', 'saved', 'stores', 'actions'])
      head.append(el('th', h, { scope: 'col' }));
    table.append(head);
    for (const m of list) {
      const tag = formatTag(m.id.tag);
      const model = m.id.modelInfo ? `${m.id.modelName}_${m.id.modelInfo}` : m.id.modelName;
      const tr = el('tr', undefined, {
        'data-key': m.key,
        'data-run': m.id.runId,
        'data-stage': m.id.stageName ?? '',
        'data-tag': tag,
        'data-update': String(m.counters.update),
      });
      const c = m.counters;
      const metrics =
        this.metricsCache.get(metricsKey(m)) ??
        Object.entries(m.metrics)
          .map(([k, v]) => `${k} ${v.toPrecision(4)}`)
          .join(', ');
      const parts = m.parts.map((p) => p.part).join(' + ');
      tr.append(
        el('td', `${model} · ${tag}`, { title: `${m.key}\nparts: ${parts}` }),
        el('td', formatTag(tags.at(c))),
        el('td', metrics || '—', { 'data-metrics': metricsKey(m) }),
        el('td', formatBytes(size(m))),
        el('td', new Date(m.createdAt).toLocaleString()),
        el('td', m.stores.join(' + ')),
      );
      const actions = el('td');
      const full = ['optim', 'trainer'].every((p) => m.parts.some((x) => x.part === p));
      const what = `${m.id.modelInfo ? `${tag} (${m.id.modelInfo})` : tag} of run ${runName}${m.id.stageName ? ` / ${m.id.stageName}` : ''}`;
      if (full && !m.id.modelInfo)
        actions.append(
          this.button(
            'Continue from here',
            'resume',
            () => this.resume(m),
            'Resume: fill the form to continue this run from this checkpoint',
            `Continue from ${what}`,
          ),
        );
      const onTry = this.o.onTry;
      if (onTry && !m.id.modelInfo)
        actions.append(
          this.button(
            'Try',
            'try',
            () => onTry(m.id.runId, m.id.stageName, tag),
            'Try the model: the Try panel answers from this checkpoint',
            `Try ${what}`,
          ),
        );
      actions.append(
        this.button(
          'Use weights',
          'warm-start',
          () => this.warmStart(m),
          'Warm start: a new run begins from these weights, matched by name',
          `Use the weights of ${what}`,
        ),
        this.button(
          'Export',
          'export',
          () => this.exportMetas([m], exportZipName(m.id.runId, tag)),
          undefined,
          `Export ${what}`,
        ),
        this.button('Delete', 'delete', () => this.deleteOne(m), undefined, `Delete ${what}`),
      );
      tr.append(actions);
      table.append(tr);
      if (this.rowNote?.key === m.key) {
        const note = el('tr', undefined, { class: 'row-note', 'data-note-for': m.key });
        note.append(el('td', this.rowNote.text, { colspan: '7', 'aria-live': 'polite' }));
        table.append(note);
      }
    }
    return table;
  }

  // Labels avoid "Start", "Stop", "Pause" and "Resume": the run's own buttons go by those names.
  private button(
    label: string,
    action: string,
    onClick: () => Promise<void> | void,
    title?: string,
    accessibleName?: string,
  ): HTMLButtonElement {
    const b = el('button', label, {
      type: 'button',
      'data-action': action,
      class: 'small',
      ...(title ? { title } : {}),
      ...(accessibleName ? { 'aria-label': accessibleName } : {}),
    });
    b.addEventListener('click', (e) => {
      e.preventDefault();
      void this.run(async () => onClick());
    });
    return b;
  }

  // ---- run names, comparing, metrics ---------------------------------------------------------

  private emitCompare(): void {
    const runs: CompareRun[] = [];
    for (const path of this.compared) {
      const m = this.metas.find((x) => `${x.id.outputDir}/${x.id.runId}` === path);
      if (!m) continue;
      // The newest stage of the run is the one compared.
      const newest = this.metas
        .filter((x) => x.id.runId === m.id.runId && x.id.outputDir === m.id.outputDir)
        .sort((a, b) => b.createdAt - a.createdAt)[0];
      runs.push({
        outputDir: m.id.outputDir,
        runId: m.id.runId,
        stageName: newest.id.stageName,
        label: this.runRecords.get(path)?.name ?? m.id.runId,
      });
    }
    this.o.onCompare?.(runs);
  }

  /**
   * An inline name field in the run's row: Enter or Save stores it, Escape or Cancel leaves it.
   * `fresh`: opened by the user (focus the field, its whole text selected); else put back by a
   * redraw with what was typed so far (the redraw puts the focus back where it was).
   */
  private startRename(
    head: HTMLElement,
    outputDir: string,
    runId: string,
    current: string,
    ms: DualCheckpointMeta[],
    fresh = true,
  ): void {
    const path = `${outputDir}/${runId}`;
    if (fresh || this.renaming?.path !== path) this.renaming = { path, value: current };
    head.querySelector('.rename-form')?.remove();
    const formEl = el('form', undefined, { class: 'rename-form', 'data-run': runId });
    const input = el('input', undefined, {
      type: 'text',
      name: 'run-name',
      maxlength: String(MAX_RUN_NAME),
      'aria-label': `New name for run ${current}`,
    });
    input.value = this.renaming.value;
    input.addEventListener('input', () => {
      if (this.renaming?.path === path) this.renaming.value = input.value;
    });
    const leave = () => {
      this.renaming = null;
      this.renderTree();
      this.labelled(`Rename run ${current}`)?.focus(); // the keyboard goes back to where the edit began
    };
    const save = el('button', 'Save', {
      type: 'submit',
      class: 'small',
      'aria-label': `Save the name of run ${current}`,
    });
    const cancel = el('button', 'Cancel', {
      type: 'button',
      class: 'small',
      'aria-label': `Cancel renaming run ${current}`,
    });
    formEl.append(input, save, cancel);
    cancel.addEventListener('click', leave);
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') leave();
    });
    formEl.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.run(async () => {
        const trainer = ms.find((m) => m.parts.some((p) => p.part === 'trainer'));
        const config = trainer ? await this.trainerConfig(trainer).catch(() => null) : null;
        const name = await this.records.rename(outputDir, runId, input.value, {
          outputDir,
          runId,
          task: config?.task ?? '',
          model: config?.model ?? ms[0].id.modelName,
          createdAt: Math.min(...ms.map((m) => m.createdAt)),
        });
        this.say('done', `Run ${runId} is now named "${name}".`);
        if (this.renaming?.path === path) this.renaming = null;
        await this.redraw();
        this.emitCompare();
      });
    });
    head.append(formEl);
    if (!fresh) return;
    input.focus();
    input.select();
  }

  /** Reads each listed checkpoint's metrics (once per save) and fills the metrics cells. */
  private async fillMetrics(): Promise<void> {
    const stages = new Set<string>();
    this.valLogs = new Map(); // logs grow as runs train: read afresh on each redraw
    for (const m of this.metas) {
      const k = metricsKey(m);
      if (this.metricsCache.has(k)) continue;
      let text = '';
      let final = true;
      try {
        if (m.parts.some((p) => p.part === 'trainer')) {
          text = trainerMetricsText(readTorchFile(await this.store.read(m.key, 'trainer')));
        } else if (m.id.tag.kind === 'best') {
          const stage = `${m.id.outputDir}/${m.id.runId}/${m.id.stageName ?? ''}`;
          if (!stages.has(stage) && !this.valLogs.has(stage)) {
            stages.add(stage);
            const log = await this.records.readLog(m.id.outputDir, m.id.runId, m.id.stageName);
            this.valLogs.set(
              stage,
              log.entries.filter((e): e is ValEntry => e.kind === 'val'),
            );
          }
          const at = this.valLogs
            .get(stage)
            ?.filter((e) => e.update === m.counters.update)
            .at(-1);
          if (at) text = formatMetrics(at.metrics);
          // The log is flushed with the next periodic checkpoint: look again on a later redraw.
          else final = false;
        }
      } catch {
        text = ''; // an unreadable part shows "—"; loading it names the error
      }
      if (final) this.metricsCache.set(k, text);
      const cell = this.tree.querySelector<HTMLElement>(`td[data-metrics="${CSS.escape(k)}"]`);
      if (cell) cell.textContent = text || '—';
    }
  }

  // ---- delete --------------------------------------------------------------------------------

  private async refuseIfTraining(runId: string): Promise<boolean> {
    if (!(await runIsLockedElsewhere(runId))) return false;
    this.say('failed', `Run ${runId} is training: stop it before deleting its checkpoints.`, 'RunLockedError');
    return true;
  }

  private async deleteOne(m: DualCheckpointMeta): Promise<void> {
    if (
      !confirm(
        `Delete checkpoint ${formatTag(m.id.tag)} of run ${m.id.runId}${m.id.stageName ? ` / ${m.id.stageName}` : ''}? This cannot be undone.`,
      )
    )
      return;
    if (!this.o.ownRunPaused?.(m.id.runId) && (await this.refuseIfTraining(m.id.runId))) return;
    await this.store.delete(m.key);
    this.say('done', `Deleted ${m.key}.`);
    await this.redraw();
  }

  private async deleteStage(runId: string, stage: string | undefined, outputDir: string): Promise<void> {
    if (!confirm(`Delete every checkpoint of run ${runId}, stage ${stage ?? '(none)'}? This cannot be undone.`)) return;
    if (await this.refuseIfTraining(runId)) return;
    await this.store.deleteStage(runId, stage, outputDir);
    await this.records.deleteStage(outputDir, runId, stage);
    this.say('done', `Deleted stage ${stage ?? '(none)'} of run ${runId}.`);
    await this.redraw();
  }

  private async deleteRun(runId: string, outputDir: string): Promise<void> {
    if (!confirm(`Delete run ${runId} and all its checkpoints? This cannot be undone.`)) return;
    if (await this.refuseIfTraining(runId)) return;
    await this.store.deleteRun(runId, outputDir);
    await this.records.deleteRun(outputDir, runId);
    this.compared.delete(`${outputDir}/${runId}`);
    this.emitCompare();
    this.say('done', `Deleted run ${runId}.`);
    await this.redraw();
  }

  // ---- resume and warm start -----------------------------------------------------------------

  private async trainerConfig(m: DualCheckpointMeta): Promise<RunConfig> {
    const trainer = decodeTrainerPart(readTorchFile(await this.store.read(m.key, 'trainer')));
    return validateConfig(trainer.config).config;
  }

  private async resume(m: DualCheckpointMeta): Promise<void> {
    const base = await this.trainerConfig(m);
    const stage = m.id.stageName ?? '';
    const config: RunConfig = {
      ...base,
      resume_run_id: m.id.runId,
      resume_stage_name: stage,
      resume_checkpoint: formatTag(m.id.tag),
      run_id: m.id.runId,
      stage_name: stage,
      init_run_id: '',
    };
    this.fill(
      config,
      `The form now resumes run ${m.id.runId}${stage ? ` / ${stage}` : ''} from ${formatTag(m.id.tag)} (update ${m.counters.update}): press Start.`,
      m.key,
    );
  }

  private warmStart(m: DualCheckpointMeta): void {
    const current = this.o.form.read() ?? DEFAULT_CONFIG;
    const config: RunConfig = {
      ...current,
      resume_run_id: '',
      resume_stage_name: '',
      run_id: '',
      init_run_id: m.id.runId,
      init_stage_name: m.id.stageName ?? '',
      init_model_name: m.id.modelName,
      init_model_info: m.id.modelInfo ?? '',
      init_checkpoint: formatTag(m.id.tag),
    };
    this.fill(
      config,
      `The form now starts a new run from the weights of ${m.key} (matched by name): press Start.`,
      m.key,
    );
  }

  /** Fills the form; the confirmation shows under the checkpoint's own row (and in the panel's result line). */
  private fill(config: RunConfig, note: string, key?: string): void {
    this.o.form.show(config);
    this.o.onFormFilled(config);
    this.say('filled', note);
    if (key) {
      this.rowNote = { key, text: note };
      this.renderTree();
    }
  }

  // ---- export --------------------------------------------------------------------------------

  private async exportMetas(
    metas: DualCheckpointMeta[],
    zipName: string,
    extras: Parameters<typeof exportZipChunks>[2] = [],
  ): Promise<void> {
    const files = exportFiles(metas);
    const read = (f: ExportFile) => this.store.read(f.key, f.part);
    if (this.format.value === 'zip') {
      await saveChunks(zipName, 'application/zip', exportZipChunks(files, read, extras));
    } else {
      await saveSeparately(files, read);
    }
    const history = extras.length ? ` and ${extras.length} history file${extras.length === 1 ? '' : 's'}` : '';
    this.say(
      'done',
      `Exported ${metas.length} checkpoint${metas.length === 1 ? '' : 's'} (${files.length} files${history}).`,
    );
  }

  /** A run's export: its checkpoints, and in a zip its record and each stage's metrics log. */
  private async exportRun(ms: DualCheckpointMeta[]): Promise<void> {
    const { runId, outputDir } = ms[0].id;
    if (this.format.value !== 'zip') return this.exportMetas(ms, exportZipName(runId));
    const logs = new Map<string, string>();
    for (const stage of new Set(ms.map((m) => m.id.stageName ?? '')))
      logs.set(stage, await this.records.readLogText(outputDir, runId, stage || undefined));
    const extras = historyFiles(runId, await this.records.getRecord(outputDir, runId), logs);
    await this.exportMetas(ms, exportZipName(runId), extras);
  }

  private async exportRunConfig(ms: DualCheckpointMeta[]): Promise<void> {
    const withTrainer = ms
      .filter((m) => m.parts.some((p) => p.part === 'trainer'))
      .sort((a, b) => b.createdAt - a.createdAt);
    if (withTrainer.length === 0) {
      this.say(
        'failed',
        `Run ${ms[0].id.runId} has no checkpoint with a trainer part, which holds the config.`,
        'CheckpointNotFoundError',
      );
      return;
    }
    await this.saveJson(`${ms[0].id.runId}-config.json`, await this.trainerConfig(withTrainer[0]));
  }

  private async saveJson(name: string, config: RunConfig): Promise<void> {
    const bytes = new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n');
    await saveChunks(
      name,
      'application/json',
      (async function* () {
        yield bytes;
      })(),
    );
    this.say('done', `Exported the config as ${name}.`);
  }

  private async loadConfig(file: File): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(await file.text());
    } catch (e) {
      this.say(
        'failed',
        `InvalidConfigError: ${file.name} is not JSON (${(e as Error).message}).`,
        'InvalidConfigError',
      );
      return;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      this.say('failed', `InvalidConfigError: ${file.name} does not hold a config object.`, 'InvalidConfigError');
      return;
    }
    const { config, problems } = validateConfig(raw as Record<string, unknown>);
    this.o.form.show(config, problems);
    this.o.onFormFilled(config);
    this.say(
      'filled',
      `Loaded the config from ${file.name}${problems.length ? ` (${problems.length} setting${problems.length === 1 ? '' : 's'} refused: see the form)` : ''}.`,
    );
  }

  // ---- import --------------------------------------------------------------------------------

  private async importDropped(sources: { file: File; path: string }[]): Promise<void> {
    if (sources.length > 0) await this.importFiles(sources);
  }

  private async importFiles(list: { file: File; path: string }[]): Promise<void> {
    await this.run(async () => {
      this.say('checking', `Checking ${list.length} file${list.length === 1 ? '' : 's'}…`);
      const sources: ImportSource[] = [];
      for (const { file, path } of list) sources.push({ path, bytes: new Uint8Array(await file.arrayBuffer()) });
      const plan = await planImport(sources, { shapesFor: this.o.shapesFor });
      if (plan.refused.length > 0) {
        const first = plan.refused[0].error;
        this.say(
          'refused',
          `Nothing was imported: ${plan.refused.length} file${plan.refused.length === 1 ? ' was' : 's were'} refused.`,
          first.name,
          plan.refused.map((r) => ({ text: `${r.file}: ${r.error.name}: ${r.error.message}`, name: r.error.name })),
        );
        return;
      }
      const result = await applyImport(
        this.store,
        plan,
        (keys) =>
          confirm(
            `${keys.length} checkpoint${keys.length === 1 ? '' : 's'} with the same name already exist${keys.length === 1 ? 's' : ''}:\n${keys.join('\n')}\n\nReplace ${keys.length === 1 ? 'it' : 'them'}?`,
          ),
        this.records,
      );
      const plain = plan.items.filter((i) => i.plain && result.written.includes(i.key));
      const kept = result.kept.length
        ? ` Kept ${result.kept.length} existing checkpoint${result.kept.length === 1 ? '' : 's'} unchanged.`
        : '';
      const note = plain.length
        ? ` ${plain.length} plain state_dict${plain.length === 1 ? '' : 's'} stored under run ${plain[0].id.runId}: use "Use weights" for a warm start.`
        : '';
      this.say(
        'done',
        `Imported ${result.written.length} checkpoint${result.written.length === 1 ? '' : 's'}.${kept}${note}`,
        undefined,
        result.written.map((k) => ({ text: k })),
      );
      this.result.dataset.imported = String(result.written.length);
      this.result.dataset.importedLogs = String(result.logs);
      const badLines = plan.logs.reduce((n, l) => n + l.skippedLines, 0);
      this.result.dataset.skippedLogLines = String(badLines);
      if (result.logs || result.records)
        this.result.append(
          el(
            'p',
            `History: ${result.logs} metrics log${result.logs === 1 ? '' : 's'}, ${result.records} run name${result.records === 1 ? '' : 's'}${badLines ? `; ${badLines} unreadable log line${badLines === 1 ? '' : 's'} skipped` : ''}.`,
          ),
        );
      await this.redraw();
    });
  }
}

function metricsKey(m: DualCheckpointMeta): string {
  return `${m.key}#${m.generation}`;
}

function formatMetrics(metrics: Record<string, number>): string {
  return Object.entries(metrics)
    .map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toPrecision(4) : String(v)}`)
    .join(', ');
}

/**
 * A trainer part's metrics: its `metrics` dict (the latest validation when it was saved), else
 * the best values its best-metric trackers hold. Read off the raw dict, so a part written before
 * `metrics` existed still shows its trackers.
 */
function trainerMetricsText(value: ReturnType<typeof readTorchFile>): string {
  if (!(value instanceof Map)) return '';
  const json = (k: string): JsonValue | undefined => {
    const v = (value as Map<unknown, unknown>).get(k);
    return v === undefined ? undefined : toJson(v as Parameters<typeof toJson>[0], k);
  };
  const numbers = (o: JsonValue | undefined): Record<string, number> =>
    o && typeof o === 'object' && !Array.isArray(o)
      ? Object.fromEntries(Object.entries(o).filter((e): e is [string, number] => typeof e[1] === 'number'))
      : {};
  const metrics = numbers(json('metrics'));
  if (Object.keys(metrics).length) return formatMetrics(metrics);
  const callbacks = json('callbacks');
  const best = callbacks && typeof callbacks === 'object' && !Array.isArray(callbacks) ? callbacks.best : undefined;
  const tracked =
    best && typeof best === 'object' && !Array.isArray(best) && best.metrics && typeof best.metrics === 'object'
      ? (best.metrics as Record<string, JsonValue>)
      : {};
  const bests: Record<string, number> = {};
  for (const [k, t] of Object.entries(tracked))
    if (t && typeof t === 'object' && !Array.isArray(t) && typeof t.best === 'number') bests[`best ${k}`] = t.best;
  return formatMetrics(bests);
}

function size(m: DualCheckpointMeta): number {
  return m.parts.reduce((n, p) => n + p.size, 0);
}

/** Saves chunks to one file: the save picker streams them to disk; elsewhere a download of a Blob built from them. */
async function saveChunks(name: string, type: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  // The File System Access pickers are Chromium-only and absent from TS's DOM lib.
  const w = window as unknown as PickerWindow;
  if (typeof w.showSaveFilePicker === 'function') {
    const ext = name.slice(name.lastIndexOf('.'));
    const handle = await w.showSaveFilePicker({
      suggestedName: name,
      types: [{ description: ext, accept: { [type]: [ext] } }],
    });
    const out = await handle.createWritable();
    try {
      for await (const c of chunks) await out.write(c as Uint8Array<ArrayBuffer>);
      await out.close();
    } catch (e) {
      await out.abort().catch(() => undefined);
      throw e;
    }
    return;
  }
  // No picker (Firefox, Safari, or a test that removed it): the browser may keep a large Blob on
  // disk, but the parts pass through memory on the way.
  const parts: BlobPart[] = [];
  for await (const c of chunks) parts.push(c as Uint8Array<ArrayBuffer>);
  download(name, new Blob(parts, { type }));
}

/** Each part as its own `.th` file: into a folder the user picks, or as one download each. */
async function saveSeparately(files: ExportFile[], read: (f: ExportFile) => Promise<Uint8Array>): Promise<void> {
  // The File System Access pickers are Chromium-only and absent from TS's DOM lib.
  const w = window as unknown as PickerWindow;
  if (typeof w.showDirectoryPicker === 'function') {
    const dir = await w.showDirectoryPicker({ mode: 'readwrite' });
    for (const f of files) {
      const out = await (await dir.getFileHandle(f.name, { create: true })).createWritable();
      await out.write((await read(f)) as Uint8Array<ArrayBuffer>);
      await out.close();
    }
    return;
  }
  for (const f of files)
    download(f.name, new Blob([(await read(f)) as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
}

function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = el('a', undefined, { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The files of a drop, folders walked (File System Access handles where the browser has them). */
async function droppedFiles(dt: DataTransfer): Promise<{ file: File; path: string }[]> {
  type Item = DataTransferItem & { getAsFileSystemHandle?: () => Promise<FileHandleLike | DirHandleLike | null> };
  const items = [...dt.items].filter((i) => i.kind === 'file') as Item[];
  // Every item must be asked for during the event; the answers are awaited afterwards.
  const asked = items.map((i) => (i.getAsFileSystemHandle ? i.getAsFileSystemHandle() : Promise.resolve(null)));
  const plain = items.map((i) => i.getAsFile());
  const out: { file: File; path: string }[] = [];
  const walk = async (h: FileHandleLike | DirHandleLike, prefix: string): Promise<void> => {
    if (h.kind === 'file') out.push({ file: await h.getFile(), path: prefix + h.name });
    else for await (const child of h.values()) await walk(child, `${prefix}${h.name}/`);
  };
  for (let i = 0; i < items.length; i++) {
    const handle = await asked[i].catch(() => null);
    if (handle) await walk(handle, '');
    else if (plain[i]) out.push({ file: plain[i]!, path: plain[i]!.name });
  }
  return out;
}
