// Export a run from the browser, continue it in PyTorch on two processes (torchrun, gloo:
// python/continue_training.py), import the result through the page's file input and resume it,
// once per task kind. The app validates what came back before its first update: that matches what
// PyTorch printed, the counters continue, and the validation loss goes on falling.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { PYTHON, torchrunArgs } from '../tools/python';
import { progress, SMALL_RUN, validation, waitForUpdate, waitForValidation, withoutPickers } from './helpers';

/** Updates PyTorch adds. */
const STEPS = 20;
/** The app's validation loss of PyTorch's weights vs PyTorch's own print: float32 forward passes in two libraries. */
const VAL_TOL = 1e-4;
// No epoch-end checkpoints: PyTorch honours the run's save_at_epoch_end, and where Stop lands after update 20
// (how fast this machine trains) decides whether its 20 updates cross an epoch end (the text task's epoch is 41
// updates), which would add a third tag to the folder the spec counts. Its only save is then the one at the end.
const TINY =
  'backend=wasm&embed=16&hidden=32&layers=1&heads=2&batch_size=32&epochs=200&save_every=10&save_every_seconds=0&save_at_epoch_end=false&eval_every=10&lr=0.01';

interface Kind {
  task: string;
  query: string;
  file?: { name: string; text: string };
}

const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'and', 'runs', 'far', 'away'];
const KINDS: Kind[] = [
  { task: 'names', query: 'task=names&model=char-mlp' },
  { task: 'g2p', query: 'task=g2p&model=seq2seq&val_fraction=0.0005' },
  { task: 'spam', query: 'task=spam&model=text-mlp&hash_buckets=1024' },
  {
    task: 'text',
    query: 'task=text&model=gpt&context=8',
    file: {
      name: 'story.txt',
      text: Array.from({ length: 300 }, (_, i) => words[(i * 7) % words.length]).join(' ') + '\n',
    },
  },
];

for (const kind of KINDS) {
  test(`${kind.task}: trained in the app, continued on two PyTorch processes, imported and resumed`, async ({
    page,
  }) => {
    const run = `roundtrip-${kind.task}`;
    const dir = mkdtempSync(join(tmpdir(), 'roundtrip-'));
    try {
      await withoutPickers(page);
      await page.goto(`/?${TINY}&${kind.query}&run_id=${run}`);
      if (kind.file)
        await page
          .locator('#f-user-file')
          .setInputFiles({ name: kind.file.name, mimeType: 'text/plain', buffer: Buffer.from(kind.file.text) });
      await page.getByRole('button', { name: 'Start' }).click();
      const inApp = await waitForValidation(page, 20);
      await page.getByRole('button', { name: 'Stop' }).click();
      await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();

      // Stop saved where the run stopped; the list shows it once it has refreshed.
      const exportedAt = (await progress(page)).update;
      expect(exportedAt).toBeGreaterThanOrEqual(20);
      const latest = page.locator(`tr[data-run="${run}"][data-tag="latest"]`);
      await expect(latest).toHaveAttribute('data-update', String(exportedAt));
      await page.locator('#export-format').selectOption('zip');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        latest.locator('button[data-action="export"]').click(),
      ]);
      expect(download.suggestedFilename()).toBe(`${run}_latest.zip`);
      const zip = join(dir, download.suggestedFilename());
      await download.saveAs(zip);

      const out = join(dir, 'out');
      const data: string[] = [];
      if (kind.file) {
        writeFileSync(join(dir, kind.file.name), kind.file.text);
        data.push('--data', join(dir, kind.file.name));
      }
      const py = spawnSync(
        PYTHON,
        [
          ...torchrunArgs(2, join(dir, 'logs')),
          'python/continue_training.py',
          zip,
          '--steps',
          String(STEPS),
          '--out',
          out,
          '--save_every',
          '0',
          ...data,
        ],
        { encoding: 'utf8' },
      );
      expect(py.status, py.stderr.slice(-3000)).toBe(0);
      expect(py.stderr).toContain('on 2 processes (gloo)');
      const printed = [...py.stdout.matchAll(/metrics (\{.*\})/g)]
        .map((m) => JSON.parse(m[1]) as Record<string, number>)
        .pop()!;
      expect(printed.update).toBe(exportedAt + STEPS);
      // PyTorch went on learning: its validation loss is below the app's at update 20.
      expect(printed['val/loss']).toBeLessThan(inApp.loss);

      const folder = join(out, run, 'train', 'checkpoints');
      const files = readdirSync(folder).map((f) => join(folder, f));
      expect(files).toHaveLength(6); // E.._U.._S.. and latest, three parts each
      await page.locator('#import-files').setInputFiles(files);
      const result = page.locator('#import-result');
      await expect(result).toHaveAttribute('data-state', 'done');
      await expect(result).toHaveAttribute('data-imported', '2'); // `latest` clashed: the dialog said replace
      await expect(latest).toHaveAttribute('data-update', String(exportedAt + STEPS));

      await latest.locator('button[data-action="resume"]').click();
      await expect(page.locator('#f-resume_run_id')).toHaveValue(run);
      await page.getByRole('button', { name: 'Start' }).click();
      const at = exportedAt + STEPS;
      const runLine = page.locator('#run-line');
      // `latest` and the periodic checkpoint PyTorch wrote beside it hold the same counters; resume names the periodic one.
      await expect(runLine).toContainText(
        new RegExp(`resumed from (latest|E\\d+_U${at}_S\\d+) at update ${at} \\(trained in PyTorch\\)`),
      );
      await expect(runLine).toHaveAttribute('data-resumed_val_loss', /\d/);
      const appVal = Number(await runLine.getAttribute('data-resumed_val_loss'));
      console.log(
        `${kind.task}: validation loss, app at update ${inApp.update} ${inApp.loss.toFixed(5)}; PyTorch at ${at} ${printed['val/loss'].toFixed(6)}; the app on PyTorch's weights ${appVal.toFixed(6)}`,
      );
      expect(Math.abs(appVal - printed['val/loss'])).toBeLessThan(VAL_TOL);

      // The counters continue from PyTorch's, and the loss goes on falling.
      await waitForUpdate(page, at + 1);
      const later = await waitForValidation(page, at + 20);
      console.log(
        `${kind.task}: resumed in the app, validation loss at update ${later.update} ${later.loss.toFixed(5)}`,
      );
      expect(later.loss).toBeLessThan(appVal);
      await page.getByRole('button', { name: 'Stop' }).click();
      await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
      expect((await validation(page)).update).toBeGreaterThan(at);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a plain PyTorch state_dict is imported under run "imported" and warm-starts a run with the name report', async ({
  page,
}) => {
  await withoutPickers(page);
  await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=0&eval_every=0&epochs=1`);
  // torch.save(nn.Sequential(...).state_dict()): names 0.weight, 0.bias... that char-mlp does not have.
  await page.locator('#import-files').setInputFiles(join(process.cwd(), 'test-data/torch/mlp_model.th'));
  await expect(page.locator('#import-result')).toHaveAttribute('data-state', 'done');
  const row = page.locator('tr[data-run="imported"][data-tag="last"]');
  await row.locator('button[data-action="warm-start"]').click();
  await expect(page.locator('#f-init_run_id')).toHaveValue('imported');
  await expect(page.locator('#f-init_model_name')).toHaveValue('mlp-model');
  await page.getByRole('button', { name: /^Start training / }).click();
  await expect(page.locator('#run-line')).toContainText(
    'warm start from runs/imported/checkpoints/mlp-model_cp=last: 0 loaded, 5 missing',
  );
});
