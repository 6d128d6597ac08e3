import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './fixtures/chromium.js';

/**
 * Two projects, one scenario: `web` drives the renderer in Debian's Chromium against real daemons
 * (`tsunagu daemon --gui`); `electron` drives the same scenario in the Electron shell and skips itself,
 * with the reason, when no Electron binary is present (ELECTRON_OVERRIDE_DIST_PATH). Playwright's own
 * browser download cannot run here, hence `executablePath`.
 */
export default defineConfig({
  testDir: '.',
  outputDir: '../test-results/e2e',
  timeout: 120_000,
  expect: { timeout: 15_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: process.env.E2E_JSON ?? '../test-results/e2e.json' }]],
  use: { trace: 'retain-on-failure', screenshot: 'only-on-failure' },
  projects: [
    {
      name: 'web',
      testMatch: ['web/**/*.spec.ts'],
      use: {
        browserName: 'chromium',
        headless: true,
        launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
      },
    },
    { name: 'electron', testMatch: ['electron/**/*.spec.ts'] },
  ],
});
