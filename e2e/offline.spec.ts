import { expect, test } from '@playwright/test';
import { SMALL_RUN, waitForUpdate } from './helpers';

test('after one visit the app loads and trains with the network off', async ({ page, context }) => {
  await page.goto('/');
  // Once the service worker is active it has precached the app, tfjs, the wasm files and the data.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  await context.setOffline(true);
  await page.goto(`/?${SMALL_RUN}&backend=wasm`);
  await expect(page.getByRole('heading', { name: 'Browser Trainer' })).toBeVisible();
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 20);
  await expect(page.locator('#samples li').first()).toBeVisible();
  await expect(page.locator('#error-banner')).toBeHidden();
});
