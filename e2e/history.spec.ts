// A run's history outlives the page: after a reload (which resumes the run) and after a resume
// from the panel, the chart holds the points from before, read off its data attributes (not
// pixels). A run's name, given in the checkpoint panel, is still there after a reload, and the
// panel's buttons say what they act on.
import { expect, test, type Locator, type Page } from '@playwright/test';
import { resumedUpdate, SMALL_RUN, waitForUpdate } from './helpers';

const RUN = `${SMALL_RUN}&backend=wasm&save_every=40&eval_every=20`;

const chart = (page: Page) => page.locator('figure#loss-chart');
const num = async (l: Locator, attr: string) => Number((await l.getAttribute(attr)) ?? NaN);

async function checkpointUpdate(page: Page): Promise<number> {
  return Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1);
}

/** The update of the newest periodic checkpoint the checkpoint line reports, else -1. */
async function resumableUpdate(page: Page): Promise<number> {
  return page
    .locator('#checkpoint-line')
    .evaluate((line: HTMLElement) => (/^E\d+_U\d+/.test(line.dataset.tag ?? '') ? Number(line.dataset.update) : -1));
}

/** The chart shows the run from its first updates up to at least `upTo`, validations included. */
async function expectWholeRun(page: Page, upTo: number): Promise<void> {
  const c = chart(page);
  // The chart redraws at most every 100 ms: what it shows may trail the page's counters a little.
  await expect.poll(() => num(c, 'data-train-points'), { timeout: 30_000 }).toBeGreaterThanOrEqual(upTo - 2);
  await expect.poll(() => num(c, 'data-last-update'), { timeout: 30_000 }).toBeGreaterThanOrEqual(upTo);
  expect(await num(c, 'data-first-update')).toBeLessThanOrEqual(2);
  await expect
    .poll(() => num(c, 'data-val-points'), { timeout: 30_000 })
    .toBeGreaterThanOrEqual(Math.floor(upTo / 20) - 1);
}

test('the chart keeps the whole run across a reload and a resume', async ({ page }) => {
  await page.goto(`/?${RUN}&run_id=hist-reload`);
  await page.getByRole('button', { name: 'Start' }).click();
  // A periodic checkpoint at 80 or later: at 80 the best-loss checkpoint (weights only, nothing to
  // resume from) is reported first, while the periodic one may still be being written.
  await expect.poll(() => resumableUpdate(page), { timeout: 90_000 }).toBeGreaterThanOrEqual(80);
  await expectWholeRun(page, 80);

  // A reload cuts the run off; the page resumes it from its newest checkpoint.
  await page.reload();
  const from = await resumedUpdate(page);
  expect(from).toBeGreaterThanOrEqual(80);
  await expectWholeRun(page, from);
  await waitForUpdate(page, from + 10);
  // Old and new points are one line: no update twice.
  const points = await num(chart(page), 'data-train-points');
  expect(points).toBeLessThanOrEqual((await num(chart(page), 'data-last-update')) + 1);

  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  const stoppedAt = await checkpointUpdate(page);
  await page.getByRole('button', { name: 'Continue this run' }).click();
  // The run line still tells of the first resume until the second one begins.
  await expect(page.locator('#run-line')).toContainText(`at update ${stoppedAt}`);
  await expectWholeRun(page, stoppedAt);
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();

  // The chart's own controls: x by epoch, log scale.
  await chart(page).getByLabel('x axis').selectOption('epoch');
  await chart(page).getByLabel('log scale').check();
  await expect(chart(page)).toHaveAttribute('data-x', 'epoch');
  await expect(chart(page)).toHaveAttribute('data-log', 'true');
  await expect(chart(page).locator('.u-legend')).toContainText('val loss');
});

