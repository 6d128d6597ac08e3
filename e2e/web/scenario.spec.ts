import { test, type Browser } from '@playwright/test';
import { webLauncher } from '../fixtures/apps.js';
import { defineScenario } from '../scenario.js';

/** The scenario in Debian's Chromium, against the web twin of each person's terminal. */
let browser: Browser;
test.beforeAll(({ browser: b }) => {
  browser = b;
});
defineScenario(() => webLauncher(browser));
