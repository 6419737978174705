// Every file of the bad corpus (test-data/import-bad, scripts/make-import-bad.py) is refused
// through the page's import with its named error, naming the file, and the stores themselves
// (every OPFS file's size and hash, every IndexedDB record) stay exactly as they were.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { snapshotStores } from './stores';

const DATA = join(process.cwd(), 'test-data');

test('bad files are refused by name and nothing stored changes', async ({ page }) => {
  page.on('dialog', (d) => void d.accept());
  await page.goto('/');
  const good = join(DATA, 'import-good');
  await page.locator('#import-files').setInputFiles(readdirSync(good).map((f) => join(good, f)));
  const result = page.locator('#import-result');
  await expect(result).toHaveAttribute('data-state', 'done');
  const before = await snapshotStores(page);
  // The good import is in both stores: a refusal that wrote anywhere would show below.
  expect(Object.keys(before).filter((k) => k.startsWith('opfs:') && k.endsWith('.th'))).toHaveLength(3);
  expect(Object.keys(before).filter((k) => k.startsWith('idb meta:'))).toHaveLength(1);

  const expected = JSON.parse(readFileSync(join(DATA, 'import-bad/expected.json'), 'utf8')) as Record<string, string>;
  for (const [name, error] of Object.entries(expected)) {
    const folder = join(DATA, 'import-bad', name);
    const files = readdirSync(folder);
    await page.locator('#import-files').setInputFiles(files.map((f) => join(folder, f)));
    await expect(result, name).toHaveAttribute('data-state', 'refused');
    await expect(result, name).toContainText('Nothing was imported');
    // Each refusal says which file, which error and why: "<file>: <ErrorName>: <message>".
    const refusals = await result
      .locator('li')
      .evaluateAll((lis) =>
        lis.map((li) => ({ text: li.textContent ?? '', error: li.getAttribute('data-error-name') })),
      );
    expect(refusals.length, name).toBeGreaterThan(0);
    for (const r of refusals) {
      expect(
        files.some((f) => r.text.startsWith(`${f}: `) || r.text.startsWith(`${f}:`)),
        `${name}: ${r.text}`,
      ).toBe(true);
      expect(r.text, name).toMatch(new RegExp(`: ${r.error}: \\S`));
    }
    expect(
      refusals.map((r) => r.error),
      name,
    ).toContain(error);
    expect(await snapshotStores(page), name).toEqual(before);
    // Reset the marker so the next case waits for its own answer.
    await result.evaluate((e) => e.removeAttribute('data-state'));
  }
});
