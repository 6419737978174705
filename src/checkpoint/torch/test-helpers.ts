// Shared by the tests in this folder (not part of the public API; excluded from nothing, it is
// plain code with no test globals so it also compiles in the app and worker realms).
import { type PyValue, PyDict, PyFloat, PyTuple, isTensor, tensorToNumbers } from './values';

/** The JSON shape scripts/make-torch-fixtures.py writes into expected.json. */
export type Described =
  | null
  | boolean
  | number
  | string
  | Described[]
  | { tensor: string; shape: number[]; sum: number; first: number | null }
  | { float: number }
  | { tuple: Described[] }
  | { dict: [string | { int: number }, Described][]; ordered: boolean };

/** Describes a value the way the fixture script describes the Python object. */
export function describe(v: PyValue): Described {
  if (isTensor(v)) {
    const xs = tensorToNumbers(v);
    let sum = 0;
    for (const x of xs) sum += x;
    return { tensor: v.dtype, shape: [...v.shape], sum, first: xs.length ? xs[0] : null };
  }
  if (v instanceof PyFloat) return { float: v.value };
  if (v instanceof PyTuple) return { tuple: v.items.map(describe) };
  if (v instanceof PyDict) {
    return {
      dict: [...v.entries()].map(([k, x]) => [typeof k === 'string' ? k : { int: Number(k) }, describe(x)]),
      ordered: v.ordered,
    };
  }
  if (Array.isArray(v)) return v.map(describe);
  if (typeof v === 'bigint') return Number(v);
  // The writer's rule: a number that is not a safe integer (or is -0) is a Python float.
  if (typeof v === 'number' && (!Number.isSafeInteger(v) || Object.is(v, -0))) return { float: v };
  return v;
}

/** Compares two descriptions; sums with a relative tolerance. Returns the first difference. */
export function diff(actual: unknown, expected: unknown, path = '$'): string | null {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (actual === expected || (Number.isNaN(expected) && Number.isNaN(actual))) return null;
    const tol = 1e-9 * Math.max(1, Math.abs(expected));
    return Math.abs(actual - expected) <= tol ? null : `${path}: ${actual} != ${expected}`;
  }
  if (expected === null || typeof expected !== 'object') {
    return actual === expected ? null : `${path}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`;
  }
  if (actual === null || typeof actual !== 'object') return `${path}: ${JSON.stringify(actual)} is not an object/array`;
  if (Array.isArray(expected) !== Array.isArray(actual)) return `${path}: array vs object`;
  // Object keys in any order (expected.json is written with sorted keys); array order matters.
  const ek = Object.keys(expected).sort();
  const ak = Object.keys(actual).sort();
  if (ek.length !== ak.length || ek.some((k, i) => k !== ak[i])) return `${path}: keys ${ak} != ${ek}`;
  for (const k of ek) {
    const d = diff((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}
