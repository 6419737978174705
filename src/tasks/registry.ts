/** Every built-in task, by name: the one place a new task is wired in. */
import { loadCmudict } from '../data/cmudict-source';
import { loadFirstNames } from '../data/names-source';
import { loadSpamCorpus, SPAM_CLASSES } from '../data/spam-source';
import { decodeUserText, parseTsv, tokenizeSide, type UserData } from '../data/user-text';
import { checkRunConfig, type RunConfig } from '../shared/config';
import { TrainerError } from '../shared/errors';
import { CharStreamTask } from './char-stream-task';
import { ClassifyTask } from './classify-task';
import { CharWindowTask } from './names-task';
import { Seq2SeqTask } from './seq2seq-task';
import type { Task } from './types';

/** Validation (and test) rows of the g2p split are capped: all are greedily decoded at each evaluation. */
export const G2P_EVAL_CAP = 1000;

export type { UserData };

/**
 * The task for a run, its data loaded. `userData` is the user's own file (task `text`): plain
 * text for a character model (`gpt`: one stream; `char-mlp`: one word per line), or
 * `source<TAB>target` lines for `seq2seq`. It is checked first (see decodeUserText) and ignored
 * by the built-in tasks. A task/model pair that cannot work is refused as InvalidConfigError.
 */
export async function createTask(run: RunConfig, userData?: UserData): Promise<Task> {
  const why = checkRunConfig(run);
  if (why) throw new TrainerError('InvalidConfigError', why);
  switch (run.task) {
    case 'names': {
      const words = await loadFirstNames();
      return run.model === 'gpt' ? CharStreamTask.fromWords(words, run) : new CharWindowTask(words, run);
    }
    case 'g2p': {
      const entries = await loadCmudict();
      const pairs = entries.map((e) => ({ src: [...e.word], tgt: e.phonemes }));
      return new Seq2SeqTask(pairs, run, { evalCap: G2P_EVAL_CAP, srcJoin: '', tgtJoin: ' ' });
    }
    case 'spam':
      return new ClassifyTask(await loadSpamCorpus(), SPAM_CLASSES, run);
    case 'text': {
      if (!userData) throw new TrainerError('DatasetError', 'the text task trains on your own file: choose or drop one first');
      const text = decodeUserText(userData);
      if (run.model === 'gpt') return CharStreamTask.fromText(text, run);
      if (run.model === 'char-mlp') return new CharWindowTask(text.split('\n'), run);
      const tsv = parseTsv(text, userData.name);
      const src = tokenizeSide(tsv.map((p) => p.source));
      const tgt = tokenizeSide(tsv.map((p) => p.target));
      const join = (side: string[][]) => (side.some((s) => s.length > 1 && s.some((t) => t.length > 1)) ? ' ' : '');
      return new Seq2SeqTask(
        src.map((s, i) => ({ src: s, tgt: tgt[i] })),
        run,
        { evalCap: G2P_EVAL_CAP, srcJoin: join(src), tgtJoin: join(tgt) },
      );
    }
  }
}
