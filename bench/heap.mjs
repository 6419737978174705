// The trainer worker's heap, sampled from outside: performance.memory is not exposed in a
// dedicated worker, so the bench asks Chromium's DevTools protocol (Runtime.getHeapUsage on the
// worker's target): the JS heap plus ArrayBuffer backing stores, where checkpoint bytes live.

export const HEAP_SOURCE =
  'DevTools protocol Runtime.getHeapUsage on the trainer worker: usedSize (JS heap) + backingStorageSize (ArrayBuffers), asked every 20 ms and answered by the worker between its tasks (a synchronous stretch is not sampled inside: the peak is a lower bound); gc() run before each window';

/**
 * Starts sampling the page's trainer worker (waiting for it to appear: the page starts it on its
 * first call); stop() returns the samples as [epoch ms, bytes].
 */
export async function sampleWorkerHeap(browser) {
  const cdp = await browser.newBrowserCDPSession();
  let id = 0;
  const waiting = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  const samples = [];
  let running = true;
  let failure;
  const loop = (async () => {
    let sessionId;
    while (running) {
      if (!sessionId) {
        const { targetInfos } = await cdp.send('Target.getTargets');
        // The trainer is a module worker served by the app; tfjs's WASM threads (if any) are blob: workers.
        const target = targetInfos.find((t) => t.type === 'worker' && !t.url.startsWith('blob:'));
        if (target)
          ({ sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false }));
      } else {
        const m = await new Promise((resolve) => {
          const i = ++id;
          waiting.set(i, resolve);
          const message = JSON.stringify({ id: i, method: 'Runtime.getHeapUsage' });
          cdp.send('Target.sendMessageToTarget', { sessionId, message }).catch((e) => resolve({ error: e }));
        });
        if (m.result) samples.push([Date.now(), m.result.usedSize + (m.result.backingStorageSize ?? 0)]);
        else failure = m.error;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })().catch((e) => (failure = e));
  return {
    async stop() {
      running = false;
      await Promise.race([loop, new Promise((r) => setTimeout(r, 2000))]);
      await cdp.detach().catch(() => {});
      if (samples.length === 0)
        throw new Error(`no heap samples of the trainer worker (${failure ?? 'no worker found'})`);
      return samples;
    },
  };
}

/** The highest sample within [start, end] over the last sample before start, in bytes. */
export function peakOver(samples, [start, end]) {
  const before = samples.filter(([t]) => t <= start).at(-1) ?? samples.find(([t]) => t >= start);
  const inside = samples.filter(([t]) => t >= start && t <= end).map(([, b]) => b);
  if (!before || inside.length === 0) return null;
  return {
    baselineBytes: before[1],
    peakBytes: Math.max(...inside),
    peakOverBaselineBytes: Math.max(...inside) - before[1],
    samples: inside.length,
  };
}
