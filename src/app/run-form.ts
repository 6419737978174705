/**
 * The run form as other parts of the page see it (the checkpoint browser fills it, the test hooks
 * read it): a view of the page state. The form itself is rendered from the state (views/setup.ts).
 */
import { configToParams, type ConfigProblem, type RunConfig } from '../shared/config';
import { formConfig } from './state/selectors';
import type { Store } from './state/store';

export class RunForm {
  constructor(private readonly store: Store) {}

  /** Shows a config; problems (e.g. from a loaded file) are shown beside their fields. */
  show(config: RunConfig, problems: ConfigProblem[] = []): void {
    this.store.dispatch({ type: 'load-config', config, problems });
  }

  /** The config in the form, or null when a field is refused (its message says why). */
  read(): RunConfig | null {
    return formConfig(this.store.getState()).config;
  }
}

/** Keeps the URL in step with the form, so a link reproduces the setup. */
export function writeConfigToUrl(config: RunConfig): void {
  const url = new URL(location.href);
  url.search = configToParams(config).toString();
  history.replaceState(null, '', url);
}
