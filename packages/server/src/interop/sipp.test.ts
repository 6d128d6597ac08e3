import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Binding } from '../registrar/location.js';
import { freeTcpPort } from '../testing/cli.js';
import { startTestServer, type TestServer } from '../testing/index.js';

/**
 * A real SIP client nobody here wrote: Debian's SIPp 3.6.1 runs the scenarios of `bench/sipp` against
 * the server. That SIPp has no TLS, so it speaks TCP to a local stunnel (`bench/sipp/stunnel-client.sh`),
 * which carries each SIPp TCP connection as one TLS connection and verifies the server certificate
 * against the deployment CA. SIPp 3.6 knows only MD5 and gives up on a SHA-256 challenge, so its users
 * are `md5 only` — the admin's legacy opt-in.
 */
const BENCH = fileURLToPath(new URL('../../../../bench/sipp/', import.meta.url));
const found = (bin: string, args: string[]) =>
  !spawnSync(bin, args, { stdio: 'ignore', timeout: 5000 }).error;
const STUNNEL = ['stunnel', 'stunnel4'].find((bin) => found(bin, ['-version']));
const missing = !found('sipp', ['-v'])
  ? 'sipp is not installed (apt-get install sip-tester)'
  : !STUNNEL
    ? 'stunnel is not installed (apt-get install stunnel4)'
    : undefined;

const password = (user: string) => `pw-${user}`;
const REGISTER_USERS = ['sipp0000', 'sipp0001', 'sipp0002', 'sipp0003', 'sipp0004'];
const CALLER = 'sippcaller';
const CALLEE = 'sippcallee';

let t: TestServer;
let dir: string;
/** stunnel's TCP port on 127.0.0.1: every SIPp connects here, each connection becomes its own TLS flow. */
let tunnelPort: number;
let tunnel: Proc;
const running: Proc[] = [];

interface Proc {
  child: ChildProcess;
  /** Exit code, or the signal's name, or the spawn error. */
  exit: Promise<number | string>;
  output: () => string;
}

