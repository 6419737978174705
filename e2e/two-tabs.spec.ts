import type {} from '../src/app/test-hooks'; // window.trainerDebug's type (a test build's hooks)
import { expect, test } from '@playwright/test';
import { SMALL_RUN } from './helpers';

test('a second tab on a training run is read-only, and takes over when the first tab dies', async ({ context }) => {
  const first = await context.newPage();
  await first.goto(`/?${SMALL_RUN}&backend=wasm&save_every=20&eval_every=0&run_id=two-tabs`);
  await first.getByRole('button', { name: 'Start' }).click();
  await expect(first.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/, { timeout: 60_000 });

  const second = await context.newPage();
  await second.goto('/');
  await expect(second.locator('#recovery-banner')).toContainText('Run two-tabs is training in another tab; it is read-only here.');
  await expect(second.getByRole('button', { name: 'Start' })).toBeDisabled();
  // Even asked directly, the worker will not write a run another tab holds.
  const refused = await second.evaluate(async () => {
    const dbg = window.trainerDebug!;
    return dbg.tryStart('two-tabs');
  });
  expect(refused).toMatch(/^RunLockedError: run two-tabs is training in another tab/);

  const cdp = await context.newCDPSession(first);
  const crashed = first.waitForEvent('crash');
  void cdp.send('Page.crash').catch(() => {});
  await crashed;

  await expect(second.locator('#recovery-banner')).toContainText('has closed', { timeout: 30_000 });
  await second.getByRole('button', { name: 'Take over and resume' }).click();
  await expect(second.locator('#run-line')).toContainText('resumed from', { timeout: 60_000 });
  await expect(second.locator('#run-line')).toContainText('two-tabs');
});
