import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { request } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { ChannelView, Snapshot, TerminalEvent } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { TerminalHost } from '../core/host.js';
import { nextEvent } from '../core/events.js';
import { inviteLink, LOOPBACK } from '../core/testing.js';
import { serveGui, type GuiServer } from './gui.js';

/**
 * The web GUI as a browser meets it: a host that has not joined yet, joined through the bridge with a
 * real invite link; static files behind Host and path checks; the WebSocket behind Origin and token;
 * uploads staged, sent to a real peer and cleaned up.
 */

let t: TestServer;
let dir: string;
let root: string;
const hosts: TerminalHost[] = [];
const guis: GuiServer[] = [];

before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  addRule(t.admin, { domain: t.domain }, 'allow', 'wanda', 'xavi');
  addRule(t.admin, { domain: t.domain }, 'allow', 'xavi', 'wanda');
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-gui-'));
  root = join(dir, 'renderer');
  await mkdir(join(root, 'assets'), { recursive: true });
  await writeFile(join(root, 'index.html'), '<!doctype html><title>Tsunagu</title>');
  await writeFile(join(root, 'assets', 'app.js'), 'console.log(1)');
  await writeFile(join(dir, 'secret.txt'), 'outside the root');
  await symlink(join(dir, 'secret.txt'), join(root, 'assets', 'link.txt'));
});
after(async () => {
  await Promise.all(guis.map((g) => g.close()));
  await Promise.all(hosts.map((h) => h.stop()));
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(
  user: string,
  acceptFrom: string[] = [],
): Promise<{ host: TerminalHost; gui: GuiServer }> {
  const profileDir = join(dir, user);
  const host = await TerminalHost.open({
    profileDir,
    downloadDir: join(dir, `${user}-downloads`),
    acceptFrom,
    autoAcceptFiles: true,
    terminal: LOOPBACK,
  });
  hosts.push(host);
  const gui = await serveGui(host, { root, profileDir, host: '127.0.0.1', port: 0 });
  guis.push(gui);
  return { host, gui };
}

function http(
  gui: GuiServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(gui.origin);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { host: url.host, ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Resolves when the host's channel reaches `phase` (already there, or by a later event); rejects with
 * the reason when the channel ends first, or after `ms`.
 */
function phaseOf(host: TerminalHost, channelId: string, phase: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`channel ${channelId}: no ${phase} within ${ms} ms`)),
      ms,
    );
    const off = host.subscribe((e) => e.type === 'channel' && check(e.data));
    check(host.snapshot().channels.find((c) => c.id === channelId));
    function check(c: ChannelView | undefined): void {
      if (c?.id !== channelId) return;
      if (c.phase === phase) finish();
      else if (c.phase === 'failed' || c.phase === 'declined' || c.phase === 'ended')
        finish(new Error(`channel ${channelId} ${c.phase} before ${phase}: ${c.reason ?? ''}`));
    }
    function finish(err?: Error): void {
      clearTimeout(timer);
      off();
      if (err) reject(err);
      else resolve();
    }
  });
}

/** Resolves once `name` is gone from `folder` (watched, not polled), or after `ms` to let the caller assert. */
function removed(folder: string, name: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const watcher = watch(folder, () => void check());
    void check();
    async function check(): Promise<void> {
      if (!(await readdir(folder)).includes(name)) done();
    }
    function done(): void {
      clearTimeout(timer);
      watcher.close();
      resolve();
    }
  });
}

let wanda: { host: TerminalHost; gui: GuiServer };

const tokenOf = (gui: GuiServer) => new URL(gui.link).hash.replace('#token=', '');

