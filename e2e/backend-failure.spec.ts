import type {} from '../src/app/test-hooks'; // window.trainerDebug's type (a test build's hooks)
import { expect, test } from '@playwright/test';
import { SMALL_RUN, progress, resumedUpdate, waitForUpdate } from './helpers';

test('a GPU device lost mid-run: a clear message, then a fresh worker resumes from the newest checkpoint', async ({
  page,
}) => {
  await page.goto(`/?${SMALL_RUN}&backend=webgpu&save_every=10&eval_every=0&run_id=device-lost`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/, { timeout: 120_000 });
  const lost = await page.evaluate(() => window.trainerDebug!.loseDevice());
  expect(lost).toBe(true);
  await expect(page.getByRole('alert')).toContainText('BackendFailedError');
  await expect(page.getByRole('alert')).toContainText(/device was lost|webgpu backend failed/);
  await expect(page.getByRole('alert')).toContainText('restarting the trainer');
  // No reload: the same page resumes the run in a new worker.
  await expect(page.locator('#run-line')).toContainText('resumed from', { timeout: 120_000 });
  const resumedAt = await resumedUpdate(page);
  await waitForUpdate(page, resumedAt + 5);
  expect((await progress(page)).update).toBeGreaterThan(resumedAt);
});

test('a backend that fails before any checkpoint stops the run with a message, not a frozen page', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&backend=webgpu&save_every=0&save_at_epoch_end=false&eval_every=0`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 3);
  await page.evaluate(() => window.trainerDebug!.loseDevice());
  await expect(page.getByRole('alert')).toContainText('BackendFailedError');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Stop training' })).toBeDisabled();
});

test('a worker that dies of out-of-memory is replaced without a reload and the run resumes', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=10&eval_every=0&run_id=worker-oom`);
  await page.evaluate(() => Object.assign(window, { samePage: true }));
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/, { timeout: 120_000 });
  const before = (await progress(page)).update;
  expect(await page.evaluate(() => window.trainerDebug!.simulateOutOfMemory())).toBe(true);
  await expect(page.getByRole('alert')).toContainText('BackendFailedError: the trainer worker crashed (out of memory');
  await expect(page.getByRole('alert')).toContainText('restarting the trainer');
  await expect(page.locator('#run-line')).toContainText('resumed from', { timeout: 120_000 });
  const resumedAt = await resumedUpdate(page);
  expect(resumedAt).toBeLessThanOrEqual(before + 10);
  await waitForUpdate(page, resumedAt + 5);
  expect(await page.evaluate(() => 'samePage' in window)).toBe(true); // no reload
});
