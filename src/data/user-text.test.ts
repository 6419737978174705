import { describe, expect, it } from 'vitest';
import { decodeUserText, parseTsv, tokenizeSide } from './user-text';

const file = (bytes: Uint8Array | string, name = 'f.txt') => ({
  name,
  bytes: (typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes).slice().buffer,
});

function refusal(f: () => unknown): { name: string; message: string } {
  try {
    f();
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error('not refused');
}

describe('decodeUserText', () => {
  it('reads UTF-8, drops a BOM and normalises line ends', () => {
    expect(decodeUserText(file('\ufeffhé\r\nllo\rx'))).toBe('hé\nllo\nx');
  });
  it('refuses an empty file', () => {
    expect(refusal(() => decodeUserText(file('')))).toMatchObject({
      name: 'DatasetError',
      message: expect.stringMatching(/empty/),
    });
  });
  it('refuses white space only', () => {
    expect(refusal(() => decodeUserText(file(' \n\t\n'))).message).toMatch(/white space/);
  });
  it('refuses NUL bytes as binary', () => {
    expect(refusal(() => decodeUserText(file(new Uint8Array([104, 0, 105]))))).toMatchObject({
      name: 'DatasetError',
      message: expect.stringMatching(/binary/),
    });
  });
  it('refuses many control characters as binary', () => {
    const bytes = new Uint8Array(200).fill(65);
    for (let i = 0; i < 10; i++) bytes[i * 20] = 7;
    expect(refusal(() => decodeUserText(file(bytes))).message).toMatch(/binary/);
  });
  it('refuses invalid UTF-8', () => {
    expect(refusal(() => decodeUserText(file(new Uint8Array([104, 0xc3, 0x28, 105]))))).toMatchObject({
      name: 'DatasetError',
      message: expect.stringMatching(/UTF-8/),
    });
  });
  it('refuses a file over the limit, naming the limit', () => {
    expect(refusal(() => decodeUserText(file('x'.repeat(2 * 1024 * 1024 + 1)), 2 * 1024 * 1024)).message).toMatch(
      /larger than the 2 MB limit/,
    );
  });
});

describe('parseTsv', () => {
  it('reads pairs and skips blank lines', () => {
    expect(parseTsv('cat\tk ae t\n\n dog \td ao g\n')).toEqual([
      { source: 'cat', target: 'k ae t' },
      { source: 'dog', target: 'd ao g' },
    ]);
  });
  it('refuses lines without exactly one tab, with their numbers', () => {
    const r = refusal(() => parseTsv('a\tb\nno tab here\nc\td\te\nf\t\n'));
    expect(r.name).toBe('DatasetError');
    expect(r.message).toMatch(/line 2, 3, 4 are not/);
  });
  it('needs two pairs', () => {
    expect(refusal(() => parseTsv('a\tb\n')).message).toMatch(/at least two/);
  });
});

describe('tokenizeSide', () => {
  it('splits on spaces when any line has one, else into characters', () => {
    expect(tokenizeSide(['k ae t', 'd'])).toEqual([['k', 'ae', 't'], ['d']]);
    expect(tokenizeSide(['cat', 'dog'])).toEqual([
      ['c', 'a', 't'],
      ['d', 'o', 'g'],
    ]);
  });
});
