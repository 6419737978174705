import { defineConfig } from '@playwright/test';
import { chromiumArgs, chromiumPath } from './tools/chromium';

// The newcomer smoke (e2e/smoke): runs against a server already started by the README's first
// command, whose URL `.ci/run` passes as SMOKE_URL.
const url = process.env.SMOKE_URL;
if (!url) throw new Error('SMOKE_URL must name the running app, e.g. SMOKE_URL=http://127.0.0.1:4173/');

export default defineConfig({
  testDir: 'e2e/smoke',
  timeout: 360_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: url,
    browserName: 'chromium',
    launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
  },
});
