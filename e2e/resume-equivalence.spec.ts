// A whole run through the page on the CPU backend: stopped with Stop in epoch 0 and again in
// epoch 1, continued each time with "Continue this run", it ends with a `last` checkpoint whose
// weights and optimizer state are bit for bit those of the same run left alone (Adam, warm-up
// then cosine decay). The other optimizers and dropout go through the same resume code in
// src/worker/resume-equivalence.browser.test.ts, which is cheaper than the page.
import { expect, test, type Page } from '@playwright/test';
import { decodeModelPart, decodeOptimPart, decodeTrainerPart, type WeightTensor } from '../src/checkpoint/contents';
import { readTorchFile } from '../src/checkpoint/torch/index';
import { progress } from './helpers';

const RUN =
  'backend=cpu&epochs=2&eval_every=0&save_every=0&save_at_epoch_end=false&save_every_seconds=0&batch_size=512&hidden=8&embed=4&schedule=cosine&warmup=30&lr=0.01';

/** The three parts of a stored checkpoint, read straight from OPFS (real folders and files). */
async function readStored(page: Page, runId: string, tag: string) {
  const bytes = await page.evaluate(
    async ({ runId, tag }) => {
      let dir = await navigator.storage.getDirectory();
      for (const name of ['runs', runId, 'train', 'checkpoints']) dir = await dir.getDirectoryHandle(name);
      const out: Record<string, number[]> = {};
      for (const part of ['model', 'optim', 'trainer']) {
        const file = await (await dir.getFileHandle(`char-mlp_cp=${tag}_${part}.th`)).getFile();
        out[part] = Array.from(new Uint8Array(await file.arrayBuffer()));
      }
      return out;
    },
    { runId, tag },
  );
  const part = (p: string) => readTorchFile(Uint8Array.from(bytes[p]));
  return {
    model: decodeModelPart(part('model')),
    optim: decodeOptimPart(part('optim')),
    trainer: decodeTrainerPart(part('trainer')),
  };
}

async function finished(page: Page): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-state', 'done', { timeout: 150_000 });
}

async function stopAndContinue(page: Page, atLeast: number): Promise<number> {
  // Pressed by the page itself the moment the status shows `atLeast`: the stop must land well
  // inside the epoch, and a round trip through the test runner per poll could overshoot it on a
  // fast machine.
  await page.evaluate(
    (atLeast) =>
      new Promise<void>((resolve) => {
        const status = document.getElementById('status')!;
        const check = () => {
          if (Number(status.dataset.update ?? 0) < atLeast) return false;
          watch.disconnect();
          document.getElementById('stop')!.click();
          resolve();
          return true;
        };
        const watch = new MutationObserver(check);
        if (!check()) watch.observe(status, { attributes: true, attributeFilter: ['data-update'] });
      }),
    atLeast,
  );
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  const stoppedAt = (await progress(page)).update;
  await page.getByRole('button', { name: 'Continue this run' }).click();
  await expect(page.locator('#run-line')).toContainText(`at update ${stoppedAt}`);
  return stoppedAt;
}

/** Largest |a - b|, and whether every bit is the same. */
function diff(a: WeightTensor, b: WeightTensor): { max: number; sameBits: boolean } {
  expect(b.shape).toEqual(a.shape);
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  const x = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const y = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  return { max, sameBits: x.every((v, i) => v === y[i]) };
}

test('a run stopped twice and continued through the page ends bit-identical to the run left alone (CPU backend)', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await page.goto(`/?${RUN}&run_id=eq-alone`);
  await page.getByRole('button', { name: 'Start' }).click();
  await finished(page);

  await page.goto(`/?${RUN}&run_id=eq-stopped`);
  const alone = await readStored(page, 'eq-alone', 'last');
  await page.getByRole('button', { name: 'Start' }).click();
  const total = alone.trainer.counters.update;
  const perEpoch = total / 2;
  const first = await stopAndContinue(page, 10);
  const second = await stopAndContinue(page, perEpoch + 10);
  await finished(page);
  // One stop in each epoch: the first continued run crossed the epoch boundary.
  expect(first).toBeLessThan(perEpoch);
  expect(second).toBeGreaterThan(perEpoch);
  expect(second).toBeLessThan(total);

  const stopped = await readStored(page, 'eq-stopped', 'last');
  expect(stopped.trainer.counters).toEqual(alone.trainer.counters);
  expect(stopped.trainer.rng).toEqual(alone.trainer.rng);
  expect({ step: stopped.optim.step, lr: stopped.optim.lr }).toEqual({ step: alone.optim.step, lr: alone.optim.lr });
  const differing: string[] = [];
  let weights = 0;
  let state = 0;
  for (const [name, w] of alone.model.stateDict) {
    const d = diff(w, stopped.model.stateDict.get(name)!);
    weights = Math.max(weights, d.max);
    if (!d.sameBits) differing.push(name);
  }
  expect([...stopped.optim.slots.keys()]).toEqual([...alone.optim.slots.keys()]);
  for (const [name, slots] of alone.optim.slots) {
    for (const slot of ['exp_avg', 'exp_avg_sq']) {
      const d = diff(slots[slot], stopped.optim.slots.get(name)![slot]);
      state = Math.max(state, d.max);
      if (!d.sameBits) differing.push(`${name}.${slot}`);
    }
  }
  console.log(
    `page, CPU backend: ${total} updates, stopped at ${first} and ${second}: max |Δ| weights ${weights}, Adam state ${state}`,
  );
  expect(differing).toEqual([]);
  expect(alone.optim.slots.size).toBe(5);
});
