// Export a checkpoint from the browser, continue training it in PyTorch
// (python/continue_training.py), import the result through the page's file input, and resume it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { PYTHON } from '../tools/python';
import { SMALL_RUN, waitForUpdate, withoutPickers } from './helpers';

const RUN = 'roundtrip';
const STEPS = 5;

test('a checkpoint goes to PyTorch for a few steps and comes back to resume', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'roundtrip-'));
  try {
    await withoutPickers(page);
    await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=10&eval_every=0&run_id=${RUN}`);
    await page.getByRole('button', { name: 'Start' }).click();
    await waitForUpdate(page, 20);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();

    const latest = page.locator(`tr[data-run="${RUN}"][data-tag="latest"]`);
    await expect(latest).toBeVisible();
    const exportedAt = Number(await latest.getAttribute('data-update'));
    expect(exportedAt).toBeGreaterThanOrEqual(20);

    await page.locator('#export-format').selectOption('zip');
    const [download] = await Promise.all([page.waitForEvent('download'), latest.locator('button[data-action="export"]').click()]);
    expect(download.suggestedFilename()).toBe(`${RUN}_latest.zip`);
    const zip = join(dir, download.suggestedFilename());
    await download.saveAs(zip);

    const out = join(dir, 'out');
    const py = spawnSync(PYTHON, ['python/continue_training.py', zip, '--steps', String(STEPS), '--out', out], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const folder = join(out, RUN, 'train', 'checkpoints');
    const files = readdirSync(folder).map((f) => join(folder, f));
    expect(files).toHaveLength(6); // E.._U.._S.. and latest, three parts each

    await page.locator('#import-files').setInputFiles(files);
    const result = page.locator('#import-result');
    await expect(result).toHaveAttribute('data-state', 'done');
    await expect(result).toHaveAttribute('data-imported', '2'); // `latest` clashed: the dialog said replace
    await expect(latest).toHaveAttribute('data-update', String(exportedAt + STEPS));

    await latest.locator('button[data-action="resume"]').click();
    await expect(page.locator('#f-resume_run_id')).toHaveValue(RUN);
    await page.getByRole('button', { name: 'Start' }).click();
    // `latest` and the periodic checkpoint PyTorch wrote beside it hold the same counters; resume names the periodic one.
    await expect(page.locator('#run-line')).toContainText(new RegExp(`resumed from (latest|E\\d+_U${exportedAt + STEPS}_S\\d+) at update ${exportedAt + STEPS}`));
    await waitForUpdate(page, exportedAt + STEPS + 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a plain PyTorch state_dict is imported under run "imported" and warm-starts a run with the name report', async ({ page }) => {
  await withoutPickers(page);
  await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=0&eval_every=0&epochs=1`);
  // torch.save(nn.Sequential(...).state_dict()): names 0.weight, 0.bias... that char-mlp does not have.
  await page.locator('#import-files').setInputFiles(join(process.cwd(), 'test-data/torch/mlp_model.th'));
  await expect(page.locator('#import-result')).toHaveAttribute('data-state', 'done');
  const row = page.locator('tr[data-run="imported"][data-tag="last"]');
  await row.locator('button[data-action="warm-start"]').click();
  await expect(page.locator('#f-init_run_id')).toHaveValue('imported');
  await expect(page.locator('#f-init_model_name')).toHaveValue('mlp-model');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.locator('#run-line')).toContainText('warm start from runs/imported/checkpoints/mlp-model_cp=last: 0 loaded, 5 missing');
});