/** A bridge client as the page is one: Origin of the GUI, the token as the first message. */
async function bridge(gui: GuiServer, o: { origin?: string; token?: string } = {}) {
  const ws = new WebSocket(gui.origin.replace('http', 'ws') + 'bridge', {
    origin: o.origin ?? gui.origin.replace(/\/$/, ''),
  });
  const events: TerminalEvent[] = [];
  const replies = new Map<number, (m: { ok: boolean; result?: unknown; error?: { code: string } }) => void>();
  let authed: (ok: boolean) => void = () => undefined;
  const auth = new Promise<boolean>((r) => (authed = r));
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { auth?: string; event?: TerminalEvent; id?: number };
    if (m.auth === 'ok') authed(true);
    else if (m.event) events.push(m.event);
    else if (typeof m.id === 'number') replies.get(m.id)?.(m as never);
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => (authed(false), r(code))));
  const opened = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_q, res) => resolve(String(res.statusCode)));
    ws.once('error', () => resolve('error'));
  });
  if (opened === 'open') ws.send(JSON.stringify({ auth: o.token ?? tokenOf(gui) }));
  let id = 0;
  return {
    opened,
    auth,
    closed,
    events,
    call: (command: string, params: object = {}) =>
      new Promise<{ ok: boolean; result?: unknown; error?: { code: string; message?: string } }>(
        (resolve) => {
          const n = ++id;
          replies.set(n, resolve);
          ws.send(JSON.stringify({ id: n, command, params }));
        },
      ),
    close: () => ws.close(),
  };
}

