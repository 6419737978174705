import { expect, test } from '@playwright/test';
import { progress, SMALL_RUN, waitForUpdate } from './helpers';

test('opens, trains on WebGPU, and the loss falls', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&backend=webgpu&lr=0.02`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 5);
  const first = await progress(page);
  await expect(page.getByRole('status')).toContainText(/^webgpu · epoch \d+ · update \d+ · sample \d+ · loss \d+\.\d+/);
  await waitForUpdate(page, first.update + 150);
  // ln(27) ≈ 3.3 at the start; after 150 updates a learning model is far below it.
  const later = await progress(page);
  expect(later.loss).toBeLessThan(first.loss - 0.3);
  await expect(page.locator('#backend-line')).toContainText('webgpu');
  await expect(page.locator('#samples li').first()).toBeVisible();
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});
