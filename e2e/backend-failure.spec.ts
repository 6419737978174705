import { expect, test } from '@playwright/test';
import { SMALL_RUN, waitForUpdate } from './helpers';

test('a GPU device lost mid-run stops the run with a clear message, not a frozen page', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&backend=webgpu`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 5);
  const lost = await page.evaluate(() => (window as unknown as { trainerDebug: { loseDevice(): Promise<boolean> } }).trainerDebug.loseDevice());
  expect(lost).toBe(true);
  await expect(page.getByRole('alert')).toContainText('BackendFailedError');
  await expect(page.getByRole('alert')).toContainText(/device was lost|webgpu backend failed/);
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
});
