import { expect, test } from '@playwright/test';
import { SMALL_RUN } from './helpers';

test('Stop while the run is being prepared cancels the start: nothing trains, nothing is saved, Start works again', async ({
  page,
}) => {
  // Automatic backend choice times trial steps on every usable backend: the start is still
  // preparing for a while, and the page presses Stop the moment it says so.
  await page.goto(`/?${SMALL_RUN}&backend=auto&run_id=cancelled-start`);
  await page.evaluate(() => {
    const status = document.getElementById('status')!;
    const watch = new MutationObserver(() => {
      if (!status.textContent?.includes('choosing a backend')) return;
      watch.disconnect();
      document.getElementById('stop')!.click();
    });
    watch.observe(status, { childList: true, characterData: true, subtree: true });
  });
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('status')).toHaveText('Cancelled before training began.');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Stop training' })).toBeDisabled();
  await expect(page.locator('#error-banner')).toBeHidden();
  await expect(page.locator('#run-line')).toBeEmpty();
  await expect(page.locator('#checkpoint-line')).toHaveText('No checkpoint yet');
  // The worker is free for the next start.
  await page.getByLabel('Backend').selectOption('wasm');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('#run-line')).toContainText('Run cancelled-start');
});
