/**
 * The parameter names and shapes a saved model config builds, for checking an imported
 * checkpoint before it is stored. The page asks the worker, which holds the model code (and
 * tfjs); a config this app cannot build is refused with a reason.
 */
import { modelDefinition } from '../models/registry';
import type { ModelConfig } from '../models/types';

const MAX_DIM = 1 << 24;

export function modelShapes(config: Record<string, unknown>): Record<string, number[]> {
  const kind = config?.kind;
  if (typeof kind !== 'string') throw new Error('model_config has no "kind"');
  let def;
  try {
    def = modelDefinition(kind);
  } catch {
    throw new Error(`unknown model kind "${kind}"`);
  }
  for (const key of def.topologyKeys) {
    const v = config[key];
    const ok = typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_DIM);
    if (!ok) throw new Error(`model_config.${key} is ${JSON.stringify(v)}; a ${kind} model needs a whole number there`);
  }
  const shapes: Record<string, number[]> = {};
  for (const spec of def.paramSpecs(config as ModelConfig)) {
    if (!spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`model_config gives ${spec.name} the shape [${spec.shape}]`);
    shapes[spec.name] = spec.shape;
  }
  return shapes;
}
