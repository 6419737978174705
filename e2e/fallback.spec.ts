import { expect, test } from '@playwright/test';
import { chromiumArgs, chromiumPath } from '../tools/chromium';
import { SMALL_RUN, waitForUpdate } from './helpers';

// Without the WebGPU flags, this Chromium has no adapter: requestAdapter() returns null.
const noWebGpuArgs = chromiumArgs.filter((a) => !/webgpu|swiftshader|Vulkan/i.test(a));
test.use({ launchOptions: { executablePath: chromiumPath(), args: noWebGpuArgs } });

test('with WebGPU unavailable, a run asked for webgpu trains on another backend and says why', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}&backend=webgpu`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 10);
  await expect(page.locator('#backend-line')).not.toContainText('webgpu');
  await expect(page.locator('#backends li[data-backend="webgpu"]')).toContainText(/no WebGPU adapter|no WebGPU/);
  await expect(page.getByRole('status')).toHaveText(/^(webgl|wasm|cpu) · /);
});

test('in automatic mode the usable backends are timed and the fastest trains', async ({ page }) => {
  await page.goto(`/?${SMALL_RUN}`);
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 5);
  await expect(page.locator('#backends li[data-backend="webgpu"]')).toContainText('no WebGPU adapter');
  await expect(page.locator('#backends')).toContainText('ms/step');
  const timed = await page.locator('#backends li[data-ms]').evaluateAll((lis) =>
    lis.map((li) => ({
      backend: li.getAttribute('data-backend')!,
      ms: Number(li.getAttribute('data-ms')),
      inUse: li.getAttribute('data-in-use') === 'true',
    })),
  );
  // Without WebGPU, WebGL and WASM are both usable here: both timed, and the faster one trains.
  expect(timed.map((t) => t.backend).sort()).toEqual(['wasm', 'webgl']);
  const fastest = timed.reduce((a, b) => (b.ms < a.ms ? b : a));
  console.log(
    `auto mode timings: ${timed.map((t) => `${t.backend} ${t.ms.toFixed(1)} ms/step`).join(', ')}; picked ${fastest.backend}`,
  );
  expect(timed.filter((t) => t.inUse).map((t) => t.backend)).toEqual([fastest.backend]);
  await expect(page.locator('#backend-line')).toHaveText(`Backend: ${fastest.backend}`);
  await expect(page.getByRole('status')).toHaveText(new RegExp(`^${fastest.backend} · `));
});
