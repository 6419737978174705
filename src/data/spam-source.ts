/**
 * The SpamAssassin public corpus, reduced by scripts/make-spam-subset.mjs to each message's
 * Subject and first 1,000 body characters (4.7 MB for all 6,046 messages; the package itself is
 * 88 MB), bundled as an asset and precached so the task trains offline.
 */
import corpusUrl from './assets/spam-assassin.txt?url';
import { TrainerError } from '../shared/errors';

export interface LabelledText {
  text: string;
  /** 1: spam, 0: ham. */
  label: number;
}

export const SPAM_CLASSES = ['ham', 'spam'];

export function parseSpamCorpus(text: string): LabelledText[] {
  const out: LabelledText[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    const label = SPAM_CLASSES.indexOf(line.slice(0, tab));
    if (tab < 0 || label < 0)
      throw new TrainerError('DatasetError', `the spam corpus has a malformed line: ${line.slice(0, 40)}`);
    out.push({ label, text: JSON.parse(line.slice(tab + 1)) as string });
  }
  return out;
}

export async function loadSpamCorpus(): Promise<LabelledText[]> {
  const res = await fetch(corpusUrl);
  if (!res.ok) throw new TrainerError('DatasetError', `could not load the spam corpus: HTTP ${res.status}`);
  return parseSpamCorpus(await res.text());
}
