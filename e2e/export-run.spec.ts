// A whole run leaves the browser as one .zip that PyTorch reads file by file, and comes back
// unchanged, byte for byte, through the folder picker and through a drop on the page.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { PYTHON } from '../tools/python';
import { SMALL_RUN, withoutPickers } from './helpers';
import { snapshotStores } from './stores';

const RUN = 'whole-run';

/** The run's part files as OPFS holds them: path → size and SHA-256 (generations and dates left out). */
async function partsOfRun(page: Page): Promise<Record<string, string>> {
  const all = await snapshotStores(page);
  return Object.fromEntries(
    Object.entries(all).filter(([k]) => k.startsWith(`opfs:runs/${RUN}/`) && k.endsWith('.th')),
  );
}

async function deleteRun(page: Page): Promise<void> {
  await page.locator(`.ckpt-run[data-run="${RUN}"] button[data-action="delete-run"]`).click();
  await expect(page.locator(`tr[data-run="${RUN}"]`)).toHaveCount(0);
}

test('export a whole run: every checkpoint in one zip that PyTorch loads; folder import and a drop bring it back byte for byte', async ({
  page,
}) => {
  const dir = mkdtempSync(join(tmpdir(), 'whole-run-'));
  try {
    await withoutPickers(page);
    await page.goto(`/?${SMALL_RUN}&backend=wasm&save_every=10&eval_every=0&keep_checkpoint=-1&run_id=${RUN}`);
    await page.getByRole('button', { name: 'Start' }).click();
    await expect
      .poll(async () => Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1), {
        timeout: 60_000,
      })
      .toBeGreaterThanOrEqual(20);
    await page.getByRole('button', { name: 'Stop training' }).click();
    await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
    const rows = page.locator(`tr[data-run="${RUN}"]`);
    // The panel lists again after the final save, a moment after Start comes back: wait for its `latest`.
    const savedAt = (await page.locator('#checkpoint-line').getAttribute('data-update')) ?? '';
    await expect(rows.and(page.locator('[data-key$="_cp=latest"]'))).toHaveAttribute('data-update', savedAt);
    const listed = await rows.evaluateAll((trs) =>
      trs.map((tr) => ({ key: tr.getAttribute('data-key')!, update: Number(tr.getAttribute('data-update')) })),
    );
    expect(listed.length).toBeGreaterThanOrEqual(3); // E.._U10, E.._U20, ..., latest
    const before = await partsOfRun(page);
    expect(Object.keys(before)).toHaveLength(listed.length * 3);

    await page.locator('#export-format').selectOption('zip');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator(`.ckpt-run[data-run="${RUN}"] button[data-action="export-run"]`).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${RUN}.zip`);
    const zip = join(dir, download.suggestedFilename());
    await download.saveAs(zip);

    // PyTorch opens every entry and reads the counters of each model and trainer part. (Not weights_only:
    // PyTorch 1.13's restricted reader refuses the Python floats the optim and trainer parts hold.)
    const check = `
import json, sys, zipfile, io, torch
out = {}
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if not name.endswith(".th"):  # the run's history rides beside its checkpoints
            out[name] = sorted(json.loads(z.read(name)).keys()) if name.endswith(".json") else len(z.read(name).splitlines())
            continue
        obj = torch.load(io.BytesIO(z.read(name)))
        out[name] = sorted(obj.keys()) if name.endswith("_optim.th") else obj["training_iteration"]["update"]
    z.extractall(sys.argv[2])
print(json.dumps(out))`;
    const unpacked = join(dir, 'unpacked');
    const py = spawnSync(PYTHON, ['-c', check, zip, unpacked], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const entries = JSON.parse(py.stdout) as Record<string, number | string[]>;
    const expected: Record<string, number | string[]> = {};
    for (const { key, update } of listed) {
      const inZip = key.replace(/^runs\//, ''); // the zip leaves the output_dir out
      expected[`${inZip}_model.th`] = update;
      expected[`${inZip}_optim.th`] = ['optimizer', 'param_groups', 'param_idx_to_name', 'state'];
      expected[`${inZip}_trainer.th`] = update;
    }
    // Its history: the run's record, and the stage's metrics log (a line per update at least).
    const stageDir = listed[0].key.replace(/^runs\//, '').split('/checkpoints/')[0];
    const logName = `${stageDir}/metrics.jsonl`;
    expect(entries[logName]).toBeGreaterThanOrEqual(Math.max(...listed.map((l) => l.update)));
    expected[logName] = entries[logName];
    expected[`${RUN}/run.json`] = ['createdAt', 'model', 'name', 'task'];
    expect(entries).toEqual(expected);

    // Back through the folder picker: the run's folder as the zip unpacked it.
    await deleteRun(page);
    await page.locator('#import-folder').setInputFiles(join(unpacked, RUN));
    const result = page.locator('#import-result');
    await expect(result).toHaveAttribute('data-state', 'done');
    await expect(result).toHaveAttribute('data-imported', String(listed.length));
    await expect(result).toHaveAttribute('data-imported-logs', '1');
    await expect(rows).toHaveCount(listed.length);
    expect(await partsOfRun(page)).toEqual(before);

    // And dropped on the page: the zip itself.
    await deleteRun(page);
    await result.evaluate((e) => e.removeAttribute('data-state'));
    const bytes = readFileSync(zip).toString('base64');
    await page.evaluate(
      ({ name, b64 }) => {
        const dt = new DataTransfer();
        dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'application/zip' }));
        const target = document.getElementById('checkpoints')!;
        for (const type of ['dragenter', 'dragover', 'drop'])
          target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      },
      { name: `${RUN}.zip`, b64: bytes },
    );
    await expect(result).toHaveAttribute('data-state', 'done');
    await expect(result).toHaveAttribute('data-imported', String(listed.length));
    expect(await partsOfRun(page)).toEqual(before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
