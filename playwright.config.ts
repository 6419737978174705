import { defineConfig } from '@playwright/test';
import { chromiumArgs, chromiumPath } from './tools/chromium';

const port = Number(process.env.E2E_PORT) || 4174;

export default defineConfig({
  testDir: 'e2e',
  // The newcomer smoke runs against the README's own server (playwright.smoke.config.ts).
  testIgnore: 'smoke/**',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  // Two cores: specs share the CPU-bound software GPU, so they run one at a time.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: 'chromium',
    launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
  },
  webServer: {
    // One way to serve: the README's `npm start`, on a test build (fault injection hooks compiled in).
    command: 'npm start',
    env: { PORT: String(port), VITE_TEST_HOOKS: '1' },
    url: `http://127.0.0.1:${port}`,
    // Never a server left over from another build: it could be stale or lack the hooks.
    reuseExistingServer: false,
    timeout: 240_000,
  },
});
