import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe as group, expect, it } from 'vitest';
import { ERROR_NAMES, TrainerError } from '../../shared/errors';
import { OP } from './pickle-opcodes';
import { type Described, describe, diff } from './test-helpers';
import {
  type PyValue,
  type Tensor,
  PyDict,
  PyFloat,
  PyTuple,
  archiveNameFor,
  asStateDict,
  bfloat16ToFloat32,
  concatChunks,
  float32ToBfloat16,
  float32ToHalf,
  getItem,
  halfToFloat32,
  num,
  pyFloat,
  pyTuple,
  readTorchFile,
  readZip,
  defaultReadLimits,
  MAX_OPCODES,
  type TorchReadStats,
  tensor,
  toPlain,
  writeTorchFile,
  writeZip,
} from './index';

const DATA = join(__dirname, '../../../test-data');
const GOOD = join(DATA, 'torch');
const BAD = join(DATA, 'torch-bad');

function load(dir: string, name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(dir, name)));
}

function roundTrip(v: PyValue, name?: string): PyValue {
  return readTorchFile(concatChunks(writeTorchFile(v, name)));
}

function catchError(f: () => unknown): TrainerError {
  try {
    f();
  } catch (e) {
    return e as TrainerError;
  }
  throw new Error('expected an error');
}

