/**
 * The Electron shell, end to end: the packaged-style app (apps/desktop/out, built with `npm run build
 * -w @tsunagu/desktop`) started by Playwright. Needs an Electron binary, which cannot be downloaded on
 * the project's machines: point ELECTRON_OVERRIDE_DIST_PATH at an unpacked Electron dist to run it;
 * without one the test reports itself skipped. (Never `require('electron')` here: it would try to
 * download the binary.) Everything the UI does is covered by the Chromium project against the daemon.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { _electron as electron, expect, test } from '@playwright/test';
import { APP_DIR, electronExecutable, NO_ELECTRON } from '../fixtures/apps.js';

const exe = electronExecutable();
const BRIDGE_KEYS = ['call', 'host', 'onJoinLink', 'pathForFile', 'pickFiles', 'showInFolder', 'subscribe'];

test.skip(!exe, NO_ELECTRON);

test('the shell loads the app from app://tsunagu, sandboxed, with only the typed bridge', async () => {
  expect(
    existsSync(join(APP_DIR, 'out/main/index.js')),
    'build the app first: npm run build -w @tsunagu/desktop',
  ).toBe(true);
  const profile = mkdtempSync(join(tmpdir(), 'tsunagu-electron-'));
  const app = await electron.launch({
    executablePath: exe,
    // The app folder, so Electron reads its package.json (name, "type": "module", main: out/main/index.js).
    // Chromium refuses to start as root without --no-sandbox (containers); the renderer sandbox stays on.
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), APP_DIR],
    env: { ...process.env, TSUNAGU_PROFILE: profile },
  });
  try {
    const page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
    expect(page.url()).toMatch(/^app:\/\/tsunagu\//);

    const surface = await page.evaluate(() => ({
      bridge: Object.keys((window as unknown as { tsunagu: object }).tsunagu).sort(),
      host: (window as unknown as { tsunagu: { host: string } }).tsunagu.host,
      process: typeof (globalThis as { process?: unknown }).process,
      require: typeof (globalThis as { require?: unknown }).require,
      module: typeof (globalThis as { module?: unknown }).module,
    }));
    expect(surface).toEqual({
      bridge: BRIDGE_KEYS,
      host: 'electron',
      process: 'undefined',
      require: 'undefined',
      module: 'undefined',
    });

    // The CSP header from the app:// handler forbids eval.
    const evalBlocked = await page.evaluate(() => {
      try {
        return (0, eval)('1') !== 1;
      } catch {
        return true;
      }
    });
    expect(evalBlocked).toBe(true);

    // A fresh profile has not joined a server: the join screen.
    await expect(page.getByRole('heading', { name: /join with an invite link/i })).toBeVisible();
    await expect(page.getByLabel(/invite link/i)).toBeVisible();
  } finally {
    await app.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
