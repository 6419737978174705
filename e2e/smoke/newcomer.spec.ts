/**
 * What a newcomer does first, against the server the README's first command started (`.ci/run`
 * passes its URL as SMOKE_URL): the production build opens, trains with the defaults to a
 * checkpoint, and the run is still listed after a reload. It also checks what that server sends.
 */
import { expect, test } from '@playwright/test';

test('the served app trains with the defaults to a checkpoint, and lists the run after a reload', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('button', { name: 'Start' }).click();
  const checkpointLine = page.locator('#checkpoint-line');
  await expect(checkpointLine).toContainText('Last checkpoint:', { timeout: 240_000 });
  const runId = (await page.locator('#run-line').textContent())!.match(/^Run (\S+)/)![1];
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled({ timeout: 120_000 });

  await page.reload();
  await expect(page.locator(`#checkpoints .ckpt-run[data-run="${runId}"]`)).toBeAttached();
  await expect(page.locator(`#checkpoints tr[data-run="${runId}"]`).first()).toBeAttached();
});

test('the server sends the isolation headers and a production bundle without test hooks', async ({ page, request }) => {
  const response = await page.goto('/');
  const headers = response!.headers();
  expect(headers['cross-origin-opener-policy']).toBe('same-origin');
  expect(headers['cross-origin-embedder-policy']).toBe('require-corp');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  expect(await page.evaluate(() => 'trainerDebug' in window)).toBe(false);

  // Every script the build ships, the worker chunk (named in the page's entry) included: none
  // carries a test hook, and the tfjs WASM binaries they name are served as application/wasm.
  const [entrySrc] = await page
    .locator('script[type="module"][src]')
    .evaluateAll((els) => els.map((e) => (e as HTMLScriptElement).src));
  const asset = (path: string) => new URL(`/${path}`, page.url()).href;
  const entry = await (await request.get(entrySrc)).text();
  const scripts = [entrySrc, ...new Set([...entry.matchAll(/assets\/[\w.-]+\.js/g)].map((m) => asset(m[0])))];
  expect(scripts.length).toBeGreaterThanOrEqual(2);
  const wasm = new Set<string>();
  for (const src of scripts) {
    const res = await request.get(src);
    expect(res.ok(), src).toBe(true);
    const text = await res.text();
    expect(text, src).not.toMatch(/trainerDebug|loseDevice|benchmarkCheckpoint/);
    for (const m of text.matchAll(/assets\/[\w.-]+\.wasm/g)) wasm.add(asset(m[0]));
  }
  expect(wasm.size).toBeGreaterThanOrEqual(1);
  for (const url of wasm) expect((await request.head(url)).headers()['content-type'], url).toBe('application/wasm');
});