group('readTorchFile on files PyTorch wrote', () => {
  const expected = JSON.parse(readFileSync(join(GOOD, 'expected.json'), 'utf8')) as Record<string, Described>;
  it('has fixtures', () => {
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(7);
  });
  for (const name of Object.keys(expected)) {
    it(`reads ${name} as PyTorch saved it`, () => {
      const v = readTorchFile(load(GOOD, name));
      expect(diff(describe(v), expected[name])).toBeNull();
    });
  }

  it('keeps int keys, tuples, floats and None in an optimizer state dict', () => {
    const opt = readTorchFile(load(GOOD, 'mlp_optim.th'));
    const state = getItem(opt, 'state') as PyDict;
    expect([...state.keys()]).toEqual([0, 1, 2, 3]);
    const group0 = (getItem(opt, 'param_groups') as PyValue[])[0];
    expect(getItem(group0, 'lr')).toBeInstanceOf(PyFloat);
    expect(num(getItem(group0, 'lr'))).toBe(0.001);
    expect(getItem(group0, 'betas')).toBeInstanceOf(PyTuple);
    expect(getItem(group0, 'foreach')).toBeNull();
    expect(getItem(group0, 'weight_decay')).toBe(0);
    expect(getItem(group0, 'params')).toEqual([0, 1, 2, 3]);
  });

  it('keeps a state dict OrderedDict and its _metadata', () => {
    const sd = readTorchFile(load(GOOD, 'mlp_model.th')) as PyDict;
    expect(sd.ordered).toBe(true);
    expect(sd.attributes?.get('_metadata')).toBeInstanceOf(PyDict);
    const m = asStateDict(sd);
    expect([...m.keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(m.get('0.weight')?.shape).toEqual([8, 4]);
    // and writes it back, metadata included
    const again = roundTrip(sd) as PyDict;
    expect(diff(describe(again), describe(sd))).toBeNull();
    expect(
      diff(toPlain(again.attributes?.get('_metadata') as PyValue), toPlain(sd.attributes?.get('_metadata') as PyValue)),
    ).toBeNull();
  });

  it('materializes views: tied, transposed, offset, strided', () => {
    const v = readTorchFile(load(GOOD, 'views.th')) as PyDict;
    const base = v.get('tied_a') as Tensor<'float32'>;
    expect(v.get('tied_b')).toBe(base); // the same Python object stays the same object
    const at = (i: number, j: number) => base.data[i * 4 + j];
    const t = v.get('transposed') as Tensor<'float32'>;
    expect(t.shape).toEqual([4, 6]);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) expect(t.data[i * 6 + j]).toBe(at(j, i));
    const s = v.get('offset_slice') as Tensor<'float32'>;
    expect([...s.data]).toEqual([...base.data.slice(8, 16)]);
    const c = v.get('column') as Tensor<'float32'>;
    expect([...c.data]).toEqual([0, 1, 2, 3, 4, 5].map((i) => at(i, 1)));
    const flat = v.get('same_storage') as Tensor<'float32'>;
    expect([...flat.data]).toEqual([...base.data]);
    const e = v.get('every_other') as Tensor<'float64'>;
    expect([...e.data]).toEqual([0, 2, 4, 6, 8]);
  });

  it('reads dtypes: float16/bfloat16 bits, int64 as bigint, 0-d and empty', () => {
    const v = readTorchFile(load(GOOD, 'dtypes.th')) as PyDict;
    const big = v.get('i64_big') as Tensor<'int64'>;
    expect([...big.data]).toEqual([2n ** 60n, -(2n ** 62n)]);
    expect((v.get('scalar') as Tensor).shape).toEqual([]);
    expect((v.get('scalar') as Tensor<'float32'>).data[0]).toBe(3.5);
    expect((v.get('empty') as Tensor).shape).toEqual([0, 4]);
    expect((v.get('empty') as Tensor).data.length).toBe(0);
    expect((v.get('f16') as Tensor).data).toBeInstanceOf(Uint16Array);
    expect((v.get('bf16') as Tensor).data).toBeInstanceOf(Uint16Array);
  });

  it('reads the Noether-shaped model file', () => {
    const v = readTorchFile(load(GOOD, 'mlp_cp=E1_U10_S320_model.th'));
    expect(getItem(v, 'checkpoint_tag')).toBe('E1_U10_S320');
    expect(toPlain(getItem(v, 'training_iteration'))).toEqual({ epoch: 1, update: 10, sample: 320 });
    expect(getItem(getItem(v, 'model_config'), 'big')).toBe(2n ** 62n);
    expect(asStateDict(getItem(v, 'state_dict')).size).toBe(4);
  });
});

group('writeTorchFile → readTorchFile round trip', () => {
  it('keeps every value kind', () => {
    const value = PyDict.fromObject({
      none: null,
      t: true,
      f: false,
      int: 42,
      neg: -5,
      int16: 40000,
      int32: -2_000_000_000,
      int53: 2 ** 52 + 1,
      big: 2n ** 63n - 1n,
      bigneg: -(2n ** 70n),
      float: 0.25,
      floatOne: pyFloat(1),
      nan: NaN,
      inf: -Infinity,
      negZero: -0,
      str: 'héllo ✓ 𝄞',
      empty: '',
      list: [1, 'a', [2, [3]], []],
      tuple: pyTuple(0.9, 0.999),
      tuple0: pyTuple(),
      tuple1: pyTuple(1),
      tuple5: pyTuple(1, 2, 3, 4, 5),
      intKeys: new PyDict([
        [0, 'zero'],
        ['0', 'string zero'],
        [7n ** 30n, 'big key'],
      ]),
      ordered: new PyDict(
        [
          ['b', 1],
          ['a', 2],
        ],
        true,
      ),
      longList: Array.from({ length: 2500 }, (_, i) => i),
    });
    const back = roundTrip(value) as PyDict;
    expect(diff(describe(back), describe(value))).toBeNull();
    expect(back.get('floatOne')).toEqual(new PyFloat(1));
    expect(back.get('int')).toBe(42);
    expect((back.get('nan') as PyFloat).value).toBeNaN();
    expect(Object.is((back.get('negZero') as PyFloat).value, -0)).toBe(true);
    expect(back.get('big')).toBe(2n ** 63n - 1n);
    expect(back.get('bigneg')).toBe(-(2n ** 70n));
    expect(back.get('int53')).toBe(2 ** 52 + 1);
    const ik = back.get('intKeys') as PyDict;
    expect([...ik.keys()]).toEqual([0, '0', 7n ** 30n]);
    expect((back.get('ordered') as PyDict).ordered).toBe(true);
    expect((back.get('intKeys') as PyDict).ordered).toBe(false);
  });

  it('keeps tensors of every dtype, 0-d and empty ones', () => {
    const tensors: Tensor[] = [
      tensor('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, -6.5])),
      tensor('float64', [2], Float64Array.from([Math.PI, -1e300])),
      tensor('float16', [3], float32ToHalf([1, -2.5, 65504])),
      tensor('bfloat16', [2], float32ToBfloat16([1, 3.140625])),
      tensor('int64', [2], BigInt64Array.from([2n ** 62n, -1n])),
      tensor('int32', [1], Int32Array.from([-7])),
      tensor('int16', [2], Int16Array.from([-300, 300])),
      tensor('int8', [2], Int8Array.from([-128, 127])),
      tensor('uint8', [2], Uint8Array.from([0, 255])),
      tensor('bool', [3], Uint8Array.from([1, 0, 1])),
      tensor('float32', [], Float32Array.from([3.5])),
      tensor('float32', [0, 4], new Float32Array(0)),
      tensor('int64', [0], new BigInt64Array(0)),
    ];
    const back = roundTrip(tensors) as Tensor[];
    expect(back.length).toBe(tensors.length);
    back.forEach((t, i) => {
      expect(t.dtype).toBe(tensors[i].dtype);
      expect(t.shape).toEqual(tensors[i].shape);
      expect([...t.data]).toEqual([...tensors[i].data]);
    });
    expect([...halfToFloat32(back[2].data as Uint16Array)]).toEqual([1, -2.5, 65504]);
    expect([...bfloat16ToFloat32(back[3].data as Uint16Array)]).toEqual([1, 3.140625]);
  });

  it('writes a tensor given as a view of a larger buffer, and keeps a shared tensor shared', () => {
    const big = Float32Array.from({ length: 10 }, (_, i) => i);
    const view = tensor('float32', [2, 2], big.subarray(3, 7));
    const back = roundTrip(PyDict.fromObject({ a: view, b: view })) as PyDict;
    expect([...(back.get('a') as Tensor).data]).toEqual([3, 4, 5, 6]);
    expect(back.get('b')).toBe(back.get('a'));
  });

  it('lays the archive out as PyTorch does: entries, order, 64-byte alignment', () => {
    const chunks = writeTorchFile(
      PyDict.fromObject({
        w: tensor('float32', [3], Float32Array.from([1, 2, 3])),
        b: tensor('int64', [1], BigInt64Array.from([1n])),
      }),
      'mlp_model',
    );
    const bytes = concatChunks(chunks);
    const zip = readZip(bytes);
    expect(zip.names()).toEqual(['mlp_model/data.pkl', 'mlp_model/data/0', 'mlp_model/data/1', 'mlp_model/version']);
    for (const e of zip.entries.values()) expect(e.dataOffset % 64).toBe(0);
    expect(new TextDecoder().decode(zip.read('mlp_model/version'))).toBe('3\n');
    // the tensor bytes are views of the tensor's own array, not copies
    expect(chunks.some((c) => c.length === 12 && new Float32Array(c.buffer, c.byteOffset, 3)[2] === 3)).toBe(true);
  });

  it('names the archive folder after the file', () => {
    expect(archiveNameFor('run/ckpt/mlp_cp=E1_U10_S320_model.th')).toBe('mlp_cp=E1_U10_S320_model');
    expect(archiveNameFor('x')).toBe('x');
  });

  it('refuses to write what PyTorch could not read back', () => {
    const bad: unknown[] = [undefined, { a: 1 }, () => 1, Symbol('x'), new Date()];
    for (const v of bad) expect(catchError(() => writeTorchFile(v as PyValue)).name).toBe('CheckpointFormatError');
    const cyclic: PyValue[] = [];
    cyclic.push(cyclic);
    expect(catchError(() => writeTorchFile(cyclic)).name).toBe('CheckpointFormatError');
    expect(catchError(() => writeTorchFile(null, '../x')).name).toBe('CheckpointFormatError');
    const wrong = { dtype: 'float32', shape: [3], data: new Float32Array(2) } as Tensor;
    expect(catchError(() => writeTorchFile(wrong)).name).toBe('CheckpointFormatError');
  });
});

group('bad files', () => {
  const expected = JSON.parse(readFileSync(join(BAD, 'expected.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(BAD).filter((f) => f.endsWith('.th'));
  it('has a bad-file corpus, each with its expected error', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });
  for (const name of files) {
    it(`${name} → ${expected[name]}`, () => {
      const err = catchError(() => readTorchFile(load(BAD, name)));
      expect(err).toBeInstanceOf(TrainerError);
      expect(ERROR_NAMES).toContain(err.name);
      expect(err.name, err.message).toBe(expected[name]);
      expect(err.message).not.toMatch(/^unexpected error/);
    });
  }
  it('names the refused global', () => {
    expect(catchError(() => readTorchFile(load(BAD, 'os_system.th'))).message).toContain('os.system');
  });
});

group('bounds on the work one read does', () => {
  const MIB = 1 << 20;
  const ROWS = 512;
  const NUMEL = ROWS * ROWS;
  const newStats = (): TorchReadStats => ({ copiedBytes: 0, opcodes: 0, checkedBytes: 0 });

  /**
   * A pickle whose list holds `1 + repeats` views of one 512x512 float storage, each of `size`
   * and `stride`: the same arguments, REDUCEd again and again from the memo.
   */
  function manyViews(repeats: number, size: [number, number], stride: [number, number]): Uint8Array {
    const b: number[] = [];
    const s = (x: string) => b.push(...new TextEncoder().encode(x));
    const ustr = (x: string) => {
      b.push(OP.BINUNICODE, x.length, 0, 0, 0);
      s(x);
    };
    const int2 = (n: number) => b.push(OP.BININT2, n & 0xff, n >> 8);
    b.push(OP.PROTO, 2, OP.EMPTY_LIST);
    s('ctorch._utils\n_rebuild_tensor_v2\n');
    b.push(OP.BINPUT, 0, OP.MARK, OP.MARK);
    ustr('storage');
    s('ctorch\nFloatStorage\n');
    ustr('0');
    ustr('cpu');
    b.push(OP.BININT, 0, 0, 4, 0, OP.TUPLE, OP.BINPERSID); // numel 262144
    b.push(OP.BININT1, 0); // storage offset
    int2(size[0]);
    int2(size[1]);
    b.push(OP.TUPLE2);
    int2(stride[0]);
    int2(stride[1]);
    b.push(OP.TUPLE2, OP.NEWFALSE, OP.EMPTY_DICT, OP.TUPLE, OP.BINPUT, 1, OP.REDUCE, OP.APPEND);
    for (let i = 0; i < repeats; i++) b.push(OP.BINGET, 0, OP.BINGET, 1, OP.REDUCE, OP.APPEND);
    b.push(OP.STOP);
    const zip = writeZip(
      [
        { name: 'a/data.pkl', data: Uint8Array.from(b) },
        { name: 'a/data/0', data: new Uint8Array(4 * NUMEL) },
        { name: 'a/version', data: new TextEncoder().encode('3\n') },
      ],
      { align: 64 },
    );
    return concatChunks(zip);
  }
  const transposed = (repeats: number) => manyViews(repeats, [ROWS, ROWS], [1, ROWS]);
  const TRANSPOSED_BYTES = 4 * NUMEL;

  it('materializes a few strided views of one storage, counting every byte it copies', () => {
    const stats = newStats();
    const v = readTorchFile(transposed(3), { stats }) as Tensor[];
    expect(v.length).toBe(4);
    expect(v[0].shape).toEqual([ROWS, ROWS]);
    expect(stats.copiedBytes).toBe(4 * TRANSPOSED_BYTES);
  });

  it('refuses a pickle that gathers one storage hundreds of times, before copying past its limit', () => {
    const stats = newStats();
    const copyBytes = 10 * MIB;
    const err = catchError(() => readTorchFile(transposed(300), { limits: { copyBytes }, stats }));
    expect(err.name).toBe('CheckpointFormatError');
    expect(err.message).toContain(`more than ${copyBytes} bytes`);
    // Refused at the copy that would have passed the limit, not after it.
    expect(stats.copiedBytes).toBeLessThanOrEqual(copyBytes);
    expect(stats.copiedBytes + TRANSPOSED_BYTES).toBeGreaterThan(copyBytes);
  });

  it('by default a read copies at most 4 bytes per byte of the file plus 64 MiB', () => {
    expect(defaultReadLimits(1000)).toEqual({ copyBytes: 4 * 1000 + 64 * MIB, opcodes: MAX_OPCODES });
    // Row slices (the cheapest views to gather), about 1 MiB each, until the default limit refuses one.
    const file = manyViews(100, [ROWS, ROWS - 1], [ROWS, 1]);
    const limit = defaultReadLimits(file.length).copyBytes;
    const stats = newStats();
    const err = catchError(() => readTorchFile(file, { stats }));
    expect(err.message).toContain(`more than ${limit} bytes`);
    expect(stats.copiedBytes).toBeLessThanOrEqual(limit);
    expect(stats.copiedBytes + 4 * ROWS * (ROWS - 1)).toBeGreaterThan(limit);
  });

  it('refuses before running more opcodes than its limit, and never runs more than the pickle has bytes', () => {
    const file = load(GOOD, 'mlp_optim.th');
    const full = newStats();
    readTorchFile(file, { stats: full });
    const zip = readZip(file);
    const pickleBytes = zip.read(zip.names().find((n) => n.endsWith('/data.pkl'))!).length;
    expect(full.opcodes).toBeGreaterThan(10);
    expect(full.opcodes).toBeLessThanOrEqual(pickleBytes);
    // Every byte of the archive is CRC-checked once at most.
    expect(full.checkedBytes).toBeGreaterThan(0);
    expect(full.checkedBytes).toBeLessThanOrEqual(file.length);

    const cut = newStats();
    const opcodes = full.opcodes - 1;
    const err = catchError(() => readTorchFile(file, { limits: { opcodes }, stats: cut }));
    expect(err.name).toBe('CheckpointFormatError');
    expect(err.message).toContain(`more than ${opcodes} opcodes`);
    expect(cut.opcodes).toBe(opcodes);
  });
});

group('checksummed reads', () => {
  const newStats = (): TorchReadStats => ({ copiedBytes: 0, opcodes: 0, checkedBytes: 0 });
  it('skips the CRC-32 pass only for bytes a store already verified, and still checks the structure', () => {
    const file = load(GOOD, 'mlp_optim.th');
    const zip = readZip(file);
    const data = [...zip.entries.values()].find((e) => /\/data\/\d+$/.test(e.name) && e.size >= 4)!;
    const flipped = file.slice();
    flipped[data.dataOffset] ^= 0xff; // the entry's recorded CRC-32 no longer matches

    expect(catchError(() => readTorchFile(flipped)).name).toBe('CheckpointCorruptError');
    const stats = newStats();
    readTorchFile(flipped, { checksummed: true, stats });
    expect(stats.checkedBytes).toBe(0);
    const full = newStats();
    readTorchFile(file, { stats: full });
    expect(full.checkedBytes).toBeGreaterThan(data.size);

    // The zip's own structure is still checked: a cut archive is refused either way.
    const cut = file.subarray(0, file.length - 10);
    expect(catchError(() => readTorchFile(cut, { checksummed: true })).name).toBe('CheckpointFormatError');
  });
});

group('float16 and bfloat16 helpers', () => {
  it('float16: every non-NaN bit pattern survives decode → encode', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = float32ToHalf(halfToFloat32(all));
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!nan) expect(back[i]).toBe(i);
      else expect(back[i] & 0x7c00).toBe(0x7c00);
    }
  });

  it('float16: rounds to nearest even, overflows to infinity, underflows to zero', () => {
    expect([...float32ToHalf([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -26, -(2 ** -25) * 1.5])]).toEqual([
      0x3c00, 0x3c02, 0x7c00, 0, 0x8001,
    ]);
  });

  it('bfloat16: every non-NaN bit pattern survives decode → encode', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = float32ToBfloat16(bfloat16ToFloat32(all));
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (!nan) expect(back[i]).toBe(i);
    }
  });
});
