import { TrainerError } from '../../shared/errors';
import { OP, opcodeName } from './pickle-opcodes';
import {
  type DType,
  type PyKey,
  type PyValue,
  type Tensor,
  PyDict,
  PyFloat,
  PyTuple,
  STORAGE_DTYPE,
  isTensor,
} from './values';

/*
 * A restricted unpickler: it understands the opcodes PyTorch's `torch.save` emits for state
 * dicts and optimizer states (pickle protocol 2, plus the few protocol 4 ones a newer writer may
 * use), and applies only the allow-listed callables. Nothing is ever looked up or executed: a
 * GLOBAL outside the list, or an opcode outside the list, is an UnsafePickleError at once.
 * Every length is checked against the bytes left before anything is allocated.
 */

/** The greatest nesting of containers a file may have; deeper is refused (and never recursed). */
export const MAX_NESTING = 512;
/** Python ints encoded in more bytes than this are refused (no checkpoint needs them). */
const MAX_LONG_BYTES = 1024;
/**
 * Opcodes one unpickle runs at most unless told otherwise. A state dict takes a few dozen per
 * tensor, so this is far above any checkpoint's, and it bounds the work of a hostile pickle.
 */
export const MAX_OPCODES = 1 << 24;

/** Work an unpickle did, counted as it goes: after a refusal it says how far it got. */
export interface UnpickleWork {
  opcodes: number;
}

/** A storage a tensor points into: `numel` elements of `dtype`, at least `numel * size` bytes. */
export interface StorageRef {
  readonly kind: 'storage';
  readonly dtype: DType;
  readonly key: string;
  readonly numel: number;
  readonly bytes: Uint8Array;
}

export interface UnpickleHooks {
  /** Resolves a persistent id `('storage', <dtype>, key, location, numel)` to its storage. */
  loadStorage(dtype: DType, key: string, numel: number): StorageRef;
  /** `_rebuild_tensor_v2(storage, offset, size, stride, ...)`: materializes a tensor. */
  rebuildTensor(storage: StorageRef, offset: number, shape: number[], stride: number[]): Tensor;
}

class GlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

class StorageItem {
  constructor(readonly ref: StorageRef) {}
}

type Item = PyValue | GlobalRef | StorageItem;

const ORDERED_DICT = 'collections OrderedDict';
const REBUILD_TENSOR_V2 = 'torch._utils _rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils _rebuild_parameter';
const ALLOWED_CALLABLES = new Set([ORDERED_DICT, REBUILD_TENSOR_V2, REBUILD_PARAMETER]);

function isAllowedGlobal(module: string, name: string): boolean {
  const full = `${module} ${name}`;
  if (ALLOWED_CALLABLES.has(full)) return true;
  return module === 'torch' && STORAGE_DTYPE.has(name);
}

function formatError(message: string): TrainerError {
  return new TrainerError('CheckpointFormatError', `pickle: ${message}`);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw formatError('string is not valid UTF-8');
  }
}

function kindOf(v: Item | undefined): string {
  if (v instanceof GlobalRef) return `global ${v.toString()}`;
  if (v instanceof StorageItem) return 'storage';
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (Array.isArray(v)) return 'list';
  if (isTensor(v)) return 'tensor';
  return typeof v;
}

function isPyKey(v: Item): v is PyKey {
  return (
    v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean'
  );
}

function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decodes a little-endian two's complement integer (LONG1/LONG4). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return intValue(v);
}

/**
 * Unpickles `data` with the allow-list above. Returns the value model (see values.ts); never
 * returns internal objects (a bare global or storage) and never a cyclic or too deeply nested
 * structure. Refuses (CheckpointFormatError) before running more than `maxOpcodes` opcodes.
 */
