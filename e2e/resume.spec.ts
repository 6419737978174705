import { expect, test, type Page } from '@playwright/test';
import { progress, SMALL_RUN, waitForUpdate } from './helpers';

const SAVING = `${SMALL_RUN}&backend=wasm&save_every=40&eval_every=0`;

async function checkpointUpdate(page: Page): Promise<number> {
  return Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1);
}

test('a stopped run continues from its checkpoint with its counters', async ({ page }) => {
  await page.goto(`/?${SAVING}&run_id=stop-and-go`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 60);
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  const stoppedAt = await checkpointUpdate(page);
  expect(stoppedAt).toBeGreaterThanOrEqual(60);
  expect((await progress(page)).update).toBe(stoppedAt);
  await page.getByRole('button', { name: 'Continue this run' }).click();
  await expect(page.locator('#run-line')).toContainText(`resumed from`);
  await expect(page.locator('#run-line')).toContainText(`at update ${stoppedAt}`);
  await waitForUpdate(page, stoppedAt + 20);
});

test('after the tab dies, reopening the app resumes from the newest checkpoint', async ({ page, context }) => {
  await page.goto(`/?${SAVING}&run_id=crashy`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => checkpointUpdate(page), { timeout: 60_000 }).toBeGreaterThanOrEqual(80);
  const seen = (await progress(page)).update;
  // Close without unload handlers: what a crash or kill looks like to the app.
  await page.close({ runBeforeUnload: false });
  const again = await context.newPage();
  await again.goto('/');
  await expect(again.locator('#recovery-banner')).toContainText('Recovered run crashy', { timeout: 60_000 });
  const from = await again.locator('#recovery-banner').getAttribute('data-from');
  expect(from).toMatch(/^latest$|^E\d+_U\d+_S\d+$/);
  const lost = Number(await again.locator('#recovery-banner').getAttribute('data-lost'));
  expect(lost).toBeLessThanOrEqual(seen);
  await waitForUpdate(again, seen + 5);
});
