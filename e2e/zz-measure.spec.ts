import { expect, test } from '@playwright/test';
for (const hidden of [128, 2048, 8192]) {
  test(`measure ${hidden}`, async ({ page }) => {
    test.setTimeout(120_000);
    await page.goto(`/?hidden=${hidden}&embed=8&batch_size=32&epochs=1000&backend=wasm&save_every=20&eval_every=0&keep_checkpoint=2&run_id=m${hidden}`);
    await page.evaluate(() => {
      const el = document.getElementById('checkpoint-line')!;
      const w = window as unknown as { marks: [string, number][] };
      w.marks = [];
      new MutationObserver(() => w.marks.push([el.dataset.saving ?? '', performance.now()])).observe(el, { attributes: true, attributeFilter: ['data-saving'] });
    });
    await page.getByRole('button', { name: 'Start' }).click();
    const t0 = Date.now();
    await expect.poll(async () => Number((await page.locator('#checkpoint-line').getAttribute('data-update')) ?? -1), { timeout: 100_000 }).toBeGreaterThanOrEqual(100);
    const marks = await page.evaluate(() => (window as unknown as { marks: [string, number][] }).marks);
    const durs: number[] = [];
    for (let i = 0; i + 1 < marks.length; i++) if (marks[i][0] === 'true' && marks[i + 1][0] === 'false') durs.push(marks[i + 1][1] - marks[i][1]);
    console.log(hidden, 'save ms', durs.map((d) => d.toFixed(0)).join(','), 'wall to U100', Date.now() - t0, await page.locator('#checkpoint-line').textContent());
  });
}
