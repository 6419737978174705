import type {} from '../src/app/test-hooks'; // window.trainerDebug's type (a test build's hooks)
import { expect, test } from '@playwright/test';
import { SMALL_RUN, progress, resumedUpdate, waitForUpdate } from './helpers';

interface Saves {
  newestSave: number;
}

/** Runs in the page: keeps the highest update the checkpoint line has shown as saved, from now on. */
function watchSaves(): void {
  const line = document.getElementById('checkpoint-line')!;
  const w = window as unknown as Saves;
  const note = () => (w.newestSave = Math.max(w.newestSave, Number(line.dataset.update ?? -1)));
  w.newestSave = -1;
  note();
  new MutationObserver(note).observe(line, { attributes: true, attributeFilter: ['data-update'] });
}

test('a GPU device lost mid-run: a clear message, then a fresh worker resumes from the newest checkpoint', async ({
  page,
}) => {
  await page.goto(`/?${SMALL_RUN}&backend=webgpu&save_every=10&eval_every=0&run_id=device-lost`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/, { timeout: 120_000 });
  await page.evaluate(watchSaves);
  const lost = await page.evaluate(() => window.trainerDebug!.loseDevice());
  expect(lost).toBe(true);
  await expect(page.getByRole('alert')).toContainText('BackendFailedError');
  await expect(page.getByRole('alert')).toContainText(/device was lost|webgpu backend failed/);
  await expect(page.getByRole('alert')).toContainText('restarting the trainer');
  const lastSaved = await page.evaluate(() => (window as unknown as Saves).newestSave);
  expect(lastSaved, 'the first checkpoint was seen').toBeGreaterThanOrEqual(10);
  // No reload: the same page resumes the run in a new worker, from the newest checkpoint.
  await expect(page.locator('#run-line')).toContainText('resumed from', { timeout: 120_000 });
  const resumedAt = await resumedUpdate(page);
  expect(resumedAt).toBeGreaterThanOrEqual(lastSaved);
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
  await page.evaluate(watchSaves);
  expect(await page.evaluate(() => window.trainerDebug!.simulateOutOfMemory())).toBe(true);
  await expect(page.getByRole('alert')).toContainText('BackendFailedError: the trainer worker crashed (out of memory');
  await expect(page.getByRole('alert')).toContainText('restarting the trainer');
  // The newest checkpoint the dead worker reported (it trains on while the call above travels, so
  // a progress read before it says too little; the new worker has yet to load, resume and train
  // ten updates before it could save again).
  const lastSaved = await page.evaluate(() => (window as unknown as Saves).newestSave);
  expect(lastSaved, 'the first checkpoint was seen').toBeGreaterThanOrEqual(10);
  await expect(page.locator('#run-line')).toContainText('resumed from', { timeout: 120_000 });
  const resumedAt = await resumedUpdate(page);
  // From that checkpoint, or from one more that committed before its report could leave the worker.
  expect(resumedAt).toBeGreaterThanOrEqual(lastSaved);
  expect(resumedAt).toBeLessThanOrEqual(lastSaved + 10);
  await waitForUpdate(page, resumedAt + 5);
  expect(await page.evaluate(() => 'samePage' in window)).toBe(true); // no reload
});
