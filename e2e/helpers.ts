import { expect, type Page } from '@playwright/test';

/** The run's visible counters, read from the status region's data attributes. */
export async function progress(page: Page): Promise<{ update: number; loss: number; numTensors: number }> {
  const status = page.getByRole('status');
  const [update, loss, numTensors] = await Promise.all([
    status.getAttribute('data-update'),
    status.getAttribute('data-loss'),
    status.getAttribute('data-num-tensors'),
  ]);
  return { update: Number(update ?? 0), loss: Number(loss ?? NaN), numTensors: Number(numTensors ?? NaN) };
}

export async function waitForUpdate(page: Page, atLeast: number, timeout = 120_000): Promise<void> {
  await expect.poll(async () => (await progress(page)).update, { timeout }).toBeGreaterThanOrEqual(atLeast);
}

/** Small settings so specs run quickly on a software GPU. */
export const SMALL_RUN = 'hidden=32&embed=8&batch_size=32&eval_every=50&epochs=50';
