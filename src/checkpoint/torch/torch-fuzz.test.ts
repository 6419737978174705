// Property: whatever bytes come in, readTorchFile returns a value or throws a named TrainerError,
// within its stated work bounds. Never a RangeError, TypeError, hang or giant allocation.
// A fixed number of cases per property; the seed is printed, and TORCH_FUZZ_SEED replays it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe as group, expect, it } from 'vitest';
import { TrainerError } from '../../shared/errors';
import { type TorchReadStats, concatChunks, defaultReadLimits, readTorchFile, readZip, writeZip } from './index';
import { OP } from './pickle-opcodes';

const GOOD = join(__dirname, '../../../test-data/torch');
const valid = readdirSync(GOOD)
  .filter((f) => f.endsWith('.th'))
  .map((f) => new Uint8Array(readFileSync(join(GOOD, f))));

const KNOWN = new Set(['CheckpointFormatError', 'UnsafePickleError', 'CheckpointCorruptError']);

/**
 * Reads, and checks the outcome is a value or one of the known named errors, and that the work
 * stayed within the bounds the reader states: no more opcodes than bytes (each opcode takes one at
 * least), each archive byte CRC-checked once at most, copies within the default limit.
 */
function readsSafely(bytes: Uint8Array): void {
  const stats: TorchReadStats = { copiedBytes: 0, opcodes: 0, checkedBytes: 0 };
  try {
    readTorchFile(bytes, { stats });
  } catch (e) {
    if (!(e instanceof TrainerError) || !KNOWN.has(e.name) || e.message.startsWith('unexpected error')) {
      throw new Error(`escaped: ${String(e)}`, { cause: e });
    }
  }
  if (stats.opcodes > bytes.length) throw new Error(`ran ${stats.opcodes} opcodes in ${bytes.length} bytes`);
  if (stats.checkedBytes > bytes.length) throw new Error(`checked ${stats.checkedBytes} of ${bytes.length} bytes`);
  const copyLimit = defaultReadLimits(bytes.length).copyBytes;
  if (stats.copiedBytes > copyLimit) throw new Error(`copied ${stats.copiedBytes} bytes, more than ${copyLimit}`);
}

/** The same archive with its data.pkl replaced (and CRCs right), so the unpickler sees it. */
function withPickle(file: Uint8Array, pickle: Uint8Array): Uint8Array {
  const zip = readZip(file);
  return concatChunks(
    writeZip(zip.names().map((n) => ({ name: n, data: n.endsWith('/data.pkl') ? pickle : zip.read(n) }))),
  );
}

function pickleOf(file: Uint8Array): Uint8Array {
  const zip = readZip(file);
  return zip.read(zip.names().find((n) => n.endsWith('/data.pkl')) as string).slice();
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'set'; at: number; byte: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    byte: fc.constantFrom(0, 0xff, 0x7f, OP.PROTO, OP.MARK, OP.STOP, OP.REDUCE, OP.BUILD),
  }),
);

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] ^= 1 << m.bit;
    else if (m.kind === 'set') b[at] = m.byte;
    else if (m.kind === 'truncate') b = b.slice(0, at);
    else {
      const n = new Uint8Array(b.length + m.bytes.length);
      n.set(b.subarray(0, at));
      n.set(m.bytes, at);
      n.set(b.subarray(at), at + m.bytes.length);
      b = n;
    }
  }
  return b;
}

// Opcode-level fragments, so random pickles get past the first byte and into the interesting parts.
const TOKENS: number[][] = [
  [OP.PROTO, 2],
  [OP.MARK],
  [OP.STOP],
  [OP.POP],
  [OP.POP_MARK],
  [OP.DUP],
  [OP.NONE],
  [OP.NEWTRUE],
  [OP.NEWFALSE],
  [OP.BININT, 0xff, 0xff, 0xff, 0x7f],
  [OP.BININT1, 3],
  [OP.BININT2, 0xff, 0xff],
  [OP.LONG1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x80],
  [OP.LONG4, 0xff, 0xff, 0xff, 0x7f],
  [OP.BINFLOAT, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
  [OP.BINUNICODE, 1, 0, 0, 0, 0x61],
  [OP.BINUNICODE, 0xff, 0xff, 0xff, 0xff],
  [OP.SHORT_BINUNICODE, 2, 0x68, 0x69],
  [OP.EMPTY_DICT],
  [OP.EMPTY_LIST],
  [OP.EMPTY_TUPLE],
  [OP.TUPLE],
  [OP.TUPLE1],
  [OP.TUPLE2],
  [OP.TUPLE3],
  [OP.LIST],
  [OP.DICT],
  [OP.APPEND],
  [OP.APPENDS],
  [OP.SETITEM],
  [OP.SETITEMS],
  [OP.BINPUT, 0],
  [OP.BINPUT, 1],
  [OP.LONG_BINPUT, 0xff, 0xff, 0xff, 0xff],
  [OP.MEMOIZE],
  [OP.BINGET, 0],
  [OP.BINGET, 1],
  [OP.LONG_BINGET, 0xff, 0xff, 0xff, 0xff],
  [OP.REDUCE],
  [OP.BUILD],
  [OP.BINPERSID],
  [OP.STACK_GLOBAL],
  [OP.FRAME, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [...new TextEncoder().encode('ccollections\nOrderedDict\n')],
  [...new TextEncoder().encode('ctorch._utils\n_rebuild_tensor_v2\n')],
  [...new TextEncoder().encode('ctorch._utils\n_rebuild_parameter\n')],
  [...new TextEncoder().encode('ctorch\nFloatStorage\n')],
  [...new TextEncoder().encode('ctorch\nLongStorage\n')],
  [...new TextEncoder().encode('X\x07\x00\x00\x00storage')],
  [...new TextEncoder().encode('X\x01\x00\x00\x000')],
  [...new TextEncoder().encode('X\x03\x00\x00\x00cpu')],
  [OP.GLOBAL, 0x61], // an unterminated GLOBAL
];

const SEED = Number(process.env.TORCH_FUZZ_SEED ?? Math.floor(Math.random() * 0x7fffffff));
console.log(`torch-fuzz: seed ${SEED} (TORCH_FUZZ_SEED=${SEED} replays this run)`);
const RUNS = { numRuns: Number(process.env.TORCH_FUZZ_RUNS ?? 1000), seed: SEED };

group('readTorchFile never throws anything but a named error', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => readsSafely(b)),
      RUNS,
    );
  });

  it('random bytes after a zip end record', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.uint8Array({ minLength: 18, maxLength: 18 }), (body, tail) => {
        const b = new Uint8Array(body.length + 22);
        b.set(body);
        b.set([0x50, 0x4b, 0x05, 0x06], body.length);
        b.set(tail, body.length + 4);
        readsSafely(b);
      }),
      RUNS,
    );
  });

  it('mutations of valid files (bit flips, truncations, insertions)', () => {
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) =>
        readsSafely(mutate(valid[i], ms)),
      ),
      RUNS,
    );
  });

  it('mutations of valid pickles behind a correct zip', () => {
    const pickles = valid.map(pickleOf);
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) =>
        readsSafely(withPickle(valid[i], mutate(pickles[i], ms))),
      ),
      RUNS,
    );
  });

  it('random opcode sequences behind a correct zip', () => {
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }), (i, toks) =>
        readsSafely(withPickle(valid[i], Uint8Array.from(toks.flat()))),
      ),
      RUNS,
    );
  });

  it('reads the unmutated files (the generators start from real ones)', () => {
    for (const v of valid) expect(() => readTorchFile(v)).not.toThrow();
  });
});