function start(command: string, args: string[], o: { env?: NodeJS.ProcessEnv; group?: boolean } = {}): Proc {
  // The tunnel runs as its own process group: the script and the stunnel under it are stopped together.
  const child = spawn(command, args, {
    cwd: dir,
    env: o.env ?? process.env,
    detached: o.group ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (c: Buffer) => (out = (out + c.toString()).slice(-16_000)); // SIPp repaints its screen
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<number | string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const p = { child, exit, output: () => out };
  running.push(p);
  return p;
}

async function stop(p: Proc, group = false): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (group) process.kill(-p.child.pid!, sig);
      else p.child.kill(sig);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  if ((await within(p.exit, 3000)) === 'timeout') kill('SIGKILL');
  await within(p.exit, 3000);
}

function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function bindUdp(port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(undefined));
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

/** A free UDP port on 127.0.0.1 whose port + `also` is free too (SIPp's media: audio at p, video at p + 2). */
async function freeUdpPort(also?: number): Promise<number> {
  for (;;) {
    const a = (await bindUdp(0))!;
    const port = a.address().port;
    const b = also === undefined ? undefined : await bindUdp(port + also);
    a.close();
    b?.close();
    if (also === undefined || b) return port;
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

function usersFile(name: string, users: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, ['SEQUENTIAL', ...users.map((u) => `${u};${password(u)}`), ''].join('\n'));
  return file;
}

interface Sipp extends Proc {
  name: string;
  messages: () => string;
  stats: () => Record<string, string>;
  /** Everything worth reading when SIPp failed: its error log, the end of its messages and screen. */
  report: () => string;
}

/**
 * SIPp through the tunnel, on loopback only (signalling, media and control socket), without a terminal,
 * never longer than 20 s; messages, errors and statistics are written to the temp dir.
 */
async function sipp(name: string, args: string[]): Promise<Sipp> {
  const file = (suffix: string) => path.join(dir, `${name}-${suffix}`);
  // Left to itself, every SIPp takes the first free port from 5060 (SIP), 6000 (media) and 8888
  // (control) up, and two starting at once can pick the same one.
  const [sipPort, mediaPort, controlPort] = [await freeTcpPort(), await freeUdpPort(2), await freeUdpPort()];
  const p = start('sipp', [
    `127.0.0.1:${tunnelPort}`,
    ...['-i', '127.0.0.1', '-p', String(sipPort), '-mi', '127.0.0.1', '-mp', String(mediaPort)],
    ...['-ci', '127.0.0.1', '-cp', String(controlPort), '-nostdin'],
    ...['-key', 'domain', t.domain, '-timeout', '20s', '-timeout_error'],
    ...['-trace_msg', '-message_file', file('messages.log'), '-trace_err', '-error_file', file('errors.log')],
    ...['-trace_stat', '-stf', file('stats.csv')],
    ...args, // last: -set must follow -sf/-oocsf
  ]);
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  return {
    ...p,
    name,
    messages: () => read(file('messages.log')),
    stats: () => {
      const [head = '', ...rows] = read(file('stats.csv')).trim().split('\n');
      const last = (rows.at(-1) ?? '').split(';');
      return Object.fromEntries(head.split(';').map((k, i) => [k, last[i] ?? '']));
    },
    report: () =>
      [
        `--- ${name} errors`,
        read(file('errors.log')),
        `--- ${name} messages (end)`,
        read(file('messages.log')).slice(-4000),
        `--- ${name} screen (end)`,
        p.output().slice(-2000),
        '--- stunnel (end)',
        tunnel.output().slice(-3000),
        '--- server log (end)',
        t.logs
          .slice(-30)
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ].join('\n'),
  };
}

/** Every message SIPp sent (`>`) and received (`<`): its first line shortened to method or status. */
function logged(messages: string): { step: string; callId: string }[] {
  return [
    ...messages.matchAll(
      /^TCP message (sent|received)[^\n]*\n\n([^\r\n]*)([\s\S]*?)(?=^-{10,}|(?![\s\S]))/gm,
    ),
  ].map(([, way, line = '', rest = '']) => {
    const status = /^SIP\/2\.0 (\d{3})/.exec(line);
    const step = `${way === 'sent' ? '>' : '<'} ${status ? status[1] : line.split(' ')[0]}`;
    return { step, callId: /^Call-ID: *([^\r\n]*)/im.exec(rest)?.[1] ?? '' };
  });
}

const flow = (messages: string): string[] => logged(messages).map((m) => m.step);

async function finished(p: Sipp): Promise<void> {
  const code = await within(p.exit, 30_000);
  assert.equal(code, 0, `SIPp ${p.name} exited with ${code}\n${p.report()}`);
}

before(async () => {
  if (missing) return;
  t = await startTestServer();
  for (const u of [...REGISTER_USERS, CALLER, CALLEE]) {
    t.admin.users.add(u, { realm: t.domain, password: password(u), allowMd5: true, md5Only: true });
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  tunnelPort = await freeTcpPort();
  tunnel = start(
    'bash',
    [
      path.join(BENCH, 'stunnel-client.sh'),
      String(tunnelPort),
      `127.0.0.1:${t.sip.port}`,
      path.join(t.dataDir, 'ca', 'ca.pem'),
    ],
    { env: { ...process.env, STUNNEL, STUNNEL_DIR: path.join(dir, 'stunnel') }, group: true },
  );
  // checkIP = 127.0.0.1 and verifyChain against the deployment CA: the server certificate is really checked.
  await until('stunnel to listen', async () => {
    if (tunnel.child.exitCode !== null) throw new Error(`stunnel exited:\n${tunnel.output()}`);
    return accepts(tunnelPort);
  });
});
after(async () => {
  for (const p of running) if (p !== tunnel) await stop(p);
  if (tunnel) await stop(tunnel, true);
  if (t) {
    await t.close();
    // startTestServer's fresh data folder: <tmp>/tsunagu-srv-XXXXXX/data
    if (path.basename(path.dirname(t.dataDir)).startsWith('tsunagu-srv-'))
      fs.rmSync(path.dirname(t.dataDir), { recursive: true, force: true });
  }
  // SIPP_KEEP=1 keeps SIPp's message, error and statistics files for a look afterwards.
  if (dir && process.env.SIPP_KEEP) console.log(`# SIPp files kept in ${dir}`);
  else if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test(
  'SIPp registers 5 users with MD5 digest over TLS (via stunnel)',
  { skip: missing, timeout: 60_000 },
  async () => {
    // Every binding the location service ever held for these users (SIPp closes each connection after its
    // REGISTER, and a binding lives only as long as its connection).
    const seen = new Map<string, Binding>();
    t.server.context.location.onChange((user) => {
      const b = t.server.context.location.bindings(user)[0];
      if (b && REGISTER_USERS.includes(user)) seen.set(user, b);
    });
    const n = REGISTER_USERS.length;
    // -t tn: one TCP (so one TLS) connection per "call", i.e. per user — the server binds a connection to
    // the one user that authenticated on it and refuses another user's REGISTER there (403). -max_socket
    // counts SIPp's own listening socket too, and at the limit SIPp reuses a call's connection for the
    // next call (even one being closed: "Broken pipe"), so it stays well above the calls in flight.
    const reg = await sipp('register', [
      ...['-t', 'tn', '-max_socket', String(10 * n)],
      ...['-sf', path.join(BENCH, 'register_auth.xml'), '-inf', usersFile('users.csv', REGISTER_USERS)],
      ...['-auth_uri', t.domain, '-m', String(n), '-r', '20'],
    ]);
    await finished(reg);
    const stats = reg.stats();
    assert.equal(stats['SuccessfulCall(C)'], String(n), reg.report());
    assert.equal(stats['FailedCall(C)'], '0', reg.report());
    assert.deepEqual([...seen.keys()].sort(), REGISTER_USERS);
    for (const [user, b] of seen) {
      assert.equal(b.conn.transport, 'TLS');
      assert.match(b.contact, new RegExp(`^sip:${user}@127\\.0\\.0\\.1:\\d+;transport=tls$`));
    }
    // Each user was challenged once, with MD5 alone, and then accepted. (Only what SIPp received: with
    // -t tn it does not log the first REGISTER of a call, which waits in a buffer while its socket connects.)
    const perCall = new Map<string, string[]>();
    for (const m of logged(reg.messages()).filter((x) => x.step.startsWith('<'))) {
      perCall.set(m.callId, [...(perCall.get(m.callId) ?? []), m.step]);
    }
    assert.equal(perCall.size, n);
    for (const steps of perCall.values()) assert.deepEqual(steps, ['< 401', '< 200']);
    const challenges = [...reg.messages().matchAll(/^WWW-Authenticate: (.*?)\r?$/gm)].map((m) => m[1]);
    assert.equal(challenges.length, n);
    const domain = t.domain.replace(/\./g, '\\.');
    for (const c of challenges) {
      assert.match(c!, new RegExp(`^Digest realm="${domain}", nonce="[^"]+", algorithm=MD5, qop="auth"$`));
    }
  },
);

test(
  'a SIPp call through the proxy: INVITE, 407, INVITE with digest, 100/180/200, ACK, BYE',
  { skip: missing, timeout: 60_000 },
  async () => {
    // The callee: registers (uas.xml), answers one call on that connection (uas_ooc.xml), unregisters.
    const scenario = ['-sf', path.join(BENCH, 'uas.xml'), '-oocsf', path.join(BENCH, 'uas_ooc.xml')];
    const callee = usersFile('callee.csv', [CALLEE]);
    const uas = await sipp('uas', [
      ...['-t', 't1', ...scenario, '-inf', callee],
      ...['-auth_uri', t.domain, '-m', '1', '-set', 'calls', '1'],
    ]);
    await until('the SIPp callee to register', async () => {
      if (uas.child.exitCode !== null) assert.fail(`SIPp uas exited early\n${uas.report()}`);
      return t.server.context.location.bindings(CALLEE).length === 1;
    });
    assert.equal(t.server.context.location.bindings(CALLEE)[0]!.conn.transport, 'TLS');

    const uac = await sipp('uac', [
      ...['-t', 't1', '-sf', path.join(BENCH, 'uac_invite.xml'), '-inf', usersFile('caller.csv', [CALLER])],
      ...['-s', CALLEE, '-auth_uri', `${CALLEE}@${t.domain}`, '-d', '200', '-m', '1'],
    ]);
    await finished(uac);
    await finished(uas);
    assert.equal(uac.stats()['SuccessfulCall(C)'], '1', uac.report());

    assert.deepEqual(flow(uac.messages()), [
      '> INVITE',
      '< 407',
      '> ACK',
      '> INVITE',
      '< 100',
      '< 180',
      '< 200',
      '> ACK',
      '> BYE',
      '< 200',
    ]);
    assert.deepEqual(flow(uas.messages()), [
      ...['> REGISTER', '< 401', '> REGISTER', '< 200'],
      ...['< INVITE', '> 180', '> 200', '< ACK', '< BYE', '> 200'],
      ...['> REGISTER', '< 401', '> REGISTER', '< 200'], // Expires: 0
    ]);
    // The INVITE reached the callee through the proxy: identity asserted, dialog record-routed; the
    // caller's ACK and BYE followed that route.
    const domain = t.domain.replace(/\./g, '\\.');
    assert.match(uas.messages(), new RegExp(`^P-Asserted-Identity: <sip:${CALLER}@${domain}>\\r?$`, 'm'));
    const recordRoute = /^Record-Route: (<sip:127\.0\.0\.1:\d+;transport=tls;lr;tsu=[^>]+>)\r?$/m.exec(
      uas.messages(),
    );
    assert.ok(recordRoute, 'the INVITE was record-routed');
    for (const method of ['ACK', 'BYE']) {
      const request = new RegExp(
        `^${method} sip:${CALLEE}@127\\.0\\.0\\.1:\\d+;transport=tls SIP/2\\.0\\r?\\n(?:[^\\n]+\\n)*?\\r?\\n`,
        'm',
      );
      const sent = request.exec(uac.messages())?.[0] ?? '';
      assert.ok(
        sent.includes(`\nRoute: ${recordRoute[1]}\r\n`),
        `${method} to the callee's Contact via our Record-Route:\n${sent}`,
      );
    }
  },
);
