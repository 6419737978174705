import { expect, test } from '@playwright/test';
import { SMALL_RUN, progress, resumedUpdate } from './helpers';

test('a full disk pauses training with the way out, and every checkpoint saved before stays readable', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(240_000);
  const cdp = await context.newCDPSession(page);
  const origin = new URL(baseURL!).origin;
  await page.goto(
    `/?${SMALL_RUN}&backend=wasm&save_every=20&eval_every=0&keep_checkpoint=-1&epochs=1000&run_id=disk-full`,
  );
  // A small quota (set through the DevTools protocol): room for some checkpoints, not for all. It is
  // counted from the usage once the service worker has precached the app (over a megabyte of it), else
  // the precache finishing later would take the room meant for checkpoints.
  await expect(page.locator('body')).toHaveAttribute('data-offline-ready', 'true');
  await expect(page.locator('body')).toHaveAttribute('data-offline-ready', 'true'); // the precache counted, as above
  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: (usage ?? 0) + 1_500_000 });
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('alert')).toContainText('QuotaExceededError', { timeout: 150_000 });
  await expect(page.getByRole('alert')).toContainText(/Delete old checkpoints or runs .* free disk space/);
  await expect(page.getByRole('status')).toContainText('paused');
  const pausedAt = (await progress(page)).update;

  // Stopping on a full disk ends the run cleanly at its newest complete checkpoint ...
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  // ... after no step since the disk filled: the loop's final counters are where it paused.
  expect((await progress(page)).update).toBe(pausedAt);
  // ... which reads back whole: the run continues from it.
  await page.getByRole('button', { name: 'Continue this run' }).click();
  const resumedAt = await resumedUpdate(page);
  // A periodic checkpoint (every 20 updates) from before the disk filled.
  expect(resumedAt).toBeGreaterThan(0);
  expect(resumedAt % 20).toBe(0);
  expect(resumedAt).toBeLessThanOrEqual(pausedAt);
});

test('on a full disk, deleting old checkpoints in the Checkpoints panel and pressing Resume goes on training and saving', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(240_000);
  page.on('dialog', (d) => void d.accept());
  const cdp = await context.newCDPSession(page);
  await page.goto(
    `/?${SMALL_RUN}&backend=wasm&save_every=20&eval_every=0&keep_checkpoint=-1&epochs=1000&run_id=disk-free`,
  );
  await expect(page.locator('body')).toHaveAttribute('data-offline-ready', 'true'); // the precache counted, as above
  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  await cdp.send('Storage.overrideQuotaForOrigin', {
    origin: new URL(baseURL!).origin,
    quotaSize: (usage ?? 0) + 1_500_000,
  });
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('alert')).toContainText('QuotaExceededError', { timeout: 150_000 });
  await expect(page.getByRole('status')).toContainText('paused');
  const pausedAt = (await progress(page)).update;
  const savedBefore = Number(await page.locator('#checkpoint-line').getAttribute('data-update'));

  // The way out the message gives: delete old checkpoints of this run, then Resume.
  const periodic = page.locator('tr[data-run="disk-free"]:not([data-tag="latest"])');
  const updatesListed = () => periodic.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-update'))));
  const listedAtFirst = (await updatesListed()).length;
  expect(listedAtFirst).toBeGreaterThan(2);
  let deleted = 0;
  // Delete the oldest listed until one periodic checkpoint is left; the list is read again after each
  // delete (the panel redraws from the stores), and each delete is done (its row gone) before the next.
  for (let deletes = 0; deletes < 60; deletes++) {
    const rows = await updatesListed();
    if (rows.length <= 1) break;
    const oldest = Math.min(...rows);
    const row = page.locator(`tr[data-run="disk-free"][data-update="${oldest}"]:not([data-tag="latest"])`);
    await row.locator('button[data-action="delete"]').click();
    await expect(row).toHaveCount(0);
    deleted++;
  }
  console.log(`listed at first: ${listedAtFirst} periodic checkpoints; deleted: ${deleted}`);
  await expect(periodic).toHaveCount(1);
  await page.getByRole('button', { name: 'Resume training' }).click();
  // The save that did not fit is written now, and training goes on past the pause.
  await expect
    .poll(async () => Number(await page.locator('#checkpoint-line').getAttribute('data-update')), { timeout: 60_000 })
    .toBeGreaterThan(savedBefore);
  await expect(page.getByRole('status')).not.toContainText('paused');
  // The save lands before the next step reports, so the counters are waited for, not read once.
  await expect.poll(async () => (await progress(page)).update, { timeout: 60_000 }).toBeGreaterThan(pausedAt);
});
