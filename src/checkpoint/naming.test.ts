import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyRuns } from '../../tools/property';
import {
  CHECKPOINT_PARTS,
  type CheckpointId,
  type CheckpointTag,
  checkpointFileName,
  checkpointKey,
  checkpointPath,
  formatTag,
  parseCheckpointKey,
  parseCheckpointPath,
  parseSelector,
  parseTag,
  selectCheckpoint,
  tags,
} from './naming';

const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('');
const word = (extra: string[], max = 20) =>
  fc
    .tuple(fc.constantFrom(...alnum), fc.array(fc.constantFrom(...alnum, ...extra), { maxLength: max }))
    .map(([h, t]) => h + t.join(''))
    .filter((s) => !s.includes('..'));

const counter = fc.oneof(fc.nat(1000), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
const tagArb: fc.Arbitrary<CheckpointTag> = fc.oneof(
  fc.record({ kind: fc.constant('periodic' as const), epoch: counter, update: counter, sample: counter }),
  fc.constant({ kind: 'latest' as const }),
  fc.constant({ kind: 'last' as const }),
  fc.record({ kind: fc.constant('best' as const), metric: word(['.', '_', '-']) }),
);
const infoField = fc
  .array(fc.constantFrom(...alnum, '.', '=', '-'), { minLength: 1, maxLength: 12 })
  .map((a) => a.join(''))
  .filter((s) => !s.startsWith('cp=') && !s.includes('..'));
const idArb: fc.Arbitrary<CheckpointId> = fc.record(
  {
    outputDir: word(['.', '_', '-']),
    runId: word(['.', '_', '-']),
    stageName: word(['.', '_', '-']).filter((s) => s !== 'checkpoints'),
    modelName: word(['.', '-']),
    modelInfo: fc
      .array(infoField, { minLength: 1, maxLength: 3 })
      .map((a) => a.join('_'))
      .filter((s) => !s.includes('..')),
    tag: tagArb,
  },
  { requiredKeys: ['outputDir', 'runId', 'modelName', 'tag'] },
);

describe('checkpoint names', () => {
  it('formats the documented examples', () => {
    const id: CheckpointId = {
      outputDir: 'runs',
      runId: 'r1',
      stageName: 'pretrain',
      modelName: 'encoder',
      tag: tags.periodic(10, 100, 200),
    };
    expect(checkpointPath(id, 'model')).toBe('runs/r1/pretrain/checkpoints/encoder_cp=E10_U100_S200_model.th');
    expect(checkpointKey(id)).toBe('runs/r1/pretrain/checkpoints/encoder_cp=E10_U100_S200');
    const ema: CheckpointId = {
      outputDir: 'runs',
      runId: 'r1',
      modelName: 'encoder',
      modelInfo: 'ema_factor=0.9999',
      tag: tags.best('val/loss'),
    };
    expect(checkpointPath(ema, 'model')).toBe(
      'runs/r1/checkpoints/encoder_ema_factor=0.9999_cp=best.val.loss_model.th',
    );
    expect(checkpointFileName({ ...id, tag: tags.latest() }, 'optim')).toBe('encoder_cp=latest_optim.th');
    expect(formatTag(tags.at({ epoch: 10, update: 100, sample: 200 }))).toBe('E10_U100_S200');
  });

  it('round-trips every generated id through path and key', () => {
    fc.assert(
      fc.property(idArb, fc.constantFrom(...CHECKPOINT_PARTS), (id, part) => {
        const path = checkpointPath(id, part);
        expect(parseCheckpointPath(path)).toEqual({ id, part });
        expect(checkpointPath(parseCheckpointPath(path).id, part)).toBe(path);
        expect(parseCheckpointKey(checkpointKey(id))).toEqual(id);
        expect(path.startsWith(checkpointKey(id) + '_')).toBe(true);
        expect(parseTag(formatTag(id.tag))).toEqual(id.tag);
      }),
      propertyRuns('naming: id round trip', 2000),
    );
  });

  it("accepts Noether's variants on import and normalises them", () => {
    const { id } = parseCheckpointPath('out/r/s/checkpoints/net_ema=0.9999_cp=best_model.loss_model.th');
    expect(id.modelInfo).toBe('ema_factor=0.9999');
    expect(id.tag).toEqual({ kind: 'best', metric: 'loss' });
    expect(checkpointPath(id, 'model')).toBe('out/r/s/checkpoints/net_ema_factor=0.9999_cp=best.loss_model.th');
  });

  it.each<[string, string, RegExp]>([
    ['empty segment', 'runs//checkpoints/m_cp=latest_model.th', /empty segment/],
    ['parent segment', 'runs/../checkpoints/m_cp=latest_model.th', /"\.\."/],
    ['dot-dot inside a run id', 'runs/a..b/checkpoints/m_cp=latest_model.th', /"\.\."/],
    ['no checkpoints folder', 'runs/r/ckpt/m_cp=latest_model.th', /"checkpoints" folder/],
    ['too many folders', 'a/runs/r/s/checkpoints/m_cp=latest_model.th', /expected <output_dir>/],
    ['too few folders', 'r/checkpoints/m_cp=latest_model.th', /expected <output_dir>/],
    ['hidden run id', 'runs/.r/checkpoints/m_cp=latest_model.th', /starting with a letter or digit/],
    ['space in a stage name', 'runs/r/my stage/checkpoints/m_cp=latest_model.th', /use only letters/],
    ['stage named checkpoints', 'runs/r/checkpoints/checkpoints/m_cp=latest_model.th', /reserved/],
    ['no _cp=', 'runs/r/checkpoints/m_latest_model.th', /no "_cp="/],
    ['two _cp=', 'runs/r/checkpoints/m_cp=1_cp=latest_model.th', /more than one "_cp="/],
    ['unknown part', 'runs/r/checkpoints/m_cp=latest_weights.th', /_model\.th, _optim\.th or _trainer\.th/],
    ['not .th', 'runs/r/checkpoints/m_cp=latest_model.pt', /does not end in "\.th"/],
    ['unknown tag', 'runs/r/checkpoints/m_cp=newest_model.th', /expected E\{epoch\}/],
    ['leading zero', 'runs/r/checkpoints/m_cp=E01_U1_S1_model.th', /canonical decimal/],
    ['negative counter', 'runs/r/checkpoints/m_cp=E-1_U1_S1_model.th', /canonical decimal/],
    ['huge counter', 'runs/r/checkpoints/m_cp=E1_U99999999999999999999_S1_model.th', /too large/],
    ['empty metric', 'runs/r/checkpoints/m_cp=best._model.th', /empty/],
    ['empty model name', 'runs/r/checkpoints/_cp=latest_model.th', /model_name "": it is empty/],
    ['empty info field', 'runs/r/checkpoints/m_a__b_cp=latest_model.th', /empty "_"-separated field/],
    ['bad info character', 'runs/r/checkpoints/m_a+b_cp=latest_model.th', /use only letters/],
  ])('refuses a path with %s', (_why, path, reason) => {
    expect(() => parseCheckpointPath(path)).toThrowError(
      expect.objectContaining({ name: 'CheckpointNameError', message: expect.stringMatching(reason) }),
    );
  });

  const base: CheckpointId = { outputDir: 'runs', runId: 'r', modelName: 'm', tag: { kind: 'latest' } };
  it.each<[string, Partial<CheckpointId>, RegExp]>([
    ['a "/" in a run id', { runId: 'a/b' }, /contains "\/"/],
    ['an empty run id', { runId: '' }, /it is empty/],
    ['a run id over 128 characters', { runId: 'r'.repeat(129) }, /longer than 128/],
    ['an output dir with a folder', { outputDir: 'a/b' }, /contains "\/"/],
    ['a model name with "_"', { modelName: 'my_net' }, /separates the model name/],
    ['a model name with "="', { modelName: 'n=1' }, /only model_info may use/],
    ['model info ending in a field cp=', { modelInfo: 'x_cp=3' }, /read as the checkpoint tag/],
    ['model info starting with cp=', { modelInfo: 'cp=3' }, /read as the checkpoint tag/],
    ['an empty model info', { modelInfo: '' }, /it is empty/],
    [
      'a fractional epoch',
      { tag: { kind: 'periodic', epoch: 1.5, update: 1, sample: 1 } },
      /non-negative safe integer/,
    ],
    ['a metric with a space', { tag: { kind: 'best', metric: 'val loss' } }, /use only letters/],
  ])('refuses an id with %s', (_why, patch, reason) => {
    expect(() => checkpointPath({ ...base, ...patch }, 'model')).toThrowError(
      expect.objectContaining({ name: 'CheckpointNameError', message: expect.stringMatching(reason) }),
    );
  });

  it('refuses a file name over 255 characters', () => {
    const id = { ...base, modelName: 'm'.repeat(128), modelInfo: 'i'.repeat(128) };
    expect(() => checkpointPath(id, 'model')).toThrowError(/longer than 255/);
  });
});

describe('resume selectors', () => {
  const cands = [
    tags.periodic(1, 50, 100),
    tags.periodic(2, 100, 200),
    tags.periodic(2, 120, 240),
    tags.periodic(3, 150, 300),
    tags.latest(),
    tags.best('loss'),
  ].map((tag) => ({ id: { outputDir: 'runs', runId: 'r', modelName: 'm', tag } }));

  it('parses counters and full tags', () => {
    expect(parseSelector('E10')).toEqual({ kind: 'counter', counter: 'epoch', value: 10 });
    expect(parseSelector('U100')).toEqual({ kind: 'counter', counter: 'update', value: 100 });
    expect(parseSelector('S200')).toEqual({ kind: 'counter', counter: 'sample', value: 200 });
    expect(parseSelector(undefined)).toEqual({ kind: 'tag', tag: { kind: 'latest' } });
    expect(parseSelector('last')).toEqual({ kind: 'tag', tag: { kind: 'last' } });
    expect(parseSelector('best.loss')).toEqual({ kind: 'tag', tag: { kind: 'best', metric: 'loss' } });
    expect(parseSelector('E1_U2_S3')).toEqual({ kind: 'tag', tag: tags.periodic(1, 2, 3) });
    expect(() => parseSelector('X3')).toThrowError(/resume selector "X3"/);
    expect(() => parseSelector('E')).toThrowError(expect.objectContaining({ name: 'CheckpointNameError' }));
  });

  it('picks the periodic checkpoint a counter names, the newest by update when several', () => {
    expect(selectCheckpoint(parseSelector('E2'), cands)?.id.tag).toEqual(tags.periodic(2, 120, 240));
    expect(selectCheckpoint(parseSelector('U100'), cands)?.id.tag).toEqual(tags.periodic(2, 100, 200));
    expect(selectCheckpoint(parseSelector('S300'), cands)?.id.tag).toEqual(tags.periodic(3, 150, 300));
    expect(selectCheckpoint(parseSelector('E9'), cands)).toBeUndefined();
    expect(selectCheckpoint(parseSelector(''), cands)?.id.tag).toEqual(tags.latest());
    expect(selectCheckpoint(parseSelector('best.loss'), cands)?.id.tag).toEqual(tags.best('loss'));
    expect(selectCheckpoint(parseSelector('E1_U50_S100'), cands)?.id.tag).toEqual(tags.periodic(1, 50, 100));
  });
});
