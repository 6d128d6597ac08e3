import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextEvent } from './events.js';
import { TerminalHost } from './host.js';
import { LOOPBACK } from './testing.js';

/** "Start a server on this computer": a real embedded server, joined, and resumed after a restart. */

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-host-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('a local server is started, joined as its first user, and comes back with the host', async () => {
  const profileDir = join(dir, 'me');
  const host = await TerminalHost.open({ profileDir, terminal: LOOPBACK });
  try {
    assert.equal(host.snapshot().account.localServer, false);
    const registered = nextEvent(host, (e) => e.type === 'connection' && e.data.state === 'registered');
    const r = await host.call('account.startLocalServer', {});
    assert.match(r.aor, /^sip:[a-z0-9._-]+@[a-z0-9-]+\.tsunagu\.test$/);
    assert.match(r.server, /^127\.0\.0\.1:\d+$/);
    await registered;
    const s = host.snapshot();
    assert.equal(s.account.localServer, true);
    assert.equal(s.account.device?.aor, r.aor);
    assert.equal((await stat(join(profileDir, 'local-server', 'ca', 'ca.key'))).mode & 0o777, 0o600);
    await assert.rejects(host.call('account.startLocalServer', {}), /already joined/);
  } finally {
    await host.stop();
  }

  // Restarted, the host brings its server back on the same ports and registers again by itself.
  const again = await TerminalHost.open({ profileDir, terminal: LOOPBACK });
  try {
    const s = again.snapshot();
    assert.equal(s.account.localServer, true);
    if (s.connection.state !== 'registered') {
      await nextEvent(again, (e) => e.type === 'connection' && e.data.state === 'registered');
    }
  } finally {
    await again.stop();
  }
});

test('a host that has not joined answers every terminal command with a clear not-joined error', async () => {
  const host = await TerminalHost.open({ profileDir: join(dir, 'new') });
  try {
    const s = host.snapshot();
    assert.equal(s.connection.state, 'unenrolled');
    assert.deepEqual(s.contacts, []);
    await assert.rejects(host.call('channel.open', { user: 'bob' }), /not joined a server yet/);
    await assert.rejects(
      host.call('account.join', { link: 'tsunagu://join?v=1&server=127.0.0.1:1' }),
      (e: Error & { code?: string }) => e.code === 'join-failed',
    );
    assert.equal(host.snapshot().connection.state, 'unenrolled', 'a failed join leaves it unjoined');
  } finally {
    await host.stop();
  }
});
