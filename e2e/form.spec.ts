import { expect, test } from '@playwright/test';

test('a link with bad values opens with them refused and the defaults shown', async ({ page }) => {
  await page.goto('/?lr=-1&batch_size=0&epochs=abc&hidden=40');
  await expect(page.locator('#f-lr')).toHaveValue('0.01');
  await expect(page.locator('#m-lr')).toContainText('Learning rate must be greater than 0');
  await expect(page.locator('#f-batch_size')).toHaveValue('64');
  await expect(page.locator('#m-batch_size')).toContainText('Batch size must be at least 1');
  await expect(page.locator('#m-epochs')).toContainText('Epochs must be a number');
  await expect(page.locator('#f-hidden')).toHaveValue('40');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});

test('a bad value typed in the form is refused with a message and blocks Start', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Batch size').fill('0');
  await expect(page.locator('#m-batch_size')).toContainText('at least 1');
  await expect(page.getByLabel('Batch size')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();
  await page.getByLabel('Batch size').fill('128');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  // The URL follows the form, so the link reproduces the setup.
  await page.getByLabel('Learning rate').fill('0.005');
  await expect(page).toHaveURL(/batch_size=128/);
  await expect(page).toHaveURL(/lr=0.005/);
});