test('a run renamed in the panel keeps its name after a reload; buttons name what they act on', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 800 });
  await page.goto(`/?${RUN}&run_id=hist-name`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => checkpointUpdate(page), { timeout: 90_000 }).toBeGreaterThanOrEqual(40);
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();

  const run = page.locator('.ckpt-run[data-run="hist-name"]');
  await expect(run).toBeVisible();
  await expect(run.locator('.run-head')).toContainText('names');
  await run.getByRole('button', { name: 'Rename run hist-name' }).click();
  await run.getByLabel('New name for run hist-name').fill('my first names model');
  await run.getByRole('button', { name: 'Save the name of run hist-name' }).click();
  await expect(run).toHaveAttribute('data-run-name', 'my first names model');

  await page.reload();
  const again = page.locator('.ckpt-run[data-run="hist-name"]');
  await expect(again).toHaveAttribute('data-run-name', 'my first names model');
  await expect(again.locator('.run-head')).toContainText('my first names model');
  await expect(again.locator('.run-head')).toContainText('char-mlp');
  // Every checkpoint's buttons name it and its run.
  const tag = (await again.locator('tr[data-tag^="E"]').first().getAttribute('data-tag'))!;
  for (const verb of ['Export', 'Delete', 'Continue from', 'Use the weights of'])
    await expect(again.getByRole('button', { name: `${verb} ${tag} of run my first names model` })).toHaveCount(1);
  // The metrics column reads the trainer part (here: its best-metric tracker).
  await expect(again.locator(`tr[data-tag="${tag}"] td[data-metrics]`)).toContainText('val/loss');
  // After a reload the chart shows the last run's history.
  await expect.poll(() => num(chart(page), 'data-train-points')).toBeGreaterThanOrEqual(40);

  // "Continue from here" confirms under its own row.
  await again
    .getByRole('button', { name: `Continue from ${tag} of run my first names model` })
    .first()
    .click();
  await expect(again.locator('tr.row-note')).toContainText('resumes run hist-name');
  // Folded runs stay folded when the panel redraws.
  await again.locator('summary').click();
  await expect(again.locator('details')).not.toHaveAttribute('open', '');
  await page.getByRole('button', { name: 'Rename run my first names model' }).click();
  await page.getByLabel('New name for run my first names model').fill('renamed again');
  await page.getByRole('button', { name: 'Save the name of run my first names model' }).click();
  await expect(again).toHaveAttribute('data-run-name', 'renamed again');
  await expect(again.locator('details')).not.toHaveAttribute('open', '');
  // Picked to compare, the run's history is laid over the chart; the box does not unfold the run.
  await again.getByRole('checkbox', { name: 'Compare run renamed again on the chart' }).check();
  await expect(chart(page)).toHaveAttribute('data-overlays', '1');
  await expect(again.locator('details')).not.toHaveAttribute('open', '');
  await expect(chart(page).locator('.u-legend')).toContainText('renamed again: val');
  // At 360 px the panel's runs do not push the page sideways: tables scroll in their own box.
  const overflow = await again.evaluate((d) => d.scrollWidth - d.clientWidth);
  expect(overflow).toBeLessThanOrEqual(1);
});

test('while a run trains and saves, a name being typed in the panel and the focused button outlast its redraws', async ({
  page,
}) => {
  await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=5&eval_every=0&epochs=1000&run_id=hist-typing`);
  await page.getByRole('button', { name: 'Start' }).click();
  const run = page.locator('.ckpt-run[data-run="hist-typing"]');
  await expect(run).toBeVisible({ timeout: 60_000 });
  // Each save redraws the panel; `gone` resolves once the element it was handed has been replaced.
  const gone = (l: Locator) =>
    l.evaluate(
      (e) =>
        new Promise<void>((resolve) => {
          const check = () => (document.contains(e) ? setTimeout(check, 20) : resolve());
          check();
        }),
    );

  await run.getByRole('button', { name: 'Rename run hist-typing' }).click();
  const field = run.getByLabel('New name for run hist-typing');
  await expect(field).toBeFocused();
  await page.keyboard.type('first');
  await gone(field);
  await expect(field).toHaveValue('first');
  await expect(field).toBeFocused();
  await page.keyboard.type(' half'); // the caret stayed at the end of what was typed
  await gone(field);
  await expect(field).toHaveValue('first half');
  await page.keyboard.press('Enter');
  await expect(run).toHaveAttribute('data-run-name', 'first half');
  await expect(run.locator('.rename-form')).toHaveCount(0);

  const exportRun = run.getByRole('button', { name: 'Export run first half' });
  await exportRun.focus();
  await gone(exportRun);
  await expect(exportRun).toBeFocused();
  // Escape leaves an edit with the name unchanged and the keyboard back on Rename.
  const rename = run.getByRole('button', { name: 'Rename run first half' });
  await rename.click();
  await page.keyboard.type('x');
  await page.keyboard.press('Escape');
  await expect(run.locator('.rename-form')).toHaveCount(0);
  await expect(rename).toBeFocused();
  await expect(run).toHaveAttribute('data-run-name', 'first half');
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});
