// Property: whatever bytes come in, readTorchFile returns a value or throws a named TrainerError,
// quickly. Never a RangeError, TypeError, hang or giant allocation.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe as group, expect, it } from 'vitest';
import { TrainerError } from '../../shared/errors';
import { concatChunks, readTorchFile, readZip, writeZip } from './index';

const GOOD = join(__dirname, '../../../test-data/torch');
const valid = readdirSync(GOOD)
  .filter((f) => f.endsWith('.th'))
  .map((f) => new Uint8Array(readFileSync(join(GOOD, f))));

const KNOWN = new Set(['CheckpointFormatError', 'UnsafePickleError', 'CheckpointCorruptError']);
const MAX_MS = 2000;

/** Reads, and checks the outcome is a value or one of the known named errors. */
function readsSafely(bytes: Uint8Array): void {
  const t0 = performance.now();
  try {
    readTorchFile(bytes);
  } catch (e) {
    if (!(e instanceof TrainerError) || !KNOWN.has(e.name) || e.message.startsWith('unexpected error')) {
      throw new Error(`escaped: ${String(e)}${e instanceof Error && e.cause ? ` (cause: ${String(e.cause)})` : ''}`);
    }
  }
  const ms = performance.now() - t0;
  if (ms > MAX_MS) throw new Error(`took ${ms} ms`);
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
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x28, 0x2e, 0x52, 0x62) }),
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
  [0x80, 2], [0x28], [0x2e], [0x30], [0x31], [0x32], [0x4e], [0x88], [0x89], [0x4a, 0xff, 0xff, 0xff, 0x7f],
  [0x4b, 3], [0x4d, 0xff, 0xff], [0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x80], [0x8b, 0xff, 0xff, 0xff, 0x7f],
  [0x47, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], [0x58, 1, 0, 0, 0, 0x61], [0x58, 0xff, 0xff, 0xff, 0xff], [0x8c, 2, 0x68, 0x69],
  [0x7d], [0x5d], [0x29], [0x74], [0x85], [0x86], [0x87], [0x6c], [0x64], [0x61], [0x65], [0x73], [0x75],
  [0x71, 0], [0x71, 1], [0x72, 0xff, 0xff, 0xff, 0xff], [0x94], [0x68, 0], [0x68, 1], [0x6a, 0xff, 0xff, 0xff, 0xff],
  [0x52], [0x62], [0x51], [0x93], [0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [...new TextEncoder().encode('ccollections\nOrderedDict\n')],
  [...new TextEncoder().encode('ctorch._utils\n_rebuild_tensor_v2\n')],
  [...new TextEncoder().encode('ctorch._utils\n_rebuild_parameter\n')],
  [...new TextEncoder().encode('ctorch\nFloatStorage\n')],
  [...new TextEncoder().encode('ctorch\nLongStorage\n')],
  [...new TextEncoder().encode('X\x07\x00\x00\x00storage')],
  [...new TextEncoder().encode('X\x01\x00\x00\x000')],
  [...new TextEncoder().encode('X\x03\x00\x00\x00cpu')],
  [0x63, 0x61], // an unterminated GLOBAL
];

const RUNS = { numRuns: Number(process.env.TORCH_FUZZ_RUNS ?? 1000), interruptAfterTimeLimit: Number(process.env.TORCH_FUZZ_MS ?? 4000) };

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
