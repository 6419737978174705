import { expect, test } from '@playwright/test';
import { SMALL_RUN, waitForUpdate } from './helpers';

test('a full disk pauses training with the way out, keeps earlier checkpoints, and resumes once space is freed', async ({ page, context, baseURL }) => {
  const cdp = await context.newCDPSession(page);
  const origin = new URL(baseURL!).origin;
  await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=20&eval_every=0&keep_checkpoint=-1&epochs=1000&run_id=disk-full`);
  // Room for a few checkpoints only (each is ~90 KiB in each of two stores).
  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: (usage ?? 0) + 1_200_000 });
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('alert')).toContainText('QuotaExceededError', { timeout: 120_000 });
  await expect(page.getByRole('alert')).toContainText(/delete|free/i);
  await expect(page.getByRole('status')).toContainText('paused');
  const pausedAt = Number(await page.getByRole('status').getAttribute('data-update'));
  await page.waitForTimeout(1000);
  expect(Number(await page.getByRole('status').getAttribute('data-update'))).toBe(pausedAt);
  // The user frees space; Resume retries the save and training goes on.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  await page.getByRole('button', { name: 'Resume' }).click();
  await waitForUpdate(page, pausedAt + 40);
  await expect(page.getByRole('status')).not.toContainText('paused');
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  // A checkpoint written before the disk filled still loads: resume from the first one.
  await page.goto(`/?${SMALL_RUN}&backend=wasm&eval_every=0&resume_run_id=disk-full&resume_checkpoint=U20`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('#run-line')).toContainText('at update 20');
  await waitForUpdate(page, 25);
});
