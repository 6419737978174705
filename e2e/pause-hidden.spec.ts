import { expect, test } from '@playwright/test';
import { progress, SMALL_RUN, waitForUpdate } from './helpers';

test('pause finishes the step and holds; resume goes on', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&backend=wasm`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 10);
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('status')).toContainText('paused');
  const held = (await progress(page)).update;
  await page.getByRole('button', { name: 'Resume training' }).click();
  await waitForUpdate(page, held + 10);
  await expect(page.getByRole('status')).not.toContainText('paused');

  // Held means no step at all, however long the pause: the counters a Stop reports and saves
  // (the loop's own, not a sample of them) are the ones the pause showed.
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('status')).toContainText('paused');
  const heldAgain = (await progress(page)).update;
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  expect((await progress(page)).update).toBe(heldAgain);
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-update', String(heldAgain));
});

test('training goes on while the page is hidden, and hiding it saves a checkpoint', async ({ page }) => {
  // No periodic or epoch-end checkpoint: the only save is the one hiding the page asks for.
  await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=0&save_at_epoch_end=false&eval_every=0&run_id=hidden-save`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 5);
  // Headless Chromium keeps every page visible (a second tab, a minimised window and CDP targets
  // were tried), so the test does to the page what hiding does: visibility becomes 'hidden' and
  // requestAnimationFrame stops firing. The trainer must not depend on either.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    window.requestAnimationFrame = () => 0;
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const before = (await progress(page)).update;
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/);
  const savedAt = Number(await page.locator('#checkpoint-line').getAttribute('data-update'));
  expect(savedAt).toBeGreaterThanOrEqual(5);
  await expect(page.locator(`#checkpoint-tree tr[data-run="hidden-save"][data-update="${savedAt}"]`)).toHaveCount(2); // E.._U.._S.. and latest
  await waitForUpdate(page, before + 50);
});

test('the tensor count stays flat over 200 steps', async ({ page }) => {
  // Validation every 50 updates and a checkpoint every 40, so both paths run inside the window.
  await page.goto(`/?${SMALL_RUN}&backend=webgpu&eval_every=50&save_every=40`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 10);
  const early = await progress(page);
  await waitForUpdate(page, early.update + 200);
  const late = await progress(page);
  expect(late.numTensors).toBeGreaterThan(0);
  expect(late.numTensors).toBe(early.numTensors);
});
