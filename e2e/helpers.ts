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

/** The latest validation loss and the update it was measured at. */
export async function validation(page: Page): Promise<{ update: number; loss: number }> {
  const status = page.getByRole('status');
  const [update, loss] = await Promise.all([
    status.getAttribute('data-val-update'),
    status.getAttribute('data-val-loss'),
  ]);
  return { update: Number(update ?? -1), loss: Number(loss ?? NaN) };
}

export async function waitForValidation(
  page: Page,
  atUpdate: number,
  timeout = 120_000,
): Promise<{ update: number; loss: number }> {
  await expect.poll(async () => (await validation(page)).update, { timeout }).toBeGreaterThanOrEqual(atUpdate);
  return validation(page);
}

/** The update a resumed run started at, read off the run line ("… at update N"). */
export async function resumedUpdate(page: Page): Promise<number> {
  await expect(page.locator('#run-line')).toContainText('resumed from');
  return Number((await page.locator('#run-line').textContent())!.match(/at update (\d+)/)![1]);
}

export async function waitForUpdate(page: Page, atLeast: number, timeout = 120_000): Promise<void> {
  await expect.poll(async () => (await progress(page)).update, { timeout }).toBeGreaterThanOrEqual(atLeast);
}

/** Small settings so specs run quickly on a software GPU. (A key given twice in a URL counts once: the first.) */
/** (No time-triggered checkpoints: specs that count checkpoints must not depend on how fast this machine is.) */
export const SMALL_RUN = 'hidden=32&embed=8&batch_size=32&epochs=50&save_every_seconds=0';

/** No File System Access pickers: exports fall back to downloads, which Playwright can catch; every confirm() says yes. */
export async function withoutPickers(page: Page): Promise<void> {
  await page.addInitScript(() => {
    for (const k of ['showSaveFilePicker', 'showDirectoryPicker'])
      Object.defineProperty(window, k, { value: undefined, configurable: true });
  });
  page.on('dialog', (d) => void d.accept());
}
