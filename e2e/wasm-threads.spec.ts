// The WASM backend loads its threaded build when the page is cross-origin isolated (npm start
// sends COOP/COEP), and still trains, single-threaded and saying why, on a host that sends neither.
import { expect, test, type Page } from '@playwright/test';
import { SMALL_RUN, waitForUpdate } from './helpers';

const RUN = `/?${SMALL_RUN}&backend=wasm&eval_every=0&save_every=0&save_at_epoch_end=false`;

async function wasmLine(page: Page) {
  await page.goto(RUN);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 5);
  const li = page.locator('#backends li[data-backend="wasm"]');
  await expect(li).toHaveAttribute('data-threads', /\d+/);
  const threads = Number(await li.getAttribute('data-threads'));
  const threadedBuild = (await li.getAttribute('data-threaded-build')) === 'true';
  const text = (await li.textContent()) ?? '';
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  return { threads, threadedBuild, text };
}

test('isolated by npm start: the WASM backend loads its threaded build and says how many threads', async ({ page }) => {
  await page.goto('/');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const { threads, threadedBuild, text } = await wasmLine(page);
  expect(threadedBuild).toBe(true);
  // tfjs sizes its pool at half the logical cores (at least 1); we cap it at 8.
  expect(threads).toBe(Math.max(1, Math.min(Math.floor(cores / 2), 8)));
  expect(text).toContain(`${threads} thread`);
  expect(text).not.toContain('not cross-origin isolated');
});

test.describe('a host without the isolation headers', () => {
  test.use({ serviceWorkers: 'block' });

  test('still trains on WASM, single-threaded, and says why', async ({ page }) => {
    await page.route('**/*', async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      await route.fulfill({ response, headers });
    });
    await page.goto('/');
    expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(false);
    const { threads, threadedBuild, text } = await wasmLine(page);
    expect(threadedBuild).toBe(false);
    expect(threads).toBe(1);
    expect(text).toContain('not cross-origin isolated');
  });
});
