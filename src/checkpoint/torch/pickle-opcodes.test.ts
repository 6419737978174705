// The opcode table is checked against Python's own list, so a typo cannot pass for an opcode.
import { expect, it } from 'vitest';
import { runPythonJson } from '../../../tools/python';
import { OP, opcodeName } from './pickle-opcodes';

const PY_OPCODES = `
import json, pickletools
print(json.dumps({op.name: ord(op.code) for op in pickletools.opcodes}))
`;

it("names every opcode as Python's pickletools does, with its byte", () => {
  const python = runPythonJson<Record<string, number>>(PY_OPCODES, []);
  expect(OP).toEqual(python);
});

it('names a byte back from the table, and no name for a byte that is no opcode', () => {
  for (const [name, code] of Object.entries(OP)) expect(opcodeName(code)).toBe(name);
  expect(opcodeName(0x00)).toBeUndefined();
  expect(opcodeName(0xff)).toBeUndefined();
});
