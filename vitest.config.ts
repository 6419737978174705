import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './tools/chromium';

// Two projects: pure logic runs in Node; whatever needs IndexedDB, OPFS or WebGPU runs in real Chromium.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['src/**/*.test.ts'],
          exclude: ['src/**/*.browser.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Pre-bundled up front: a dependency discovered mid-run makes Vite reload the test page.
        optimizeDeps: {
          include: [
            '@tensorflow/tfjs',
            '@tensorflow/tfjs-backend-webgpu',
            '@tensorflow/tfjs-backend-wasm',
            'idb',
            'comlink',
            'hash-wasm',
          ],
        },
        test: {
          name: 'browser',
          include: ['src/**/*.browser.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: chromiumPath(), args: chromiumArgs } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
