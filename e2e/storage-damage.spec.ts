// Half the storage lost, and damage at rest: with OPFS or IndexedDB gone the run resumes from the
// other and copies every checkpoint back; with a byte flipped in one store's copy the other copy
// serves and the damaged one is rewritten; with both copies damaged the previous good checkpoint
// is used. The page says which checkpoint and why each time.
import { expect, test, type Page } from '@playwright/test';
import { SMALL_RUN, resumedUpdate } from './helpers';
import { checkStores, flipByte, loseStore, openBareDocument, type CopyCheck, type StoreKind } from './stores';

const SAVING = `${SMALL_RUN}&backend=wasm&save_every=10&eval_every=0&keep_checkpoint=-1&epochs=1000`;

async function trainAndStop(page: Page, run: string, atLeast: number): Promise<void> {
  await page.goto(`/?${SAVING}&run_id=${run}`);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect
    .poll(async () => Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1), {
      timeout: 60_000,
    })
    .toBeGreaterThanOrEqual(atLeast);
  await stop(page);
}

async function stop(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
}

/**
 * Opens the app on a resume of `run` (latest) and starts it; returns the run line once it names the
 * checkpoint and, where one is expected, the repair (reported once training has begun).
 */
async function resume(page: Page, run: string, repair?: string | RegExp): Promise<{ at: number; line: string }> {
  await page.goto(`/?${SAVING}&resume_run_id=${run}&run_id=${run}`);
  await page.getByRole('button', { name: 'Start' }).click();
  const at = await resumedUpdate(page);
  if (repair) await expect(page.locator('#run-line')).toContainText(repair, { timeout: 30_000 });
  return { at, line: (await page.locator('#run-line').textContent())! };
}

/** Holds the run still and reads both stores: every copy of every checkpoint of the run. */
async function pausedCopies(page: Page, run: string): Promise<CopyCheck[]> {
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('status')).toContainText('paused');
  await expect(page.locator('#checkpoint-line')).not.toHaveAttribute('data-saving', 'true');
  return checkStores(page, { runId: run, decode: true });
}

function expectWholeInBoth(copies: CopyCheck[]): void {
  expect(copies.filter((c) => !c.intact)).toEqual([]);
  const keys = (s: StoreKind) => copies.filter((c) => c.store === s).map((c) => c.key);
  expect(keys('opfs').length).toBeGreaterThan(2);
  expect(keys('opfs')).toEqual(keys('idb'));
}

const tagOf = (key: string) => key.split('_cp=').pop()!;

test('one store lost, OPFS then IndexedDB: the run resumes from the other and every checkpoint is copied back', async ({
  page,
}) => {
  const run = 'half-lost';
  await trainAndStop(page, run, 30);
  for (const lost of ['opfs', 'idb'] as const) {
    await openBareDocument(page);
    const before = await checkStores(page, { runId: run });
    const newest = Math.max(...before.filter((c) => c.parts === 3).map((c) => c.update));
    await loseStore(page, lost);
    expect((await checkStores(page, { runId: run })).filter((c) => c.store === lost)).toEqual([]);

    const { at } = await resume(page, run, new RegExp(`\\d+ checkpoints missing from ${lost} copied back`));
    expect(at, lost).toBe(newest);
    expectWholeInBoth(await pausedCopies(page, run));
    await stop(page);
  }
});

test('damage at rest: one copy damaged, the other serves and the damaged one is rewritten; both damaged, the previous checkpoint is used', async ({
  page,
}) => {
  const run = 'at-rest';
  await trainAndStop(page, run, 30);
  for (const damaged of [['opfs'], ['idb'], ['opfs', 'idb']] as const) {
    await openBareDocument(page);
    const copies = await checkStores(page, { runId: run });
    const periodic = copies
      .filter((c) => c.store === 'opfs' && /_cp=E\d+_U\d+_S\d+$/.test(c.key))
      .sort((a, b) => b.update - a.update);
    const [newest, previous] = periodic;
    const latest = copies.find((c) => c.store === 'opfs' && c.key.endsWith('_cp=latest'))!;
    expect(latest.update).toBe(newest.update);
    // The resume reads the newest periodic checkpoint first (latest holds the same counters): damage it there.
    for (const store of damaged) {
      await flipByte(page, store, newest.key, 'model');
      if (damaged.length === 2) await flipByte(page, store, latest.key, 'model');
    }
    const after = await checkStores(page, { runId: run });
    expect(
      after
        .filter((c) => !c.intact)
        .map((c) => `${c.store} ${tagOf(c.key)}`)
        .sort(),
    ).toEqual(
      damaged.flatMap((s) => [`${s} ${tagOf(newest.key)}`, ...(damaged.length === 2 ? [`${s} latest`] : [])]).sort(),
    );

    const rewritten = `the ${damaged[0]} copy of ${tagOf(newest.key)} was damaged (ChecksumMismatchError`;
    const { at, line } = await resume(page, run, damaged.length === 1 ? rewritten : undefined);
    if (damaged.length === 1) {
      expect(at).toBe(newest.update);
      expect(line).toContain(rewritten);
      expectWholeInBoth(await pausedCopies(page, run));
    } else {
      // Both copies of the newest two checkpoints are damaged: the previous one, and the page says which it skipped and why.
      expect(at).toBe(previous.update);
      expect(line).toContain(`resumed from ${tagOf(previous.key)} at update ${previous.update}`);
      expect(line).toMatch(new RegExp(`skipped ${tagOf(newest.key)}: No intact copy of the model part.*damaged`));
      expect(line).toMatch(/skipped latest: No intact copy of the model part.*damaged/);
      await pausedCopies(page, run);
    }
    await stop(page);
  }
});
