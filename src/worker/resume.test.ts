import { describe, expect, it } from 'vitest';
import type { Weights } from '../checkpoint/contents';
import { DEFAULT_CONFIG, type RunConfig } from '../shared/config';
import { checkTopology, continueConfig, matchWeights } from './resume';

const saved: RunConfig = { ...DEFAULT_CONFIG, hidden: 64, lr: 0.003, epochs: 5, batch_size: 32, run_id: 'r1' };

describe("continueConfig: OpenNMT's -continue rules", () => {
  it('takes settings from the checkpoint, lets epochs, batch size and dropout change', () => {
    // A checkpoint's config arrives as plain JSON; a typed RunConfig stands in for it here.
    const run = continueConfig(saved as unknown as Record<string, unknown>, {
      ...DEFAULT_CONFIG,
      epochs: 9,
      batch_size: 8,
      dropout: 0.3,
      resume_run_id: 'r1',
    });
    expect(run.hidden).toBe(64);
    expect(run.lr).toBe(0.003);
    expect(run.epochs).toBe(9);
    expect(run.batch_size).toBe(8);
    expect(run.dropout).toBe(0.3);
  });

  it('never shortens a run, and keep_states/all take the new learning rate', () => {
    const req = { ...DEFAULT_CONFIG, epochs: 2, lr: 0.05, resume_run_id: 'r1' };
    expect(continueConfig(saved as never, req).epochs).toBe(5);
    expect(continueConfig(saved as never, req).lr).toBe(0.003);
    expect(continueConfig(saved as never, { ...req, reset_optim: 'keep_states' }).lr).toBe(0.05);
    expect(continueConfig(saved as never, { ...req, reset_optim: 'all', optimizer: 'sgd' }).optimizer).toBe('sgd');
    expect(continueConfig(saved as never, { ...req, reset_optim: 'keep_states', optimizer: 'sgd' }).optimizer).toBe(
      'adam',
    );
  });

  it('refuses a topology change, listing every difference', () => {
    expect(() => continueConfig(saved as never, { ...DEFAULT_CONFIG, hidden: 32, embed: 8 })).toThrow(
      expect.objectContaining({
        name: 'TopologyMismatchError',
        message: expect.stringMatching(/embed: checkpoint 16, requested 8; hidden: checkpoint 64, requested 32/),
      }),
    );
  });

  it('checkTopology compares the saved model config and vocabulary with the one this run builds', () => {
    const cfg = { kind: 'char-mlp', vocab_size: 27, hidden: 64, vocabulary: { chars: ['.', 'a'] } };
    expect(() => checkTopology(cfg, { ...cfg })).not.toThrow();
    expect(() => checkTopology(cfg, { ...cfg, vocabulary: { chars: ['.', 'b'] } })).toThrow(
      expect.objectContaining({
        name: 'TopologyMismatchError',
        message: expect.stringContaining('vocabulary differs'),
      }),
    );
  });
});

describe('matchWeights: warm start by name', () => {
  const w = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const ckpt: Weights = new Map([
    ['module.embedding.weight', w([27, 8])],
    ['module.layers.0.weight', w([32, 24])],
    ['module.layers.0.bias', w([32])],
    ['module.layers.2.weight', w([30, 32])],
    ['module.aux.weight', w([3])],
  ]);
  const shapes = {
    'embedding.weight': [27, 8],
    'layers.0.weight': [32, 24],
    'layers.0.bias': [32],
    'layers.2.weight': [27, 32],
    'layers.2.bias': [27],
  };

  it('renames and removes by pattern, and reports loaded, missing, extra and wrong shapes', () => {
    const { matched, report } = matchWeights(ckpt, shapes, { rename: '^module\\.=>', remove: 'aux', strict: false });
    expect([...matched.keys()]).toEqual(['embedding.weight', 'layers.0.weight', 'layers.0.bias']);
    expect(report.missing).toEqual(['layers.2.bias']);
    expect(report.wrongShape).toEqual([{ name: 'layers.2.weight', checkpoint: [30, 32], model: [27, 32] }]);
    expect(report.removed).toEqual(['module.aux.weight']);
    expect(report.extra).toEqual([]);
    expect(report.renamed).toHaveLength(4);
  });

  it('strict mode refuses any mismatch with a named error', () => {
    expect(() => matchWeights(ckpt, shapes, { rename: '^module\\.=>', remove: '', strict: true })).toThrow(
      expect.objectContaining({
        name: 'ShapeMismatchError',
        message: expect.stringMatching(/missing: layers.2.bias.*unexpected: aux.weight.*wrong shape/),
      }),
    );
  });
});
