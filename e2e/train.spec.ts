import { expect, test } from '@playwright/test';
import { SMALL_RUN, waitForValidation } from './helpers';

test('opens, trains on WebGPU, and the loss falls', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&eval_every=50&backend=webgpu&lr=0.02`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('status')).toContainText(
    /^webgpu · epoch \d+\/\d+ · update \d+ · sample \d+ · loss \d+\.\d+/,
  );
  await expect(page.locator('#backend-line')).toContainText('webgpu');
  // An untrained model over 27 characters scores about ln(27) ≈ 3.3 on held-out names.
  const early = await waitForValidation(page, 50);
  expect(early.loss).toBeLessThan(3.2);
  const later = await waitForValidation(page, 250);
  expect(later.loss).toBeLessThan(early.loss - 0.05);
  await expect(page.locator('#samples li').first()).toBeVisible();
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});
