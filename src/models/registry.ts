/** Every built-in model, by kind. The one place a new model is registered. */
import type { ModelKind } from '../shared/config';
import { charMlp } from './char-mlp';
import { gpt } from './gpt';
import { seq2seq } from './seq2seq';
import { textMlp } from './text-mlp';
import type { ModelDefinition } from './types';

export const MODEL_REGISTRY: Record<ModelKind, ModelDefinition> = {
  // Each model's definition is typed by its own config; the registry sees them through the common one.
  'char-mlp': charMlp as unknown as ModelDefinition,
  gpt: gpt as unknown as ModelDefinition,
  seq2seq: seq2seq as unknown as ModelDefinition,
  'text-mlp': textMlp as unknown as ModelDefinition,
};

export function modelDefinition(kind: string): ModelDefinition {
  const def = (MODEL_REGISTRY as Record<string, ModelDefinition | undefined>)[kind];
  if (!def) throw new Error(`unknown model kind ${kind}`);
  return def;
}
