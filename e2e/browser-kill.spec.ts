// The whole browser SIGKILLed, again and again, on one persistent profile, with a model of about
// 20M parameters (a checkpoint of about 80 MB a copy, written to both stores twice a save: writes
// take seconds). Half the kills land while a save is being written. Before every recovery the
// stores are read as the kill left them (the app asks first): every copy hashed by an
// independent reader; the app must resume from the newest checkpoint with an intact copy.
//
// BROWSER_KILLS (default 10) and BROWSER_KILL_HIDDEN (default 8192: 19.9M parameters with
// embed 300 and context 8) make it longer or lighter.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import { chromiumArgs, chromiumPath } from '../tools/chromium';
import { progress, resumedUpdate } from './helpers';
import { checkCopies, leftovers, readStores } from './stores';

const KILLS = Number(process.env.BROWSER_KILLS) || 10;
const HIDDEN = Number(process.env.BROWSER_KILL_HIDDEN) || 8192;
const CDP_PORT = Number(process.env.BROWSER_KILL_CDP_PORT) || 4313;
const RUN = 'browser-kill';
const SAVE_EVERY = 2;
// Plain SGD: the optimizer part is tiny, so the weights (HIDDEN × 2400 floats) are what is written.
const SETTINGS = `task=names&model=char-mlp&hidden=${HIDDEN}&embed=300&context=8&batch_size=8&optimizer=sgd&momentum=0&lr=0.001&epochs=1000&backend=wasm&eval_every=0&best_metrics=&save_every=${SAVE_EVERY}&keep_checkpoint=1&save_every_seconds=0&run_id=${RUN}`;

interface Launched {
  proc: ChildProcess;
  browser: Browser;
  page: Page;
}

/** Chromium on the profile, driven over the DevTools protocol, so the test holds its real process id. */
async function launch(profile: string, url: string): Promise<Launched> {
  const proc = spawn(
    chromiumPath(),
    [
      ...chromiumArgs,
      '--headless=new',
      `--user-data-dir=${profile}`,
      `--remote-debugging-port=${CDP_PORT}`,
      '--no-first-run',
      'about:blank',
    ],
    {
      detached: true, // its own process group: the kill takes every child with it
      stdio: 'ignore',
    },
  );
  let browser: Browser | undefined;
  for (let i = 0; i < 100 && !browser; i++) {
    browser = await chromium.connectOverCDP(`http://127.0.0.1:${CDP_PORT}`).catch(async () => {
      await new Promise((r) => setTimeout(r, 200));
      return undefined;
    });
  }
  if (!browser) throw new Error(`Chromium did not open its DevTools port ${CDP_PORT}`);
  const page = await browser.contexts()[0].newPage();
  await page.goto(url);
  return { proc, browser, page };
}

/** SIGKILL to the browser process, then to whatever of its process group is left; waits until all are gone. */
async function killBrowser(l: Launched): Promise<void> {
  const pid = l.proc.pid!;
  const exited = new Promise<void>((r) => l.proc.once('exit', () => r()));
  process.kill(pid, 'SIGKILL');
  await exited;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
  for (let i = 0; i < 100 && groupAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  expect(groupAlive(pid), 'every process of the killed browser is gone').toBe(false);
  await l.browser.close().catch(() => {});
}

function groupAlive(pgid: number): boolean {
  return readdirSync('/proc').some((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[2]) === pgid && fields[0] !== 'Z';
    } catch {
      return false;
    }
  });
}

async function savedUpdate(page: Page): Promise<number> {
  return Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1);
}

