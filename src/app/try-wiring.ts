/**
 * What the Try panel needs from the page: the trainer's `tryModel`, and the stores read directly
 * (listing a run's checkpoints, and a stored run's task from its trainer part).
 */
import { decodeTrainerPart } from '../checkpoint/contents';
import { formatTag } from '../checkpoint/naming';
import type { DualCheckpointStore } from '../checkpoint/store/dual-store';
import { readTorchFile } from '../checkpoint/torch/index';
import { MODELS, TASKS, type TaskName } from '../shared/config';
import type { TryRequest, TryResult } from '../shared/try';
import type { TryCheckpoint, TryPanelDeps } from './views/try-panel';
import { formatMetric } from './views/results';

export function tryPanelDeps(
  store: DualCheckpointStore,
  tryModel: (r: TryRequest) => Promise<TryResult>,
): TryPanelDeps {
  const stageMetas = async (runId: string, stageName?: string) =>
    (await store.list({ runId, stageName })).filter(
      (m) => m.id.stageName === stageName && m.id.modelInfo === undefined,
    );
  return {
    tryModel,
    async listCheckpoints(runId, stageName): Promise<TryCheckpoint[]> {
      const metas = await stageMetas(runId, stageName);
      return metas
        .sort((a, b) => b.counters.update - a.counters.update || b.createdAt - a.createdAt)
        .map((m) => {
          const loss = m.metrics['val/loss'];
          return {
            tag: formatTag(m.id.tag),
            update: m.counters.update,
            metrics: loss === undefined ? '' : `val/loss ${formatMetric('val/loss', loss)}`,
          };
        });
    },
    async describeRun(runId, stageName) {
      const metas = await stageMetas(runId, stageName);
      const withTrainer = metas.find((m) => m.parts.some((p) => p.part === 'trainer'));
      if (withTrainer) {
        const config = decodeTrainerPart(readTorchFile(await store.read(withTrainer.key, 'trainer'))).config;
        if ((TASKS as readonly unknown[]).includes(config.task) && typeof config.model === 'string')
          return { task: config.task as TaskName, modelKind: config.model };
      }
      const kind = metas[0]?.id.modelName;
      if (!kind || !(MODELS as readonly string[]).includes(kind)) return null;
      return { task: kind === 'text-mlp' ? 'spam' : kind === 'seq2seq' ? 'g2p' : 'names', modelKind: kind };
    },
  };
}