export function unpickle(
  data: Uint8Array,
  hooks: UnpickleHooks,
  maxOpcodes = MAX_OPCODES,
  work: UnpickleWork = { opcodes: 0 },
): PyValue {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = data.length;
  let pos = 0;
  let stack: Item[] = [];
  const marks: Item[][] = [];
  const memo = new Map<number, Item>();

  const need = (n: number, what: string): void => {
    if (n > end - pos) throw formatError(`${what} needs ${n} bytes, ${end - pos} left`);
  };
  const u8 = (): number => {
    need(1, 'opcode argument');
    return data[pos++];
  };
  const u16 = (): number => {
    need(2, 'opcode argument');
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4, 'opcode argument');
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const bytesOf = (n: number, what: string): Uint8Array => {
    need(n, what);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (what: string): string => {
    // GLOBAL's module and name: newline-terminated, short.
    const limit = Math.min(end, pos + 256);
    for (let i = pos; i < limit; i++) {
      if (data[i] === 0x0a) {
        const s = decodeUtf8(data.subarray(pos, i));
        pos = i + 1;
        return s;
      }
    }
    throw formatError(`${what} is not terminated`);
  };
  const pop = (): Item => {
    if (stack.length === 0) throw formatError('stack underflow');
    return stack.pop() as Item;
  };
  const top = (): Item => {
    if (stack.length === 0) throw formatError('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): Item[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) throw formatError('no MARK to pop to');
    stack = prev;
    return items;
  };
  const value = (v: Item, where: string): PyValue => {
    if (v instanceof GlobalRef || v instanceof StorageItem)
      throw formatError(`${kindOf(v)} cannot be used as ${where}`);
    return v;
  };
  const setItems = (target: Item, items: Item[]): void => {
    if (!(target instanceof PyDict)) throw formatError(`SETITEM(S) on a ${kindOf(target)}`);
    if (items.length % 2 !== 0) throw formatError('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (!isPyKey(k)) throw formatError(`unsupported dict key type ${kindOf(k)}`);
      target.set(k, value(items[i + 1], 'a dict value'));
    }
  };
  const appendItems = (target: Item, items: Item[]): void => {
    if (!Array.isArray(target)) throw formatError(`APPEND(S) on a ${kindOf(target)}`);
    for (const it of items) target.push(value(it, 'a list item'));
  };
  const pushGlobal = (module: string, name: string): void => {
    if (!isAllowedGlobal(module, name)) {
      throw new TrainerError('UnsafePickleError', `pickle refers to ${module}.${name}, which is not allowed`);
    }
    stack.push(new GlobalRef(module, name));
  };

  for (;;) {
    if (pos >= end) throw formatError('ends without STOP');
    if (work.opcodes >= maxOpcodes) throw formatError(`more than ${maxOpcodes} opcodes (the limit of one read)`);
    work.opcodes++;
    const op = data[pos++];
    switch (op) {
      case OP.PROTO: {
        const v = u8();
        if (v > 5) throw formatError(`unknown protocol ${v}`);
        break;
      }
      case OP.FRAME: {
        // An 8-byte length we only bound; the opcodes inside are read as usual.
        const lo = u32();
        const hi = u32();
        if (hi !== 0 || lo > end - pos) throw formatError('FRAME longer than the pickle');
        break;
      }
      case OP.STOP: {
        if (marks.length !== 0) throw formatError('STOP inside a MARK');
        if (stack.length !== 1) throw formatError(`STOP with ${stack.length} items on the stack`);
        const result = value(stack[0], 'the result');
        checkStructure(result);
        return result;
      }
      case OP.MARK:
        marks.push(stack);
        stack = [];
        break;
      case OP.POP:
        pop();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT: {
        need(4, 'BININT');
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(u16());
        break;
      case OP.LONG1: {
        const n = u8();
        stack.push(decodeLong(bytesOf(n, 'LONG1')));
        break;
      }
      case OP.LONG4: {
        need(4, 'LONG4');
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0 || n > MAX_LONG_BYTES) throw formatError(`LONG4 of ${n} bytes`);
        stack.push(decodeLong(bytesOf(n, 'LONG4')));
        break;
      }
      case OP.BINFLOAT: {
        // Python writes BINFLOAT big-endian, unlike every other number in a pickle.
        need(8, 'BINFLOAT');
        stack.push(new PyFloat(view.getFloat64(pos, false)));
        pos += 8;
        break;
      }
      case OP.BINUNICODE: {
        const n = u32();
        stack.push(decodeUtf8(bytesOf(n, 'BINUNICODE')));
        break;
      }
      case OP.SHORT_BINUNICODE: {
        const n = u8();
        stack.push(decodeUtf8(bytesOf(n, 'SHORT_BINUNICODE')));
        break;
      }
      case OP.BINUNICODE8: {
        const lo = u32();
        const hi = u32();
        if (hi !== 0) throw formatError('BINUNICODE8 longer than the pickle');
        stack.push(decodeUtf8(bytesOf(lo, 'BINUNICODE8')));
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new PyDict());
        break;
      case OP.DICT: {
        const items = popMark();
        const d = new PyDict();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.LIST: {
        const items = popMark();
        const l: PyValue[] = [];
        appendItems(l, items);
        stack.push(l);
        break;
      }
      case OP.APPEND: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case OP.EMPTY_TUPLE:
        stack.push(new PyTuple([]));
        break;
      case OP.TUPLE: {
        // Tuples may hold globals and storages (a persistent id, REDUCE args).
        // popMark() replaces `stack`, so it must run before `stack.push` is looked up.
        const items = popMark();
        stack.push(new PyTuple(items as PyValue[]));
        break;
      }
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        if (stack.length < n) throw formatError('stack underflow');
        stack.push(new PyTuple(stack.splice(stack.length - n, n) as PyValue[]));
        break;
      }
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const i = op === OP.BINGET ? u8() : u32();
        const v = memo.get(i);
        if (v === undefined) throw formatError(`memo ${i} is empty`);
        stack.push(v);
        break;
      }
      case OP.GLOBAL: {
        const module = line('GLOBAL module');
        const name = line('GLOBAL name');
        pushGlobal(module, name);
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw formatError('STACK_GLOBAL needs two strings');
        pushGlobal(module, name);
        break;
      }
      case OP.BINPERSID: {
        stack.push(new StorageItem(persistentLoad(pop(), hooks)));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args, hooks));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        build(top(), state);
        break;
      }
      default: {
        const name = opcodeName(op);
        if (name) throw new TrainerError('UnsafePickleError', `pickle opcode ${name} is not allowed`);
        throw formatError(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at ${pos - 1}`);
      }
    }
  }
}

function persistentLoad(pid: Item, hooks: UnpickleHooks): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
    throw new TrainerError('UnsafePickleError', 'only storages may be loaded by persistent id');
  }
  const [, type, key, location, numel] = pid.items as Item[];
  if (!(type instanceof GlobalRef) || type.module !== 'torch' || !STORAGE_DTYPE.has(type.name)) {
    throw formatError(`persistent id names ${kindOf(type)}, not a storage class`);
  }
  if (typeof key !== 'string' || typeof location !== 'string') throw formatError('bad storage persistent id');
  if (typeof numel !== 'number' || numel < 0) throw formatError(`bad storage size ${kindOf(numel)}`);
  return hooks.loadStorage(STORAGE_DTYPE.get(type.name) as DType, key, numel);
}

function intList(v: Item, what: string): number[] {
  if (!(v instanceof PyTuple)) throw formatError(`${what} is a ${kindOf(v)}, not a tuple`);
  const out: number[] = [];
  for (const x of v.items) {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
      throw formatError(`${what} holds ${typeof x === 'number' || typeof x === 'bigint' ? x : typeof x}`);
    out.push(x);
  }
  return out;
}

function reduce(fn: Item, args: Item, hooks: UnpickleHooks): Item {
  if (!(fn instanceof GlobalRef)) throw new TrainerError('UnsafePickleError', `REDUCE on a ${kindOf(fn)}`);
  const full = `${fn.module} ${fn.name}`;
  if (!ALLOWED_CALLABLES.has(full))
    throw new TrainerError('UnsafePickleError', `calling ${fn.toString()} is not allowed`);
  if (!(args instanceof PyTuple)) throw formatError(`REDUCE arguments are a ${kindOf(args)}`);
  const a = args.items as Item[];
  if (full === ORDERED_DICT) {
    if (a.length !== 0) throw formatError('OrderedDict with arguments');
    return new PyDict(null, true);
  }
  if (full === REBUILD_TENSOR_V2) {
    if (a.length < 6 || a.length > 7) throw formatError(`_rebuild_tensor_v2 with ${a.length} arguments`);
    const [storage, offset, size, stride, requiresGrad, hooksDict] = a;
    if (!(storage instanceof StorageItem)) throw formatError(`_rebuild_tensor_v2 on a ${kindOf(storage)}`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
      throw formatError('bad storage offset');
    const shape = intList(size, 'tensor size');
    const strides = intList(stride, 'tensor stride');
    if (shape.length !== strides.length) throw formatError('tensor size and stride differ in length');
    if (typeof requiresGrad !== 'boolean') throw formatError('requires_grad is not a bool');
    if (!(hooksDict instanceof PyDict)) throw formatError('backward hooks are not a dict');
    const t = hooks.rebuildTensor(storage.ref, offset, shape, strides);
    if (requiresGrad) t.requiresGrad = true;
    return t;
  }
  // _rebuild_parameter(data, requires_grad, backward_hooks)
  if (a.length !== 3) throw formatError(`_rebuild_parameter with ${a.length} arguments`);
  const [data, requiresGrad] = a;
  if (!isTensor(data)) throw formatError(`_rebuild_parameter on a ${kindOf(data)}`);
  if (typeof requiresGrad !== 'boolean') throw formatError('requires_grad is not a bool');
  const p: Tensor = { dtype: data.dtype, shape: data.shape, data: data.data };
  if (requiresGrad) p.requiresGrad = true;
  return p;
}

function build(inst: Item, state: Item): void {
  if (!(inst instanceof PyDict) || !inst.ordered) throw formatError(`BUILD on a ${kindOf(inst)}`);
  if (state === null) return;
  if (!(state instanceof PyDict)) throw formatError(`BUILD with a ${kindOf(state)} state`);
  for (const [k, v] of state) {
    if (typeof k !== 'string') throw formatError('attribute name is not a string');
    inst.attributes ??= new Map();
    inst.attributes.set(k, v);
  }
}

/**
 * Refuses cycles (a list that holds itself, through the memo) and nesting deeper than
 * MAX_NESTING, so callers may recurse over the result. Shared sub-values (tied tensors) are
 * fine and visited once.
 */
function checkStructure(root: PyValue): void {
  const height = new Map<object, number>(); // -1 while on the current path
  interface Frame {
    node: object;
    children: PyValue[];
    i: number;
    h: number;
  }
  const childrenOf = (v: PyValue): PyValue[] | undefined => {
    if (Array.isArray(v)) return v;
    if (v instanceof PyTuple) return v.items as PyValue[];
    if (v instanceof PyDict) {
      const out = [...v.values()];
      if (v.attributes) out.push(...v.attributes.values());
      return out;
    }
    return undefined;
  };
  const rootChildren = childrenOf(root);
  if (!rootChildren) return;
  const path: Frame[] = [{ node: root as object, children: rootChildren, i: 0, h: 0 }];
  height.set(root as object, -1);
  while (path.length > 0) {
    const f = path[path.length - 1];
    if (f.i === f.children.length) {
      path.pop();
      height.set(f.node, f.h + 1);
      if (f.h + 1 > MAX_NESTING) throw formatError(`nesting deeper than ${MAX_NESTING}`);
      if (path.length > 0) {
        const parent = path[path.length - 1];
        parent.h = Math.max(parent.h, f.h + 1);
      }
      continue;
    }
    const c = f.children[f.i++] as Item;
    if (c instanceof GlobalRef || c instanceof StorageItem) throw formatError(`a bare ${kindOf(c)} in the result`);
    const cc = childrenOf(c);
    if (!cc) continue;
    const known = height.get(c as object);
    if (known === -1) throw formatError('cyclic structure');
    if (known !== undefined) {
      f.h = Math.max(f.h, known);
      continue;
    }
    if (path.length > MAX_NESTING) throw formatError(`nesting deeper than ${MAX_NESTING}`);
    height.set(c as object, -1);
    path.push({ node: c as object, children: cc, i: 0, h: 0 });
  }
}
