import { expect, test } from '@playwright/test';
import { SMALL_RUN, progress, waitForUpdate } from './helpers';

/*
 * OPFS and IndexedDB share one origin quota in Chromium, so "IndexedDB is full, OPFS is not" only
 * happens between the two writes of one save. The spec makes that moment on purpose, with real
 * IndexedDB and real quota: it holds a readwrite transaction on the app's database, so the app's
 * IndexedDB write of the first checkpoint waits behind it while the OPFS copy completes; then it
 * sets the origin's quota to what is already used (DevTools protocol) and lets go. The app's
 * IndexedDB transaction meets the exhausted quota; the OPFS copy stands.
 *
 * Chromium's IndexedDB remembers the room it last saw for a while and counts down from it, so a
 * lowered quota alone goes unnoticed. The room is therefore bounded from the start (ROOM), and
 * the held transaction ends with a write larger than ROOM: IndexedDB has to look again, finds the
 * quota exhausted (that write is refused too), and so does the app's write queued behind it.
 */
const RUN_ID = 'partial-save';
const CHECKPOINTS = `runs/${RUN_ID}/train/checkpoints`;
const ROOM = 64 << 20;

test('a save that reached only OPFS is shown as such, the run goes on, and a save to both clears the warning', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(240_000);
  const cdp = await context.newCDPSession(page);
  const origin = new URL(baseURL!).origin;
  // Only best checkpoints while training (one checkpoint per save), the first at update 1000: seconds
  // after the run line shows, so the hold below is in place first on a fast machine too.
  await page.goto(
    `/?${SMALL_RUN}&backend=wasm&eval_every=1000&save_every=0&save_at_epoch_end=false&best_metrics=val/loss:min&run_id=${RUN_ID}`,
  );
  const before = await page.evaluate(() => navigator.storage.estimate());
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: (before.usage ?? 0) + ROOM });
  await page.getByRole('button', { name: 'Start' }).click();
  // The run is set up (its store swept) before the app's database is held.
  await expect(page.locator('#run-line')).toContainText(`Run ${RUN_ID}`);

  const savingBeforeHold = await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('checkpoints');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error ?? new Error('IndexedDB request failed'));
    });
    const tx = db.transaction(['meta', 'chunks'], 'readwrite');
    const ended = new Promise<string>((resolve) => {
      tx.oncomplete = () => resolve('committed');
      tx.onabort = () => resolve(tx.error?.name ?? 'aborted');
    });
    let release = 0;
    // A transaction lives while it has requests: one after another, until the closing write.
    const spin = () => {
      if (release > 0)
        tx.objectStore('chunks').put(new Uint8Array(release), ['probe', 'model', 0]).onerror = (e) =>
          e.preventDefault();
      else tx.objectStore('meta').get('hold').onsuccess = spin;
    };
    spin();
    // A handle this spec puts on the page for itself.
    (window as unknown as { releaseIdb: (bytes: number) => Promise<string> }).releaseIdb = (bytes) => {
      release = bytes;
      return ended;
    };
    // Pause as soon as the first save begins, so no later save is waiting when the hold ends.
    const line = document.getElementById('checkpoint-line')!;
    const watch = new MutationObserver(() => {
      if (line.dataset.saving !== 'true') return;
      watch.disconnect();
      document.getElementById('pause')!.click();
    });
    watch.observe(line, { attributes: true, attributeFilter: ['data-saving'] });
    // No save began yet, and none finished: the page marks `data-saving` false and names no tag.
    return line.dataset.saving === 'true' || line.dataset.tag ? `saving ${line.dataset.tag ?? ''}` : 'no save yet';
  });
  // The hold came first: the save it catches is the first one.
  expect(savingBeforeHold).toBe('no save yet');
  await expect(page.getByRole('status')).toContainText('paused', { timeout: 150_000 });

  // The OPFS copy is committed and its staged files moved into place.
  await expect
    .poll(
      () =>
        page.evaluate(async (path) => {
          let dir = await navigator.storage.getDirectory();
          try {
            for (const s of path.split('/')) dir = await dir.getDirectoryHandle(s);
          } catch {
            return 'no folder yet';
          }
          const names: string[] = [];
          // keys() on a directory handle is missing from TS's DOM lib.
          for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
          if (names.some((n) => n.endsWith('.tmp'))) return 'staged';
          return names.includes('char-mlp_cp=best.val.loss.manifest.json') ? 'committed' : 'no manifest yet';
        }, CHECKPOINTS),
      { timeout: 60_000 },
    )
    .toBe('committed');

  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage ?? 0 });
  // The handle installed above.
  const held = await page.evaluate(
    (bytes) => (window as unknown as { releaseIdb: (n: number) => Promise<string> }).releaseIdb(bytes),
    ROOM + 1,
  );
  expect(held).toBe('QuotaExceededError');

  const warning = page.locator('#save-warning');
  await expect(warning).toBeVisible();
  await expect(warning).toContainText('best.val.loss reached only opfs');
  await expect(warning).toContainText('idb refused it (QuotaExceededError');
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-stores', 'opfs');
  await expect(page.locator('#checkpoint-line')).toContainText('best.val.loss');

  // Room again; the run goes on from where it paused.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: (usage ?? 0) + ROOM });
  const pausedAt = (await progress(page)).update;
  await page.getByRole('button', { name: 'Resume training' }).click();
  await waitForUpdate(page, pausedAt + 20);

  // Stop saves to both stores (a best checkpoint since Resume may have already): the warning goes.
  await page.getByRole('button', { name: 'Stop training' }).click();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  await expect(page.locator('#checkpoint-line')).toHaveAttribute('data-stores', 'opfs idb');
  await expect(warning).toBeHidden();
});
