import type {} from '../src/app/test-hooks'; // window.trainerDebug's type (a test build's hooks)
import { expect, test, type Browser } from '@playwright/test';
import { SMALL_RUN } from './helpers';

/** The renderer process that used the most CPU over a second and a half, by OS process id. */
async function busiestRenderer(browser: Browser): Promise<number> {
  const cdp = await browser.newBrowserCDPSession();
  const sample = async () => {
    const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
    return new Map(processInfo.filter((p) => p.type === 'renderer').map((p) => [p.id, p.cpuTime]));
  };
  const a = await sample();
  await new Promise((r) => setTimeout(r, 1500));
  const b = await sample();
  await cdp.detach();
  const used = [...b].map(([id, t]) => [id, t - (a.get(id) ?? 0)] as const).sort((x, y) => y[1] - x[1]);
  expect(used.length).toBeGreaterThanOrEqual(2);
  expect(used[0][1], `renderers' CPU seconds: ${JSON.stringify(used)}`).toBeGreaterThan(2 * used[1][1]);
  return used[0][0];
}

test('a second tab on a training run is read-only, and takes over when the process of the first tab is killed', async ({
  context,
}) => {
  const first = await context.newPage();
  await first.goto(`/?${SMALL_RUN}&backend=wasm&save_every=20&eval_every=0&run_id=two-tabs`);
  await first.getByRole('button', { name: 'Start' }).click();
  await expect(first.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/, { timeout: 60_000 });

  const second = await context.newPage();
  await second.goto('/');
  await expect(second.locator('#recovery-banner')).toContainText(
    'Run two-tabs is training in another tab; it is read-only here.',
  );
  await expect(second.getByRole('button', { name: 'Start' })).toBeDisabled();
  // Even asked directly, the worker will not write a run another tab holds.
  const refused = await second.evaluate(async () => {
    const dbg = window.trainerDebug!;
    return dbg.tryStart('two-tabs');
  });
  expect(refused).toMatch(/^RunLockedError: run two-tabs is training in another tab/);

  // The first tab's process is killed from outside (SIGKILL: no unload, no cleanup, no crash
  // handler of its own). It is the renderer burning CPU: the first tab trains, the second idles.
  const pid = await busiestRenderer(context.browser()!);
  const crashed = first.waitForEvent('crash');
  process.kill(pid, 'SIGKILL');
  await crashed;

  await expect(second.locator('#recovery-banner')).toContainText('has closed', { timeout: 30_000 });
  await second.getByRole('button', { name: 'Take over and resume' }).click();
  await expect(second.locator('#run-line')).toContainText('resumed from', { timeout: 60_000 });
  await expect(second.locator('#run-line')).toContainText('two-tabs');
});
