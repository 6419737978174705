// One short run per new task, chosen by URL, on WASM with tiny models: training starts, a
// validation loss arrives and the showcase shows what the model makes of held-out data.
import { expect, test, type Page } from '@playwright/test';
import { waitForValidation } from './helpers';

const TINY =
  'backend=wasm&embed=8&hidden=16&layers=1&heads=2&batch_size=16&eval_every=5&epochs=1000&save_every=0&save_at_epoch_end=false&save_every_seconds=0&lr=0.01';

async function trainUntilValidated(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Start' }).click();
  const v = await waitForValidation(page, 5);
  expect(Number.isFinite(v.loss)).toBe(true);
  await expect(page.locator('#samples li').first()).toBeVisible();
}

async function stop(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
}

test('names with the GPT: sampled names appear', async ({ page }) => {
  await page.goto(`/?${TINY}&task=names&model=gpt&context=8`);
  await trainUntilValidated(page);
  await expect(page.locator('#samples li')).toHaveCount(5);
  await stop(page);
});

test('grapheme-to-phoneme: greedy decodings of validation words appear', async ({ page }) => {
  await page.goto(`/?${TINY}&task=g2p&model=seq2seq&val_fraction=0.002`);
  await trainUntilValidated(page);
  await expect(page.locator('#samples li').first()).toContainText('→');
  await stop(page);
});

test('spam: classified validation messages appear', async ({ page }) => {
  await page.goto(`/?${TINY}&task=spam&model=text-mlp&hash_buckets=1024`);
  await trainUntilValidated(page);
  await expect(page.locator('#samples li').first()).toHaveText(/^(ham|spam) \d+% /);
  await stop(page);
});

test('task/model pairs that cannot work cannot be started: Start is off, with the reason beside it', async ({
  page,
}) => {
  await page.goto(`/?${TINY}&task=g2p&model=char-mlp`);
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();
  await expect(page.locator('#start-reason')).toContainText('cannot be learned by the char-mlp model');
});

test('your own text: a dropped-in file trains the GPT; a binary file is refused', async ({ page }) => {
  await page.goto(`/?${TINY}&task=text&model=gpt&context=8`);
  const text = 'the quick brown fox jumps over the lazy dog.\n'.repeat(40);
  await page
    .locator('#f-user-file')
    .setInputFiles({ name: 'fox.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await expect(page.locator('#m-user-file')).toContainText('fox.txt');
  await trainUntilValidated(page);
  await stop(page);

  await page
    .locator('#f-user-file')
    .setInputFiles({ name: 'blob.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([1, 0, 2, 3]) });
  await expect(page.locator('#m-user-file')).toContainText('blob.bin');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('alert')).toContainText('looks binary');
});

test('your own TSV: source<TAB>target lines train the seq2seq model on them; a malformed line is refused', async ({
  page,
}) => {
  await page.goto(`/?${TINY}&task=text&model=seq2seq&val_fraction=0.2`);
  // Reverse a word: the showcase must decode validation words taken from this file.
  const words = Array.from(
    { length: 60 },
    (_, i) => `${'abcdefgh'[i % 8]}${'ijklmnop'[(i * 3) % 8]}${'qrstuvwx'[(i * 5) % 8]}${i % 10}`,
  );
  const tsv = words.map((w) => `${w}\t${[...w].reverse().join('')}`).join('\n') + '\n';
  await page
    .locator('#f-user-file')
    .setInputFiles({ name: 'reverse.tsv', mimeType: 'text/tab-separated-values', buffer: Buffer.from(tsv) });
  await expect(page.locator('#m-user-file')).toContainText('reverse.tsv');
  await trainUntilValidated(page);
  const first = (await page.locator('#samples li').first().textContent())!;
  expect(first).toContain('→');
  expect(
    words.some((w) => first.includes(w)),
    first,
  ).toBe(true);
  await stop(page);

  await page.locator('#f-user-file').setInputFiles({
    name: 'broken.tsv',
    mimeType: 'text/tab-separated-values',
    buffer: Buffer.from('ab\tba\nno tab here\ncd\tdc\n'),
  });
  await expect(page.locator('#m-user-file')).toContainText('broken.tsv');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('alert')).toContainText('DatasetError');
  await expect(page.getByRole('alert')).toContainText('line 2 is not');
});
