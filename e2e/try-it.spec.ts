// "Try it", as a person uses it: for each task a tiny model trains a few updates; while it trains,
// an input typed into the Try panel gets an answer of the task's form; after Stop, the checkpoint
// the stop saved answers too. Answers are checked for their form, never timed. The results panel
// shows the task's metrics (perplexity, PER/WER with marks, precision/recall/F1 and a matrix).
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { waitForUpdate, waitForValidation } from './helpers';

const TINY =
  'backend=wasm&embed=8&hidden=16&layers=1&heads=2&batch_size=16&eval_every=3&epochs=1000&save_every=0&save_at_epoch_end=false&lr=0.01';

async function startAndWait(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Start' }).click();
  await waitForUpdate(page, 3, 60_000);
  await expect(page.locator('#try-source')).toHaveValue('training');
}

/** Types into the panel, presses its button, and returns the answer region once it has answered. */
async function ask(page: Page, fill: Record<string, string>, button: string) {
  for (const [label, value] of Object.entries(fill)) await page.locator('#try-form').getByLabel(label).fill(value);
  await page.locator('#try-form').getByRole('button', { name: button }).click();
  const answer = page.locator('#try-answer');
  await expect(answer).toHaveAttribute('data-state', /answered|error/);
  await expect(answer.getByRole('alert')).toHaveCount(0);
  return answer;
}

async function stopAndPickCheckpoint(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  // After a stop the live model is gone: the stop's checkpoint is chosen.
  await expect(page.locator('#try-source option')).not.toHaveCount(0);
  await expect(page.locator('#try-source')).toHaveValue(/^cp:/);
}

test('names: a prefix is finished while training and by the checkpoint after Stop; perplexity shown', async ({
  page,
}) => {
  await page.goto(`/?${TINY}&task=names&model=char-mlp&context=3`);
  await startAndWait(page);
  let answer = await ask(page, { 'Start of the name': 'Ma', Temperature: '0.5' }, 'Generate');
  await expect(answer.locator('.prompt')).toHaveText('ma');
  await expect(answer.locator('#try-generated')).toHaveText(/^[a-z' -]*$/);
  await expect(answer).toContainText('the model training now');
  await waitForValidation(page, 3, 60_000);
  await expect(page.locator('#results [data-metric="val/perplexity"]')).toBeVisible();

  // The panel and the results, with an answer shown, pass an accessibility check.
  const axe = await new AxeBuilder({ page }).include('#try').include('#results').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  await stopAndPickCheckpoint(page);
  answer = await ask(page, { 'Start of the name': 'Jo' }, 'Generate');
  await expect(answer.locator('.prompt')).toHaveText('jo');
  await expect(answer).toContainText('checkpoint');

  // A character the model never saw is refused by name.
  await page.locator('#try-form').getByLabel('Start of the name').fill('Zoë€');
  await page.locator('#try-form').getByRole('button', { name: 'Generate' }).click();
  await expect(page.locator('#try-answer [data-error]')).toHaveAttribute('data-error', 'TryInputError');

  // After a reload, with a fresh trainer that never trained, the run's checkpoints still answer.
  await page.reload();
  await expect(page.locator('#try-source')).toHaveValue(/^cp:/);
  answer = await ask(page, { 'Start of the name': 'Li', Temperature: '0' }, 'Generate');
  await expect(answer.locator('.prompt')).toHaveText('li');
  await expect(answer.locator('#try-generated')).toHaveText(/^[a-z' -]*$/);

  // Each checkpoint row of the panel below has a Try button, named for its checkpoint: the Try panel
  // then answers from that one.
  const tryButtons = page.locator('#checkpoint-tree button[data-action="try"]');
  await expect(tryButtons).not.toHaveCount(0);
  const tryButton = tryButtons.last();
  const tag = /^Try (\S+) of run /.exec((await tryButton.getAttribute('aria-label')) ?? '')?.[1];
  expect(tag).toBeTruthy();
  await tryButton.click();
  await expect(page.locator('#try-source')).toHaveValue(`cp:${tag}`);
  answer = await ask(page, { 'Start of the name': 'An' }, 'Generate');
  await expect(answer.locator('.prompt')).toHaveText('an');
});

test('g2p: a word gets phonemes and the dictionary answer; error rates with marks', async ({ page }) => {
  await page.goto(`/?${TINY}&task=g2p&model=seq2seq&val_fraction=0.002`);
  await startAndWait(page);
  let answer = await ask(page, { Word: 'water' }, 'Answer');
  await expect(answer.locator('#try-translation')).toHaveText(/^([A-Z]{1,2}[012]?( |$))*$|∅/);
  await expect(answer.locator('#try-dictionary')).toHaveAttribute('data-known', 'true');
  await expect(answer.locator('#try-dictionary code')).toHaveText('W AO1 T ER0');

  await waitForValidation(page, 3, 90_000);
  await expect(page.locator('#results [data-metric="val/per"]')).toBeVisible();
  await expect(page.locator('#results [data-metric="val/wer"]')).toBeVisible();
  await expect(
    page.locator('#result-examples li[data-correct="true"], #result-examples li[data-correct="false"]'),
  ).toHaveCount(5);

  await stopAndPickCheckpoint(page);
  answer = await ask(page, { Word: 'Cat' }, 'Answer');
  await expect(answer.locator('#try-dictionary code')).toHaveText('K AE1 T');
  await expect(answer).toContainText('checkpoint');
});

test('spam: a pasted message gets a probability; precision, recall, F1 and a confusion matrix', async ({ page }) => {
  await page.goto(`/?${TINY}&task=spam&model=text-mlp&hash_buckets=1024`);
  await startAndWait(page);
  const message = 'Congratulations! You have WON a free cruise. Click here to claim your prize now.';
  let answer = await ask(page, { Message: message }, 'Classify');
  const p = Number(await answer.locator('#try-probability').getAttribute('data-probability'));
  expect(p).toBeGreaterThanOrEqual(0);
  expect(p).toBeLessThanOrEqual(1);
  await expect(answer.locator('#try-probability')).toHaveText(/^\d{1,3}\.\d% spam$/);

  await waitForValidation(page, 3, 60_000);
  for (const m of ['val/precision', 'val/recall', 'val/f1'])
    await expect(page.locator(`#results [data-metric="${m}"]`)).toBeVisible();
  await expect(page.locator('#confusion-matrix td')).toHaveCount(4);
  const axe = await new AxeBuilder({ page }).include('#try').include('#results').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

  await stopAndPickCheckpoint(page);
  answer = await ask(page, { Message: 'Hi, are we still meeting for lunch tomorrow?' }, 'Classify');
  await expect(answer.locator('#try-probability')).toHaveAttribute('data-probability', /^(0|1|0\.\d+|\d\.\d+e-\d+)$/);
});

test('own text: the GPT continues a prompt, live and from its checkpoint', async ({ page }) => {
  await page.goto(`/?${TINY}&task=text&model=gpt&context=8`);
  const text = 'the quick brown fox jumps over the lazy dog.\n'.repeat(40);
  await page
    .locator('#f-user-file')
    .setInputFiles({ name: 'fox.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await startAndWait(page);
  let answer = await ask(page, { Prompt: 'the ', Length: '30' }, 'Generate');
  await expect(answer.locator('#try-generated')).toHaveText(/^[a-z .\n]{30}$/);

  await stopAndPickCheckpoint(page);
  answer = await ask(page, { Prompt: 'lazy ', Length: '12' }, 'Generate');
  await expect(answer.locator('#try-generated')).toHaveText(/^[a-z .\n]{12}$/);
});