test('static files: the bundle with a CSP, nothing outside it, nothing for another Host', async () => {
  const { gui } = await open('static');
  const index = await http(gui, 'GET', '/');
  assert.equal(index.status, 200);
  assert.match(index.body, /<title>Tsunagu/);
  const csp = String(index.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${new URL(gui.origin).port}`));
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  const js = await http(gui, 'GET', '/assets/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);

  for (const path of [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/assets/link.txt',
  ]) {
    const r = await http(gui, 'GET', path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body, /outside the root/);
  }
  assert.equal((await http(gui, 'GET', '/', { host: 'evil.example:80' })).status, 421, 'DNS rebinding');
  assert.equal((await http(gui, 'POST', '/')).status, 405);
});

test('the bridge: only the GUI origin with the token; an unjoined host joins with a real invite link', async () => {
  wanda = await open('wanda');
  const { gui, host } = wanda;
  assert.equal((await bridge(gui, { origin: 'http://evil.example' })).opened, '401');
  assert.equal((await bridge(gui, { origin: '' })).opened, '401', 'no Origin: not a page of ours');
  const wrong = await bridge(gui, { token: 'x'.repeat(43) });
  assert.equal(await wrong.auth, false);
  assert.equal(await wrong.closed, 4401);

  const page = await bridge(gui);
  assert.equal(await page.auth, true);
  const first = await page.call('snapshot');
  const snap = first.result as Snapshot;
  assert.equal(snap.connection.state, 'unenrolled');
  assert.equal(snap.account.device, undefined);
  assert.equal((await page.call('channel.open', { user: 'xavi' })).error?.code, 'not-joined');

  // A link whose CA pin does not match the server: refused, and the profile stays unjoined.
  const good = inviteLink(t, 'wanda');
  const forged = good.replace(
    /ca=sha256(%3A|:)[0-9A-F]{2}/i,
    (m) => m.slice(0, -2) + (m.endsWith('00') ? '11' : '00'),
  );
  assert.notEqual(forged, good);
  const refused = await page.call('account.join', { link: forged });
  assert.equal(refused.ok, false);
  assert.equal(refused.error?.code, 'join-failed');
  assert.match(refused.error?.message ?? '', /CA|fingerprint/i);
  assert.equal(host.snapshot().connection.state, 'unenrolled');

  const registered = nextEvent(host, (e) => e.type === 'connection' && e.data.state === 'registered');
  const joined = await page.call('account.join', { link: good });
  assert.equal(joined.ok, true, JSON.stringify(joined.error));
  assert.equal((joined.result as { aor: string }).aor, `sip:wanda@${t.domain}`);
  await registered;
  const s = host.snapshot();
  assert.equal(s.account.device?.aor, `sip:wanda@${t.domain}`);
  assert.match(s.account.device?.fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.ok(Date.parse(s.account.device?.certificateExpires ?? '') > Date.now());
  // The page saw the same stream, numbered without a gap.
  const seqs = page.events.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => seqs[0]! + i),
  );
  assert.ok(page.events.some((e) => e.type === 'account' && e.data.device));
  assert.equal((await page.call('account.join', { link: good })).error?.code, 'already-joined');

  const updated = await page.call('settings.update', {
    acceptFrom: ['xavi'],
    downloadDir: join(dir, 'w-dl'),
  });
  assert.deepEqual(updated.result, { acceptFrom: ['xavi'], downloadDir: join(dir, 'w-dl') });
  const saved = JSON.parse(await readFile(join(dir, 'wanda', 'profile.json'), 'utf8')) as {
    settings: { acceptFrom: string[] };
  };
  assert.deepEqual(saved.settings.acceptFrom, ['xavi'], 'settings are kept in the profile');
  assert.equal((await page.call('settings.update', { acceptFrom: ['../x y'] })).error?.code, 'bad-params');
  page.close();
});

test('uploads: bearer only, names neutralised, no overwrite; sent to a peer and the staged copy removed', async () => {
  const { gui } = wanda;
  const xavi = await open('xavi', ['wanda']);
  const xaviJoined = nextEvent(xavi.host, (e) => e.type === 'connection' && e.data.state === 'registered');
  const xp = await bridge(xavi.gui);
  await xp.auth;
  assert.equal((await xp.call('account.join', { link: inviteLink(t, 'xavi') })).ok, true);
  await xaviJoined;
  // xavi was created just now: the running server must have reloaded its policy before wanda calls.
  await t.reachable('wanda', 'xavi');

  const auth = { authorization: `Bearer ${tokenOf(gui)}` };
  assert.equal((await http(gui, 'POST', '/uploads')).status, 401);
  assert.equal((await http(gui, 'POST', '/uploads', { authorization: 'Bearer nope' })).status, 401);
  assert.equal((await http(gui, 'POST', '/uploads', { ...auth, origin: 'http://evil.example' })).status, 401);
  const created = await http(gui, 'POST', '/uploads', auth);
  assert.equal(created.status, 201);
  const { batch, dir: staged } = JSON.parse(created.body) as { batch: string; dir: string };

  const payload = Buffer.alloc(2_000_000, 9);
  assert.equal((await http(gui, 'PUT', `/uploads/${batch}/report.bin`, auth, payload)).status, 201);
  assert.equal((await http(gui, 'PUT', `/uploads/${batch}/docs/a.txt`, auth, 'A')).status, 201);
  const again = await http(gui, 'PUT', `/uploads/${batch}/report.bin`, auth, 'other');
  assert.equal(again.status, 409, 'an uploaded file is never overwritten');
  const sneaky = await http(gui, 'PUT', `/uploads/${batch}/..%2F..%2Fescaped.txt`, auth, 'x');
  assert.equal(sneaky.status, 201);
  assert.ok((JSON.parse(sneaky.body) as { path: string }).path.startsWith(staged + '/'));
  await assert.rejects(stat(join(dir, 'escaped.txt')));
  assert.equal((await http(gui, 'PUT', '/uploads/nobatch/x', auth, 'x')).status, 404);
  assert.deepEqual((await readFile(join(staged, 'report.bin'))).length, payload.length);

  const page = await bridge(gui);
  await page.auth;
  const opened = await page.call('channel.open', { user: 'xavi' });
  const channelId = (opened.result as { channelId: string }).channelId;
  await phaseOf(wanda.host, channelId, 'secure');
  const sent = await page.call('transfer.send', {
    channelId,
    paths: [join(staged, 'report.bin'), join(staged, 'docs')],
  });
  assert.equal(sent.ok, true, JSON.stringify(sent.error));
  assert.equal((sent.result as { transferIds: string[] }).transferIds.length, 2);

  await removed(join(dir, 'wanda', 'uploads'), batch, 20_000);
  assert.ok(
    !(await readdir(join(dir, 'wanda', 'uploads'))).includes(batch),
    'the staged batch is removed once every file is verified',
  );
  const received = await readFile(join(dir, 'xavi-downloads', 'report.bin'));
  assert.ok(received.equals(payload), 'byte-identical at the receiver');
  assert.equal(await readFile(join(dir, 'xavi-downloads', 'docs', 'a.txt'), 'utf8'), 'A');
  page.close();
  xp.close();
});
