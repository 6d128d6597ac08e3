import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page, type TestInfo } from '@playwright/test';
import type { App, Launcher } from './fixtures/apps.js';
import { contact, sha256 } from './fixtures/helpers.js';
import { World } from './fixtures/world.js';

/**
 * What a person does, end to end, with real processes: a server with a policy, alice joining through
 * the UI with an invite link, bob (and carol, hidden from alice) already joined. Each host (web twin,
 * Electron) runs this same scenario with its own launcher. Steps share the world, in order.
 */

async function shot(page: Page, info: TestInfo, name: string): Promise<void> {
  const path = info.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await info.attach(name, { path, contentType: 'image/png' });
}

const channelState = (page: Page) => page.getByTestId('channel-state');

/** The download folder as the person's settings show it. */
async function downloadsOf(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Settings' }).click();
  const dir = await page.getByLabel('Download folder').inputValue();
  await page.getByRole('button', { name: 'Channel' }).click();
  return dir;
}

export function defineScenario(launcher: () => Launcher): void {
  test.describe.serial('alice, bob and carol', () => {
    let world: World;
    let alice: App;
    let bob: App;
    let carol: App | undefined;

    test.beforeAll(async () => {
      world = await World.create();
      world.allow('alice', 'bob');
      world.admin('user', 'add', 'carol');
      world.allow('carol', 'bob'); // carol exists and is online, but alice may not reach her
      world.enrol('bob');
      world.enrol('carol');
      bob = await launcher()(world, 'bob');
      carol = await launcher()(world, 'carol');
    });
    test.afterAll(async () => {
      await Promise.all([alice?.close(), bob?.close(), carol?.close()]);
      await world?.close();
    });

    test('alice joins with an invite link through the UI, the CA fingerprint shown', async ({}, info) => {
      alice = await launcher()(world, 'alice');
      const { page } = alice;
      const link = world.invite('alice');
      const pin = decodeURIComponent(/[?&]ca=([^&]+)/.exec(link)![1]!);
      await page.getByLabel('Invite link').fill(link);
      await expect(page.getByTestId('join-check')).toContainText(pin);
      await shot(page, info, 'join');
      await page.getByRole('button', { name: 'Join' }).click();
      await expect(page.getByTestId('connection-status')).toHaveAttribute('data-state', 'registered');
    });

    test('she sees bob online and carol not at all', async ({}, info) => {
      const { page } = alice;
      await expect(contact(page, 'bob')).toContainText(/online/i);
      await expect(contact(page, 'carol')).toHaveCount(0);
      await expect(page.getByText('carol')).toHaveCount(0);
      await shot(page, info, 'contacts');
    });

    test('she clicks bob, bob accepts, both show "secure — verified" and the same code', async ({}, info) => {
      await contact(alice.page, 'bob').click();
      const request = bob.page.getByRole('group', { name: /Channel request from alice/ });
      await expect(request).toBeVisible();
      await shot(bob.page, info, 'incoming-request');
      await request.getByRole('button', { name: 'Accept' }).click();
      for (const { page } of [alice, bob]) await expect(channelState(page)).toHaveText(/Secure — verified/);
      const codeA = await alice.page.getByTestId('verification-code').textContent();
      const codeB = await bob.page.getByTestId('verification-code').textContent();
      expect(codeA?.trim()).toMatch(/\d/);
      expect(codeA?.trim()).toBe(codeB?.trim());
      await expect(alice.page.getByTestId('channel-peer')).toContainText('sip:bob@e2e.tsunagu.test');
      await expect(bob.page.getByTestId('channel-peer')).toContainText('sip:alice@e2e.tsunagu.test');
      for (const { page } of [alice, bob])
        await expect(page.getByTestId('channel-issuer')).toHaveText(
          'issued by e2e.tsunagu.test’s certificate authority',
        );
      // Route-Security: alice, then the server; every hop vouched for, the same path on both ends.
      for (const { page } of [alice, bob]) {
        const path = page.getByTestId('channel-path');
        await expect(path).toHaveAttribute('data-secure', 'true');
        await expect(path).toHaveText(/^Path: \S+ → \S+ \(secure\)$/);
      }
      await shot(alice.page, info, 'secure-channel');
    });

    test('alice sends a 50 MB file and a folder; both sides reach the end; bob has identical bytes', async ({}, info) => {
      const src = join(world.dir, 'alice-files');
      mkdirSync(join(src, 'album', 'raw'), { recursive: true });
      const big = join(src, 'big.bin');
      writeFileSync(big, randomBytes(50 * 1024 * 1024));
      writeFileSync(join(src, 'album', 'a.txt'), 'first photo notes');
      writeFileSync(join(src, 'album', 'raw', 'b.dat'), Buffer.alloc(300_000, 3));
      const expected = {
        'big.bin': big,
        'album/a.txt': join(src, 'album', 'a.txt'),
        'album/raw/b.dat': join(src, 'album', 'raw', 'b.dat'),
      };

      const bobDownloads = await downloadsOf(bob.page);
      await alice.page.getByTestId('file-input').setInputFiles(big);
      await alice.page.getByTestId('folder-input').setInputFiles(join(src, 'album'));

      // bob accepted the channel by hand, so he accepts each offered file too.
      const rows = bob.page.getByTestId('transfer-row');
      await expect(rows).toHaveCount(3, { timeout: 30_000 });
      for (const name of Object.keys(expected)) {
        await bob.page.getByRole('button', { name: `Accept ${name}` }).click();
      }
      for (const { page } of [alice, bob]) {
        const all = page.getByTestId('transfer-row');
        await expect(all).toHaveCount(3);
        for (let i = 0; i < 3; i++) {
          await expect(all.nth(i)).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
          await expect(all.nth(i).getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
        }
      }
      await shot(alice.page, info, 'transfers-sender');
      await shot(bob.page, info, 'transfers-receiver');
      for (const [name, file] of Object.entries(expected)) {
        expect(sha256(join(bobDownloads, name)), name).toBe(sha256(file));
      }
    });

    test('history and settings', async ({}, info) => {
      const { page } = bob;
      await page.getByRole('button', { name: 'History' }).click();
      await expect(page.getByTestId('history-row')).toHaveCount(3);
      await shot(page, info, 'history');
      await page.getByRole('button', { name: 'Settings' }).click();
      await expect(page.getByTestId('device-info')).toContainText('sip:bob@e2e.tsunagu.test');
      // Joined, registered, and given a certificate by the deployment CA without anyone asking.
      await expect(page.getByTestId('certificate-state')).toHaveAttribute('data-state', 'ca-issued');
      await shot(page, info, 'settings');
      await page.getByRole('radio', { name: 'Dark' }).check();
      await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
      await shot(page, info, 'settings-dark');
      await page.getByRole('radio', { name: 'System' }).check();
      await page.getByRole('button', { name: 'Channel' }).click();
    });

    test('a declined request says declined (opened from the keyboard)', async () => {
      await alice.page.getByRole('button', { name: 'Close channel' }).click();
      await expect(channelState(alice.page)).not.toHaveText(/Secure/);
      await contact(alice.page, 'bob').focus();
      await alice.page.keyboard.press('Enter');
      const request = bob.page.getByRole('group', { name: /Channel request from alice/ });
      await request.getByRole('button', { name: 'Decline' }).click();
      await expect(channelState(alice.page)).toHaveText(/declined/i);
    });

    test('the server restarted mid-session: "reconnecting", then registered again by itself', async ({}, info) => {
      const status = alice.page.getByTestId('connection-status');
      await world.stopServer();
      await expect(status).toHaveAttribute('data-state', 'reconnecting');
      await shot(alice.page, info, 'reconnecting');
      await world.startServer();
      await expect(status).toHaveAttribute('data-state', 'registered', { timeout: 60_000 });
      await expect(contact(alice.page, 'bob')).toContainText(/online/i, { timeout: 30_000 });
    });

    test('"start a server on this computer": a trial server, joined as its first user', async ({}, info) => {
      const dave = await launcher()(world, 'dave');
      try {
        await dave.page.getByRole('button', { name: 'Start a server on this computer' }).click();
        await expect(dave.page.getByTestId('connection-status')).toHaveAttribute('data-state', 'registered');
        await expect(dave.page.getByText(/No contacts/)).toBeVisible();
        await shot(dave.page, info, 'local-server');
      } finally {
        await dave.close();
      }
    });

    test('bob offline shows offline, and a click says so', async () => {
      await bob.close();
      await expect(contact(alice.page, 'bob')).toContainText(/offline/i, { timeout: 30_000 });
      await contact(alice.page, 'bob').click();
      await expect(channelState(alice.page)).toHaveText(/offline/i);
    });
  });
}
