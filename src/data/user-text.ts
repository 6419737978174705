/**
 * The user's own data, checked before anything is built from it: a file that is empty, binary,
 * not UTF-8 or too large is refused with a message saying which. Then either plain text (for a
 * character language model) or `source<TAB>target` lines (for sequence-to-sequence).
 */
import { TrainerError } from '../shared/errors';

/** Files above this are refused: the whole text is held, encoded, in the worker's memory. */
export const USER_DATA_LIMIT_BYTES = 20 * 1024 * 1024;
/** More than this share of control characters (other than tab, newline, carriage return) is binary. */
const CONTROL_RATIO_LIMIT = 0.01;

/** What the page hands the worker: the file's name (for messages) and its bytes. */
export interface UserData {
  name: string;
  bytes: ArrayBuffer;
}

const refuse = (name: string, why: string) => new TrainerError('DatasetError', `"${name}" cannot be used: ${why}`);

/** The file's text, or a DatasetError saying why it is refused. A UTF-8 byte-order mark is dropped. */
export function decodeUserText(data: UserData, limit = USER_DATA_LIMIT_BYTES): string {
  const size = data.bytes.byteLength;
  if (size === 0) throw refuse(data.name, 'the file is empty');
  if (size > limit) {
    throw refuse(
      data.name,
      `the file is ${(size / 2 ** 20).toFixed(1)} MB, larger than the ${(limit / 2 ** 20).toFixed(0)} MB limit`,
    );
  }
  const bytes = new Uint8Array(data.bytes);
  if (bytes.includes(0)) throw refuse(data.name, 'it looks binary (it contains NUL bytes), not text');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw refuse(data.name, 'it is not valid UTF-8 text (save it as UTF-8 and try again)');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let control = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 9 && c !== 10 && c !== 13) || c === 0x7f) control++;
  }
  if (control / text.length > CONTROL_RATIO_LIMIT) {
    throw refuse(data.name, `it looks binary (${control} control characters in ${text.length}), not text`);
  }
  text = text.replace(/\r\n?/g, '\n');
  if (text.trim().length === 0) throw refuse(data.name, 'the file holds only white space');
  return text;
}

export interface TsvPair {
  source: string;
  target: string;
}

/**
 * `source<TAB>target` lines. Blank lines are skipped; a line without exactly one tab, or with an
 * empty side, is refused with its line number (a few are listed), since silently dropping them
 * would train on something other than what the user meant.
 */
export function parseTsv(text: string, name = 'the file'): TsvPair[] {
  const pairs: TsvPair[] = [];
  const bad: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const cols = line.split('\t');
    if (cols.length !== 2 || cols[0].trim() === '' || cols[1].trim() === '') bad.push(i + 1);
    else pairs.push({ source: cols[0].trim(), target: cols[1].trim() });
  });
  if (bad.length > 0) {
    const lines = bad.slice(0, 5).join(', ') + (bad.length > 5 ? ` and ${bad.length - 5} more` : '');
    throw refuse(name, `every line must be source<TAB>target; line ${lines} ${bad.length === 1 ? 'is' : 'are'} not`);
  }
  if (pairs.length < 2)
    throw refuse(name, 'it needs at least two source<TAB>target lines (one to train on, one to validate)');
  return pairs;
}

/**
 * Splits one side of the pairs into tokens: on spaces when that side has a space on any line
 * (phonemes, words: OpenNMT's default), otherwise into characters.
 */
export function tokenizeSide(texts: readonly string[]): string[][] {
  const bySpace = texts.some((t) => /\s/.test(t));
  return texts.map((t) => (bySpace ? t.split(/\s+/).filter(Boolean) : [...t]));
}
