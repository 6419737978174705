// Every file of the bad corpus (test-data/import-bad, scripts/make-import-bad.py) is refused
// through the page's import with its named error, and the stored checkpoints stay as they were.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const DATA = join(process.cwd(), 'test-data');

async function listed(page: Page): Promise<string[]> {
  return page.locator('#checkpoint-tree tr[data-key]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-key')}@${r.getAttribute('data-update')}`).sort());
}

test('bad files are refused by name and nothing stored changes', async ({ page }) => {
  page.on('dialog', (d) => void d.accept());
  await page.goto('/');
  const good = join(DATA, 'import-good');
  await page.locator('#import-files').setInputFiles(readdirSync(good).map((f) => join(good, f)));
  const result = page.locator('#import-result');
  await expect(result).toHaveAttribute('data-state', 'done');
  await expect(page.locator('#checkpoint-tree tr[data-key]')).not.toHaveCount(0);
  const before = await listed(page);

  const expected = JSON.parse(readFileSync(join(DATA, 'import-bad/expected.json'), 'utf8')) as Record<string, string>;
  for (const [name, error] of Object.entries(expected)) {
    const folder = join(DATA, 'import-bad', name);
    await page.locator('#import-files').setInputFiles(readdirSync(folder).map((f) => join(folder, f)));
    await expect(result, name).toHaveAttribute('data-state', 'refused');
    await expect(result.locator(`li[data-error-name="${error}"]`).first(), name).toBeVisible();
    await expect(result, name).toContainText('Nothing was imported');
    expect(await listed(page), name).toEqual(before);
    // Reset the marker so the next case waits for its own answer.
    await result.evaluate((e) => e.removeAttribute('data-state'));
  }
});
