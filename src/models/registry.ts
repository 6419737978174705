/** Every built-in model, by kind. The one place a new model is registered. */
import type { ModelKind, RunConfig } from '../shared/config';
import { charMlp, type CharMlpConfig } from './char-mlp';
import type { ModelConfig, ModelDefinition } from './types';

export const MODEL_REGISTRY: Record<ModelKind, ModelDefinition> = {
  'char-mlp': charMlp as unknown as ModelDefinition,
};

/** The model config for a run: the run's settings that shape the model, plus the vocabulary size. */
export function modelConfigFor(run: RunConfig, vocabSize: number): ModelConfig {
  switch (run.model) {
    case 'char-mlp': {
      const c: CharMlpConfig = { kind: 'char-mlp', vocab_size: vocabSize, context: run.context, embed: run.embed, hidden: run.hidden };
      return c;
    }
  }
}

export function modelDefinition(kind: string): ModelDefinition {
  const def = (MODEL_REGISTRY as Record<string, ModelDefinition | undefined>)[kind];
  if (!def) throw new Error(`unknown model kind ${kind}`);
  return def;
}
