/** Every built-in task, by name: the one place a new task is wired in. */
import type { G2pEntry } from '../data/cmudict';
import { loadCmudict } from '../data/cmudict-source';
import { loadFirstNames } from '../data/names-source';
import { adaptToVocab, type VocabAdaptation } from '../data/char-vocab';
import { loadSpamCorpus, SPAM_CLASSES, type LabelledText } from '../data/spam-source';
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
export interface Adaptation {
  /** The trained model's vocabulary (its checkpoint's `model_config.vocabulary`). */
  vocabulary: Record<string, unknown>;
  unknown: 'refuse' | 'map_to_unk';
}

/** Where the built-in tasks' data comes from: the app's bundled assets, or (in Node tests) the same files read from disk. */
export interface TaskSources {
  firstNames(): Promise<string[]>;
  cmudict(): Promise<G2pEntry[]>;
  spam(): Promise<LabelledText[]>;
}

const BUNDLED: TaskSources = { firstNames: loadFirstNames, cmudict: loadCmudict, spam: loadSpamCorpus };

export async function createTask(
  run: RunConfig,
  userData?: UserData,
  adapt?: Adaptation,
  sources: TaskSources = BUNDLED,
): Promise<Task> {
  const why = checkRunConfig(run);
  if (why) throw new TrainerError('InvalidConfigError', why);
  switch (run.task) {
    case 'names': {
      const fit = charsAdapter(adapt);
      const words = fit.texts((await sources.firstNames()).map((w) => w.trim().toLowerCase()));
      const task =
        run.model === 'gpt'
          ? CharStreamTask.fromWords(words, run, fit.chars)
          : new CharWindowTask(words, run, fit.chars);
      return Object.assign(task, { adaptation: fit.adaptation });
    }
    case 'g2p': {
      const entries = await sources.cmudict();
      const pairs = entries.map((e) => ({ src: [...e.word], tgt: e.phonemes }));
      return new Seq2SeqTask(pairs, run, { evalCap: G2P_EVAL_CAP, srcJoin: '', tgtJoin: ' ' });
    }
    case 'spam':
      return new ClassifyTask(await sources.spam(), SPAM_CLASSES, run);
    case 'text': {
      if (!userData)
        throw new TrainerError('DatasetError', 'the text task trains on your own file: choose or drop one first');
      const text = decodeUserText(userData);
      if (run.model === 'gpt' || run.model === 'char-mlp') {
        const fit = charsAdapter(adapt);
        const task =
          run.model === 'gpt'
            ? CharStreamTask.fromText(fit.texts([text])[0], run, fit.chars)
            : new CharWindowTask(fit.texts(text.split('\n').map((w) => w.trim().toLowerCase())), run, fit.chars);
        return Object.assign(task, { adaptation: fit.adaptation });
      }
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

/**
 * Incremental adaptation of a character model: new data is encoded with the trained model's
 * characters, its unknown ones refused or mapped (see adaptToVocab). Without a trained vocabulary,
 * the data builds its own.
 */
function charsAdapter(adapt: Adaptation | undefined) {
  const chars = adapt?.vocabulary.chars;
  const fit = {
    chars: Array.isArray(chars) && chars.every((c) => typeof c === 'string') ? chars : undefined,
    adaptation: undefined as VocabAdaptation | undefined,
    texts(texts: string[]): string[] {
      if (!fit.chars) return texts;
      const r = adaptToVocab(texts, fit.chars, adapt!.unknown);
      fit.adaptation = r.adaptation;
      return r.texts;
    },
  };
  return fit;
}