test(`the whole browser SIGKILLed ${KILLS} times on a persistent profile with a ~20M-parameter model: every relaunch recovers from a complete checkpoint`, async ({
  baseURL,
}) => {
  test.setTimeout(120_000 + KILLS * 150_000);
  const profile = mkdtempSync(join(tmpdir(), 'browser-kill-'));
  const figures = {
    kills: 0,
    killsDuringWrite: 0,
    killsLeavingUncommittedFiles: 0,
    recoveries: 0,
    tornLoads: 0,
    damagedCopiesFound: 0,
    updatesLost: [] as number[],
  };
  let seed = 2024;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let l = await launch(profile, `${baseURL}/?${SETTINGS}`);
  try {
    await l.page.locator('#auto-resume').selectOption('prompt');
    await l.page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => savedUpdate(l.page), { timeout: 300_000 }).toBeGreaterThan(0);
    const saved = (await l.page.locator('#checkpoint-line').textContent())!;
    console.log(`first checkpoint: ${saved}`);

    for (let i = 0; i < KILLS; i++) {
      // Even kills a random moment into a save being written, odd ones at a random moment of training.
      const aimed = i % 2 === 0;
      if (aimed) await l.page.locator('#checkpoint-line[data-saving="true"]').waitFor({ timeout: 300_000 });
      await l.page.waitForTimeout(random() * (aimed ? 3000 : 8000));
      const seen = (await progress(l.page)).update;
      const writing = (await l.page.locator('#checkpoint-line').getAttribute('data-saving')) === 'true';
      await killBrowser(l);
      figures.kills++;
      if (writing) figures.killsDuringWrite++;

      l = await launch(profile, `${baseURL}/`);
      const banner = l.page.locator('#recovery-banner');
      await expect(banner).toContainText(`Run ${RUN} was cut off at update`, { timeout: 60_000 });
      const left = await readStores(l.page, /\.manifest\.json$/);
      const copies = checkCopies(left, RUN);
      const uncommitted = leftovers(left, RUN);
      if (uncommitted.length > 0) figures.killsLeavingUncommittedFiles++;
      const damaged = copies.filter((c) => c.complete && !c.intact);
      figures.damagedCopiesFound += damaged.length;
      const usable = copies.filter((c) => c.intact && c.parts === 3);
      expect(usable.length, 'an intact full checkpoint survives every kill').toBeGreaterThan(0);
      const newest = Math.max(...usable.map((c) => c.update));

      await banner.getByRole('button', { name: 'Resume it' }).click();
      await expect(banner).toContainText(`Recovered run ${RUN}`, { timeout: 300_000 });
      const from = (await banner.getAttribute('data-from'))!;
      const resumedAt = await resumedUpdate(l.page);
      if (!usable.some((c) => c.key.endsWith(`_cp=${from}`) && c.update === resumedAt)) figures.tornLoads++;
      expect(resumedAt, `resumed from ${from}`).toBe(newest);
      const runLine = (await l.page.locator('#run-line').textContent())!;
      for (const d of damaged.filter((c) => c.update >= resumedAt)) {
        const tag = d.key.split('_cp=').pop()!;
        expect(runLine, `${d.store} copy of ${d.key}`).toMatch(
          new RegExp(`(skipped ${tag}|the ${d.store} copy of ${tag} was damaged)`),
        );
      }
      const lost = Math.max(0, seen - resumedAt);
      figures.recoveries++;
      figures.updatesLost.push(lost);
      console.log(
        `kill ${i + 1}${aimed ? ' (aimed)' : ''}: ${writing ? 'during a write' : 'between writes'}, ${uncommitted.length} uncommitted files left, ` +
          `${damaged.length} damaged copies; resumed from ${from} at update ${resumedAt}; ${lost} updates lost`,
      );
    }
  } finally {
    await killBrowser(l).catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  const lost = figures.updatesLost;
  console.log(
    `browser kills (hidden ${HIDDEN}): ${figures.kills} kills (${figures.killsDuringWrite} during a write, ${figures.killsLeavingUncommittedFiles} left uncommitted files), ` +
      `${figures.recoveries} recoveries, ${figures.tornLoads} torn loads, ${figures.damagedCopiesFound} damaged copies found, ` +
      `updates lost: max ${Math.max(...lost)}, mean ${(lost.reduce((a, b) => a + b, 0) / lost.length).toFixed(1)}`,
  );
  expect(figures.recoveries).toBe(KILLS);
  expect(figures.tornLoads).toBe(0);
  expect(figures.killsDuringWrite).toBeGreaterThanOrEqual(Math.ceil(KILLS / 2));
});
