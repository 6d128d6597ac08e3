import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatJoinLink } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { startTestServer, TEST_PASSWORD, type TestServer } from '@tsunagu/server/testing';
import { WebSocket } from 'ws';
import { resolveProfileDir } from './profile-dir.js';

const main = new URL('./main.ts', import.meta.url).pathname;
let t: TestServer;
let dir: string;

before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  t.addUser('bob');
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'bob');
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-cli-'));
});
after(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=tsunagu-source', '--import', 'tsx', main, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TSUNAGU_PROFILE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const link = (user: string, token: string, ca = t.server.caFingerprint) =>
  formatJoinLink({
    server: `127.0.0.1:${t.sip.port}`,
    https: `127.0.0.1:${t.https.port}`,
    caFingerprint: ca,
    user,
    token,
    domain: t.domain,
  });

test('enroll with an invite link, then status and contacts', async () => {
  t.admin.users.add('alice', { realm: t.domain });
  const { token } = t.admin.invites.create('alice', 60_000);
  const profile = join(dir, 'alice');
  const enrolled = await cli(['enroll', link('alice', token), '--profile', profile]);
  assert.equal(enrolled.code, 0, enrolled.stderr);
  assert.match(enrolled.stdout, new RegExp(`Joined as sip:alice@${t.domain.replace('.', '\\.')}`));
  assert.equal((await stat(join(profile, 'key.pem'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(profile, 'secret.json'))).mode & 0o777, 0o600);

  const again = await cli(['enroll', link('alice', token), '--profile', join(dir, 'alice2')]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^tsunagu: .*(invalid|used|expired)/);
  assert.doesNotMatch(again.stderr, /\n\s+at /, 'no stack trace');

  const status = await cli(['status', '--json', '--profile', profile]);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { connection: { state: string }; contacts: { user: string }[] };
  assert.equal(s.connection.state, 'registered');
  assert.deepEqual(
    s.contacts.map((c) => c.user),
    ['bob'],
  );

  const contacts = await cli(['contacts', '--profile', profile]);
  assert.match(contacts.stdout, /○ bob\s+offline/);
});

test("a link whose CA fingerprint is not the server's is refused, and nothing is stored", async () => {
  t.admin.users.add('mallory', { realm: t.domain });
  const { token } = t.admin.invites.create('mallory', 60_000);
  const wrong = 'sha256:' + Array.from({ length: 32 }, () => 'AB').join(':');
  const r = await cli(['enroll', link('mallory', token, wrong), '--profile', join(dir, 'mallory')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /pinned|interception/i);
  await assert.rejects(stat(join(dir, 'mallory', 'secret.json')));
});

test('login with a password; commands before joining say what to do', async () => {
  t.addUser('carol');
  const profile = join(dir, 'carol');
  const none = await cli(['status', '--profile', profile]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /not (joined|found|exist)|enroll/i);
  const r = await cli(
    [
      'login',
      '--server',
      `127.0.0.1:${t.sip.port}`,
      '--https',
      `127.0.0.1:${t.https.port}`,
      '--ca-fingerprint',
      t.server.caFingerprint,
      '--user',
      'carol',
      '--password-stdin',
      '--profile',
      profile,
    ],
    `${TEST_PASSWORD('carol')}\n`,
  );
  assert.equal(r.code, 0, r.stderr);
  const status = await cli(['status', '--json', '--profile', profile]);
  assert.equal(JSON.parse(status.stdout).connection.state, 'registered');
});

test('the profile folder defaults per platform', () => {
  assert.equal(resolveProfileDir('/x/p'), '/x/p');
  assert.equal(resolveProfileDir(undefined, { TSUNAGU_PROFILE: '/y' }), '/y');
  assert.equal(resolveProfileDir(undefined, { XDG_CONFIG_HOME: '/cfg' }, 'linux'), '/cfg/tsunagu');
  assert.equal(
    resolveProfileDir(undefined, { APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, 'win32').endsWith('Tsunagu'),
    true,
  );
  assert.match(resolveProfileDir(undefined, {}, 'darwin'), /Library\/Application Support\/Tsunagu$/);
});

test('send to a daemon: a file and a folder arrive verified, and send exits 0 only then', async () => {
  t.admin.users.add('gina', { realm: t.domain });
  t.admin.users.add('hugo', { realm: t.domain });
  addRule(t.admin, { domain: t.domain }, 'allow', 'gina', 'hugo');
  const enrol = async (user: string) => {
    const { token } = t.admin.invites.create(user, 60_000);
    const r = await cli(['enroll', link(user, token), '--profile', join(dir, user)]);
    assert.equal(r.code, 0, r.stderr);
  };
  await enrol('gina');
  await enrol('hugo');
  const downloads = join(dir, 'hugo-downloads');
  const daemon = spawn(
    process.execPath,
    [
      '--conditions=tsunagu-source',
      '--import',
      'tsx',
      main,
      'daemon',
      '--profile',
      join(dir, 'hugo'),
      '--downloads',
      downloads,
      '--accept-from',
      'gina',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    let log = '';
    await new Promise<void>((resolve, reject) => {
      daemon.stdout.on('data', (c: Buffer) => {
        log += c.toString();
        if (log.includes('connection: registered')) resolve();
      });
      daemon.once('exit', () => reject(new Error(`daemon exited: ${log}`)));
    });
    const src = join(dir, 'gina-files');
    await mkdir(join(src, 'photos'), { recursive: true });
    await writeFile(join(src, 'notes.txt'), 'for hugo');
    await writeFile(join(src, 'photos', 'p1.jpg'), Buffer.alloc(300_000, 7));
    const sent = await cli([
      'send',
      'hugo',
      join(src, 'notes.txt'),
      join(src, 'photos'),
      '--profile',
      join(dir, 'gina'),
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(
      sent.stderr,
      /secure — verified with sip:hugo@.*; certificate issued by example\.test's CA\n/,
    );
    // Route-Security: gina's address, then the server's, every hop vouched for; hugo's daemon says so too.
    assert.match(sent.stderr, /\npath: 127\.0\.0\.1 → 127\.0\.0\.1 \(secure\)\n/);
    assert.match(
      log,
      /: secure; path: 127\.0\.0\.1 → 127\.0\.0\.1 \(secure\); certificate issued by example\.test's CA\n/,
    );
    assert.match(sent.stderr, /✓ notes\.txt .*verified/);
    assert.equal(await readFile(join(downloads, 'notes.txt'), 'utf8'), 'for hugo');
    assert.deepEqual(await readFile(join(downloads, 'photos', 'p1.jpg')), Buffer.alloc(300_000, 7));

    // One line per file's end in the daemon's log (its end comes as a state and an end event).
    await new Promise<void>((resolve) => {
      const seen = () => log.includes('file notes.txt (receive): done');
      if (seen()) resolve();
      else daemon.stdout.on('data', () => seen() && resolve());
    });
    const history = await cli(['history', '--json', '--profile', join(dir, 'gina')]);
    const entries = JSON.parse(history.stdout) as {
      direction: string;
      name: string;
      state: string;
      peer: string;
    }[];
    assert.equal(log.match(/file notes\.txt \(receive\): done/g)?.length, 1, log);
    assert.deepEqual(entries.map((e) => `${e.direction} ${e.name} ${e.state}`).sort(), [
      'send notes.txt done',
      'send photos/p1.jpg done',
    ]);
    assert.ok(entries.every((e) => e.peer === `sip:hugo@${t.domain}`));

    // hugo's daemon serves its control endpoint: only with the token, never to a browser page.
    const infoFile = join(dir, 'hugo', 'daemon.json');
    assert.equal((await stat(infoFile)).mode & 0o777, 0o600);
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as { url: string; token: string };
    assert.match(info.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    const attempt = (headers: Record<string, string>) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(info.url, { headers });
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
        ws.once('error', () => resolve('error'));
      });
    assert.equal(await attempt({}), '401');
    assert.equal(await attempt({ authorization: 'Bearer wrong' }), '401');
    assert.equal(
      await attempt({ authorization: `Bearer ${info.token}`, origin: 'https://evil.example' }),
      '401',
    );
    assert.equal(await attempt({ authorization: `Bearer ${info.token}` }), 'open');
    const viaDaemon = await cli(['status', '--json', '--profile', join(dir, 'hugo')]);
    assert.equal(viaDaemon.code, 0, viaDaemon.stderr);
    const snap = JSON.parse(viaDaemon.stdout) as { connection: { state: string } };
    assert.equal(snap.connection.state, 'registered', 'the daemon answered for the running terminal');

    const missing = await cli(['send', 'hugo', join(src, 'nope.txt'), '--profile', join(dir, 'gina')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read/);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
  await assert.rejects(
    stat(join(dir, 'hugo', 'daemon.json')),
    'the daemon removes its control file when it stops',
  );
});
