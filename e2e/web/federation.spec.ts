import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Browser } from '@playwright/test';
import { webLauncher, type App } from '../fixtures/apps.js';
import { contact, sha256 } from '../fixtures/helpers.js';
import { World } from '../fixtures/world.js';

/**
 * Two organisations, federated (the seed's Fig. 3 on loopback): alice of a.e2e.tsunagu.test and bob of
 * b.e2e.tsunagu.test, each on their own server, the two servers peered with `peer add` and each other's
 * CA fingerprint. Both policies let them reach each other. In Debian's Chromium against their daemons'
 * web GUIs: alice sees bob in her contact list, opens a channel to him, both see the three-hop path and
 * whose CA checked the other's certificate, and a file crosses.
 */

const A = 'a.e2e.tsunagu.test';
const B = 'b.e2e.tsunagu.test';

test.describe.serial('alice and bob of two federated domains', () => {
  let browser: Browser;
  let a: World;
  let b: World;
  let alice: App;
  let bob: App;

  test.beforeAll(async ({ browser: br }) => {
    browser = br;
    [a, b] = await Promise.all([World.create(A), World.create(B)]);
    a.peer(b);
    b.peer(a);
    // Each admin lets their own person reach the other domain, and whom of theirs the other domain may reach.
    a.admin('policy', 'allow', 'alice', `domain:${B}`);
    a.admin('policy', 'allow', `domain:${B}`, 'alice');
    b.admin('policy', 'allow', 'bob', `domain:${A}`);
    b.admin('policy', 'allow', `domain:${A}`, 'bob');
    a.enrol('alice');
    b.enrol('bob');
    [alice, bob] = await Promise.all([webLauncher(browser)(a, 'alice'), webLauncher(browser)(b, 'bob')]);
  });
  test.afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close()]);
    await Promise.all([a?.close(), b?.close()]);
  });

  test('each sees the other, from the other domain, online and by full address', async () => {
    await expect(contact(alice.page, `bob@${B}`)).toContainText(/online/i);
    await expect(contact(bob.page, `alice@${A}`)).toContainText(/online/i);
  });

  test('alice opens a channel to bob@b: three secure hops, each certificate checked against its own domain’s CA', async () => {
    await contact(alice.page, `bob@${B}`).click();
    const request = bob.page.getByRole('group', { name: /Channel request from alice/ });
    await expect(request).toBeVisible();
    await request.getByRole('button', { name: 'Accept' }).click();
    for (const { page } of [alice, bob])
      await expect(page.getByTestId('channel-state')).toHaveText(/Secure — verified/);
    await expect(alice.page.getByTestId('channel-peer')).toHaveText(`sip:bob@${B}`);
    await expect(bob.page.getByTestId('channel-peer')).toHaveText(`sip:alice@${A}`);
    await expect(alice.page.getByTestId('channel-issuer')).toHaveText(
      `issued by ${B}’s certificate authority`,
    );
    await expect(bob.page.getByTestId('channel-issuer')).toHaveText(`issued by ${A}’s certificate authority`);
    const codes = await Promise.all(
      [alice, bob].map(({ page }) => page.getByTestId('verification-code').textContent()),
    );
    expect(codes[0]?.trim()).toMatch(/\d/);
    expect(codes[0]).toBe(codes[1]);
    // alice, server A, server B: all on 127.0.0.1 here (the netns test gives each its own address).
    for (const { page } of [alice, bob]) {
      const path = page.getByTestId('channel-path');
      await expect(path).toHaveAttribute('data-secure', 'true');
      await expect(path).toHaveText(/^Path: \S+ → \S+ → \S+ \(secure\)$/);
    }
  });

  test('a file goes from alice to bob across both servers, byte for byte', async () => {
    const src = join(a.dir, 'alice-files');
    mkdirSync(src, { recursive: true });
    const file = join(src, 'across.bin');
    writeFileSync(file, randomBytes(2 * 1024 * 1024));
    await alice.page.getByTestId('file-input').setInputFiles(file);
    await bob.page.getByRole('button', { name: 'Accept across.bin' }).click();
    for (const { page } of [alice, bob]) {
      const row = page.getByTestId('transfer-row');
      await expect(row).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
      await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
    }
    expect(sha256(join(b.downloadsOf('bob'), 'across.bin'))).toBe(sha256(file));
  });
});
