import { expect, test } from '@playwright/test';
import { SMALL_RUN, progress, resumedUpdate, waitForUpdate } from './helpers';

const SAVE_EVERY = 20;
const KILLS = Number(process.env.CRASH_KILLS) || 20;

test('the renderer killed 20 times at random instants: every reopen resumes from a complete checkpoint', async ({ context }) => {
  test.setTimeout(400_000);
  const figures = { kills: 0, killsWhileSaving: 0, recoveries: 0, updatesLost: [] as number[], resumedFrom: [] as string[] };
  let page = await context.newPage();
  await page.goto(`/?${SMALL_RUN}&hidden=128&backend=wasm&save_every=${SAVE_EVERY}&eval_every=0&keep_checkpoint=2&epochs=1000&run_id=crash-loop`);
  await page.getByRole('button', { name: 'Start' }).click();
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

  for (let i = 0; i < KILLS; i++) {
    // Train until at least one checkpoint of this life exists, then kill at a random point.
    await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-update', /\d+/, { timeout: 60_000 });
    // A random point of the run, counted in updates (a save is due every SAVE_EVERY of them).
    await waitForUpdate(page, (await progress(page)).update + 1 + Math.floor(random() * 2 * SAVE_EVERY));
    const saving = (await page.locator('#checkpoint-line').getAttribute('data-saving')) === 'true';
    const cdp = await context.newCDPSession(page);
    const crashed = page.waitForEvent('crash');
    // The renderer dies (no unload, no cleanup); the command itself never gets an answer.
    void cdp.send('Page.crash').catch(() => {});
    await crashed;
    figures.kills++;
    if (saving) figures.killsWhileSaving++;
    await page.close().catch(() => {});

    page = await context.newPage();
    await page.goto('/');
    const banner = page.locator('#recovery-banner');
    await expect(banner).toContainText('Recovered run crash-loop', { timeout: 60_000 });
    await expect(page.locator('#error-banner')).toBeHidden();
    const from = (await banner.getAttribute('data-from'))!;
    const lost = Number(await banner.getAttribute('data-lost'));
    // Periodic checkpoints land on multiples of SAVE_EVERY; `latest` is one of them.
    const resumedAt = await resumedUpdate(page);
    expect(resumedAt % SAVE_EVERY).toBe(0);
    // At most the interval being trained plus the one whose save was in flight.
    expect(lost).toBeLessThanOrEqual(2 * SAVE_EVERY);
    figures.recoveries++;
    figures.updatesLost.push(lost);
    figures.resumedFrom.push(`${from}@${resumedAt}`);
    console.log(`kill ${i + 1}: resumed from ${from} at update ${resumedAt}, lost ${lost}${saving ? ' (killed while saving)' : ''}`);
    // The resumed run trains on and saves again before the next kill.
    await expect
      .poll(async () => Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1), { timeout: 60_000 })
      .toBeGreaterThan(resumedAt);
  }
  const total = figures.updatesLost.reduce((a, b) => a + b, 0);
  console.log(
    `crash loop: ${figures.kills} kills (${figures.killsWhileSaving} while a save was being written), ` +
      `${figures.recoveries} recoveries, updates lost per kill: max ${Math.max(...figures.updatesLost)}, ` +
      `mean ${(total / figures.updatesLost.length).toFixed(1)}, total ${total}`,
  );
  expect(figures.recoveries).toBe(KILLS);
});
