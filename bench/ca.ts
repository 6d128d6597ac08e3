/**
 * The certificate authority (issue 5), two measurements in one run:
 *
 *   node --conditions=tsunagu-source --import tsx bench/ca.ts [--devices 200] [--warmup 10] [--levels 1,8,32]
 *        [--passes 5] [--terminals 100] [--reps 5] [--intervals 500,100] [--parts issuance,revocation]
 *
 * 1. Issuance through PUBLISH at the session server: `--devices` users with one device each, every one
 *    registered on its own TLS connection (SipTestClient); keys and PKCS#10 requests made before any
 *    timing. Then PUBLISH → 200 (application/pem-certificate-chain) for all of them at each concurrency of
 *    `--levels`: certificates/s and latency p50/p95/p99. Beside each level, its floor: `LocalAuthority.issue()`
 *    in this process on the same requests and subjects, with the server's own CA files, without SIP.
 *    `--passes` rounds of all devices per level, the floor and PUBLISH alternating; each device sends
 *    the same request every time (a renewal with the same key, which the CA accepts), so the data
 *    folder's `ca.perDevicePerHour` is raised above passes × levels before the server starts.
 * 2. Revocation reaching online terminals: `--terminals` real terminals (sip.js over TLS, enrolled with an
 *    invite, holding a CA certificate, subscribed to their contact list) for as many users of one domain,
 *    policy allow-all; per repetition a new victim terminal gets its CA certificate, then the real admin
 *    command `tsunagu-server device revoke USER/DEVICE --data DIR` runs as a child process. Measured until
 *    each terminal's signalling emitted `revoked` with the victim's fingerprint, from the child's exit and
 *    from just before its spawn (and, for the breakdown, from the `revoked_at` the command wrote and from
 *    when the server noticed the change). With each reload interval in `--intervals` (500 ms is
 *    production's).
 *
 * Server, clients and terminals share this process and the machine's cores: read the ratios.
 */
import { spawn } from 'node:child_process';
import { generateKeyPair, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { LocalAuthority, type DeviceSubject } from '@tsunagu/server/ca';
import { initDataDir } from '../packages/server/src/cli/init.js';
import { dataPaths } from '../packages/server/src/config/index.js';
import { CERTIFICATE_EVENT, CHAIN_TYPE, CONTACTS_EVENT, PKCS10_TYPE } from '@tsunagu/protocol';
import { createLogger } from '../packages/server/src/log/logger.js';
import { header } from '../packages/server/src/sip/message.js';
import {
  startTestServer,
  testCertificateRequest,
  type SipTestClient,
  type TestServer,
} from '../packages/server/src/testing/index.js';
import type { Terminal } from '../packages/terminal/src/core/terminal.js';
import { enrolledTerminal } from '../packages/terminal/src/core/testing.js';
import { listOption, numberOption, stats } from './stats.js';

const root = path.resolve(import.meta.dirname, '..');
const DEVICES = numberOption('devices', 200);
const WARMUP = numberOption('warmup', 10);
const LEVELS = listOption('levels', '1,8,32').map(Number);
const PASSES = numberOption('passes', 5);
const TERMINALS = numberOption('terminals', 100);
const REPS = numberOption('reps', 5);
const INTERVALS = listOption('intervals', '500,100').map(Number);
const PARTS = listOption('parts', 'issuance,revocation');
for (const [name, values] of [
  ['levels', LEVELS],
  ['intervals', INTERVALS],
] as const)
  if (values.some((v) => !Number.isInteger(v) || v < 1))
    throw new Error(`--${name} takes whole numbers of at least 1, separated by commas`);

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with another process's Date.now()). */
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pad = (i: number) => String(i).padStart(4, '0');
const ms = (x: number) => x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
const generateRsa = promisify(generateKeyPair);

/** The production logger at its production level, into nothing (the harness's default parses every line). */
const quietLogger = () =>
  createLogger(
    'info',
    new Writable({
      write(_chunk, _enc, cb) {
        cb();
      },
    }),
  );

/** Runs `fn` over `items`, at most `concurrency` at a time. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (x: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

const cpus = os.cpus();
console.log(
  `machine: ${os.type()} ${os.release()} ${os.arch()}, ${cpus[0]?.model.trim()} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const started = wall();
const json: Record<string, unknown> = { bench: 'ca' };

// ---------------------------------------------------------------- 1. issuance

interface Device {
  client: SipTestClient;
  subject: DeviceSubject;
  /** base64 of the DER, the PUBLISH body and what issue() is given. */
  csr: string;
}

interface Round {
  n: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  cpuMsPerCert: number;
  errors: number;
}

/** Accumulates passes of one kind at one concurrency level. */
class Tally {
  latencies: number[] = [];
  elapsedMs = 0;
  cpuUs = 0;
  errors = 0;

  /** One pass over `items` at `concurrency`, `one` telling whether the certificate came back. */
  async pass(items: readonly Device[], concurrency: number, one: (d: Device) => Promise<boolean>) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await pool(items, concurrency, async (d) => {
      const s = performance.now();
      const ok = await one(d);
      this.latencies.push(performance.now() - s);
      if (!ok) this.errors++;
    });
    this.elapsedMs += performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    this.cpuUs += cpu.user + cpu.system;
  }

  round(): Round {
    const n = this.latencies.length;
    const st = stats(this.latencies);
    return {
      n,
      perSecond: (n / this.elapsedMs) * 1000,
      p50: st.p50,
      p95: st.p95,
      p99: st.p99,
      cpuMsPerCert: this.cpuUs / 1000 / n,
      errors: this.errors,
    };
  }
}

async function issuance(): Promise<void> {
  const domain = 'bench.test';
  // Our own data folder, to raise the per-device limit before the server reads its configuration.
  const dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'tsunagu-bench-ca-')), 'data');
  initDataDir({ dataDir, domain, hosts: ['localhost', '127.0.0.1', '::1'], policyDefault: 'allow-all' });
  const paths = dataPaths(dataDir);
  const config = JSON.parse(fs.readFileSync(paths.config, 'utf8')) as { ca: { perDevicePerHour: number } };
  config.ca.perDevicePerHour = Math.min(3600, PASSES * LEVELS.length + 2);
  fs.writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  const t: TestServer = await startTestServer({
    domain,
    dataDir,
    server: { logger: quietLogger(), reloadIntervalMs: 500 },
  });
  const total = DEVICES + WARMUP;
  const users = Array.from({ length: total }, (_, i) => `dev${pad(i)}`);
  const prep0 = wall();
  t.admin.transaction(() => {
    for (const u of users) t.addUser(u);
  });
  await t.until(
    () => t.server.context.directory.userExists(users.at(-1)!),
    'the server to know the users',
    10_000,
  );
  // Keys first (on libuv's threads), then one TLS connection and REGISTER per device.
  const keys: KeyObject[] = await Promise.all(
    users.map(() => generateRsa('rsa', { modulusLength: 2048 }).then((k) => k.privateKey)),
  );
  const devices: Device[] = new Array(total);
  await pool(users, 16, async (user, i) => {
    const client = await t.client(user);
    const res = await client.register();
    if (res.status !== 200) throw new Error(`REGISTER ${user}: ${res.status}`);
    const instance = client.instance.slice(1, -1);
    const device = t.admin.devices.findByInstance(user, instance);
    if (!device) throw new Error(`no device recorded for ${user}`);
    const { der } = testCertificateRequest({ aor: client.aor, instance, key: keys[i]! });
    devices[i] = {
      client,
      subject: { user, deviceId: device.id, instance, domain },
      csr: der.toString('base64'),
    };
  });
  const prepSeconds = (wall() - prep0) / 1000;

  const authority = LocalAuthority.open(paths);
  const validityDays = 30;
  const raw = async (d: Device) => {
    const issued = await authority.issue({ csr: d.csr, subject: d.subject, validityDays });
    return issued.chainPem.startsWith('-----BEGIN CERTIFICATE-----');
  };
  const publish = async (d: Device) => {
    const c = d.client;
    const res = await c.request('PUBLISH', c.aor, {
      to: `<${c.aor}>`,
      headers: [{ name: 'Event', value: CERTIFICATE_EVENT }],
      contentType: PKCS10_TYPE,
      body: d.csr,
    });
    return res.status === 200 && header(res, 'Content-Type') === CHAIN_TYPE;
  };

  // Warm-up, not recorded: the CA's parsed certificate, the JIT, the server's issuance path.
  const warm = devices.slice(DEVICES);
  const measured = devices.slice(0, DEVICES);
  await new Tally().pass(warm, 4, raw);
  await new Tally().pass(warm, 4, publish);

  const rows: { level: number; sip: Round; raw: Round }[] = [];
  for (const level of LEVELS) {
    // The floor and the same work through SIP alternating, so noise hits both alike.
    const [r, s] = [new Tally(), new Tally()];
    for (let p = 0; p < PASSES; p++) {
      await r.pass(measured, level, raw);
      await s.pass(measured, level, publish);
    }
    rows.push({ level, sip: s.round(), raw: r.round() });
  }
  const issuedInDb = t.admin.certificates.list().length;
  await authority.close();
  await t.close(); // and every client it connected
  await rm(path.dirname(dataDir), { recursive: true, force: true });

  console.log(
    `\n1. Certificate issuance: ${DEVICES} devices (users × 1), each registered on its own TLS connection; RSA-2048 requests made beforehand (${prepSeconds.toFixed(1)} s for keys, connections, REGISTERs); ${PASSES} passes of all devices per level, floor and PUBLISH alternating; ${WARMUP} warm-up devices; ${issuedInDb} certificates in the database at the end`,
  );
  console.log(
    'concurrency | PUBLISH→200 cert/s | p50 ms | p95 ms | p99 ms | CPU ms/cert | errors || issue() cert/s | p50 ms | p95 ms | p99 ms | CPU ms/cert || ratio cert/s | ratio p50',
  );
  for (const { level, sip: s, raw: r } of rows) {
    console.log(
      [
        String(level).padStart(11),
        s.perSecond.toFixed(0).padStart(18),
        ms(s.p50).padStart(6),
        ms(s.p95).padStart(6),
        ms(s.p99).padStart(6),
        s.cpuMsPerCert.toFixed(2).padStart(11),
        String(s.errors).padStart(6),
      ].join(' | ') +
        ' || ' +
        [
          r.perSecond.toFixed(0).padStart(14),
          ms(r.p50).padStart(6),
          ms(r.p95).padStart(6),
          ms(r.p99).padStart(6),
          r.cpuMsPerCert.toFixed(2).padStart(11),
        ].join(' | ') +
        ' || ' +
        [(r.perSecond / s.perSecond).toFixed(2).padStart(12), (s.p50 / r.p50).toFixed(2).padStart(9)].join(
          ' | ',
        ),
    );
  }
  console.log(
    '(ratio cert/s = issue() rate / PUBLISH rate; ratio p50 = PUBLISH p50 / issue() p50. CPU is this whole process: server and clients.)',
  );
  json.issuance = { devices: DEVICES, passes: PASSES, prepSeconds, rows };
}

// ---------------------------------------------------------------- 2. revocation

interface Observer {
  user: string;
  terminal: Terminal;
  /** Normalised fingerprint (`AB:CD:…`) → wall time its `revoked` event first listed it. */
  seen: Map<string, number>;
  contacts: number;
  lastContactsAt: number;
}

interface Rep {
  rep: number;
  victim: string;
  /** From the child's exit: each terminal's delay, ms. */
  fromExit: number[];
  fromSpawn: number[];
  spawnToRevokedAt: number;
  revokedAtToExit: number;
  revokedAtToNoticed: number;
  noticedToFirst: number;
  noticedToLast: number;
  /** The server's NOTIFYs of the contact list after it noticed: first and last written, how many, body bytes. */
  noticedToFirstSent: number;
  noticedToLastSent: number;
  lastSentToLast: number;
  notifies: number;
  bodyBytes: number;
  exitToLast: number;
  spawnToLast: number;
}

const norm = (fp: string) => fp.replace(/^sha256:/i, '').toUpperCase();

async function revocation(
  intervalMs: number,
): Promise<{ intervalMs: number; startSeconds: number; rssMiB: number; reps: Rep[] }> {
  const t = await startTestServer({
    domain: 'corp.test',
    policy: 'allow-all',
    server: { logger: quietLogger(), reloadIntervalMs: intervalMs },
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsunagu-bench-ca-'));
  // When the server noticed a changed revocation list (its reload tick), by hooking its own list.
  const hook = { noticedAt: 0, firstSent: 0, lastSent: 0, notifies: 0, bodyBytes: 0 };
  const list = t.server.revocations;
  const reload = list.reload.bind(list);
  list.reload = (now?: number) => {
    const before = list.fingerprints();
    reload(now);
    const after = list.fingerprints();
    if (after.length !== before.length || after.some((f, i) => f !== before[i])) hook.noticedAt = wall();
  };
  // And when it wrote each contact-list NOTIFY after that (all in one synchronous loop).
  const clientTx = t.server.context.clientTx;
  const send = clientTx.send.bind(clientTx);
  clientTx.send = (...a: Parameters<typeof send>) => {
    const out = send(...a);
    const req = a[1];
    if (hook.noticedAt && req.method === 'NOTIFY' && header(req, 'Event') === CONTACTS_EVENT) {
      hook.lastSent = wall();
      hook.firstSent ||= hook.lastSent;
      hook.notifies++;
      hook.bodyBytes = Math.max(hook.bodyBytes, req.body.length);
    }
    return out;
  };

  const s0 = wall();
  const observers: Observer[] = [];
  await pool(
    Array.from({ length: TERMINALS }, (_, i) => `u${pad(i)}`),
    8,
    async (user) => {
      const { terminal } = await enrolledTerminal(t, dir, user);
      const o: Observer = { user, terminal, seen: new Map(), contacts: 0, lastContactsAt: 0 };
      terminal.signalling.on('contacts', () => {
        o.contacts++;
        o.lastContactsAt = wall();
      });
      terminal.signalling.on('revoked', (fps) => {
        const at = wall();
        for (const f of fps) if (!o.seen.has(norm(f))) o.seen.set(norm(f), at);
      });
      observers.push(o);
    },
  );
  await t.until(
    () =>
      observers.every(
        (o) => o.terminal.account().device?.certificate?.state === 'ca-issued' && o.contacts > 0,
      ),
    'every terminal to hold its CA certificate and its contact list',
    60_000,
  );
  const startSeconds = (wall() - s0) / 1000;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  /** Until no terminal got a contact list for `quietMs`: the fan-outs of earlier changes are over. */
  const settle = (quietMs = 1000) =>
    t.until(
      () => observers.every((o) => wall() - o.lastContactsAt > quietMs),
      'the contact lists to settle',
      30_000,
    );

  const reps: Rep[] = [];
  for (let rep = 1; rep <= REPS; rep++) {
    const victimUser = `victim${rep}`;
    const { terminal: victim } = await enrolledTerminal(t, dir, victimUser);
    await t.until(
      () => victim.account().device?.certificate?.state === 'ca-issued',
      `${victimUser}'s CA certificate`,
      15_000,
    );
    const view = victim.account().device!;
    const fp = norm(view.fingerprint);
    const deviceId = view.device!;
    const recorded = t.admin.certificates.list(victimUser, deviceId).map((c) => norm(c.fingerprint));
    if (!recorded.includes(fp))
      throw new Error(`the victim's fingerprint ${fp} is not among its certificates`);
    await settle();
    // The settling ends at a fixed phase of the server's reload ticks: start at a random one instead.
    await sleep(Math.random() * intervalMs);

    Object.assign(hook, { noticedAt: 0, firstSent: 0, lastSent: 0, notifies: 0, bodyBytes: 0 });
    const spawnAt = wall();
    const child = spawn(
      process.execPath,
      [
        '--conditions=tsunagu-source',
        '--import',
        'tsx',
        path.join(root, 'packages/server/src/cli/main.ts'),
        'device',
        'revoke',
        `${victimUser}/${deviceId}`,
        '--data',
        t.dataDir,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exitAt = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => {
        const at = wall();
        if (code === 0) resolve(at);
        else reject(new Error(`device revoke exited ${code}: ${output}`));
      });
    });
    if (!/Revoked device/.test(output)) throw new Error(`unexpected output of device revoke: ${output}`);
    await t.until(
      () => observers.every((o) => o.seen.has(fp)),
      `every terminal to learn of ${victimUser}'s revocation`,
      30_000,
    );
    const revokedAt = t.admin.devices.get(victimUser, deviceId)!.revokedAt!;
    if (!hook.noticedAt) throw new Error('the server never reloaded a changed revocation list');
    const at = observers.map((o) => o.seen.get(fp)!);
    const first = Math.min(...at);
    const last = Math.max(...at);
    reps.push({
      rep,
      victim: `${victimUser}/${deviceId}`,
      fromExit: at.map((x) => x - exitAt),
      fromSpawn: at.map((x) => x - spawnAt),
      spawnToRevokedAt: revokedAt - spawnAt,
      revokedAtToExit: exitAt - revokedAt,
      revokedAtToNoticed: hook.noticedAt - revokedAt,
      noticedToFirst: first - hook.noticedAt,
      noticedToLast: last - hook.noticedAt,
      noticedToFirstSent: hook.firstSent - hook.noticedAt,
      noticedToLastSent: hook.lastSent - hook.noticedAt,
      lastSentToLast: last - hook.lastSent,
      notifies: hook.notifies,
      bodyBytes: hook.bodyBytes,
      exitToLast: last - exitAt,
      spawnToLast: last - spawnAt,
    });
    await victim.stop();
  }

  await pool(observers, 16, (o) => o.terminal.stop());
  await t.close();
  await rm(dir, { recursive: true, force: true });
  await rm(path.dirname(t.dataDir), { recursive: true, force: true }); // the harness's fresh data folder
  return { intervalMs, startSeconds, rssMiB, reps };
}

function printRevocation(runs: Awaited<ReturnType<typeof revocation>>[]): void {
  console.log(
    `\n2. Revocation to ${TERMINALS} online terminals (sip.js + TLS each, this process), the real \`tsunagu-server device revoke\` as a child process, ${REPS} repetitions per reload interval; times in ms`,
  );
  console.log(
    'reload | rep | exit→terminals p50 | p95 | max || spawn→terminals p50 | p95 | max || spawn→revoked_at | revoked_at→exit | revoked_at→noticed | noticed→1st NOTIFY sent | →last sent | →1st terminal | →last terminal | last sent→last terminal | NOTIFYs | body bytes',
  );
  for (const run of runs) {
    for (const r of run.reps) {
      const e = stats(r.fromExit);
      const s = stats(r.fromSpawn);
      console.log(
        [
          `${run.intervalMs} ms`.padStart(6),
          String(r.rep).padStart(3),
          ms(e.p50).padStart(18),
          ms(e.p95).padStart(3),
          ms(e.max).padStart(3),
        ].join(' | ') +
          ' || ' +
          [ms(s.p50).padStart(19), ms(s.p95).padStart(3), ms(s.max).padStart(3)].join(' | ') +
          ' || ' +
          [
            ms(r.spawnToRevokedAt).padStart(16),
            ms(r.revokedAtToExit).padStart(15),
            ms(r.revokedAtToNoticed).padStart(18),
            ms(r.noticedToFirstSent).padStart(23),
            ms(r.noticedToLastSent).padStart(10),
            ms(r.noticedToFirst).padStart(13),
            ms(r.noticedToLast).padStart(14),
            ms(r.lastSentToLast).padStart(23),
            String(r.notifies).padStart(7),
            String(r.bodyBytes).padStart(10),
          ].join(' | '),
      );
    }
  }
  console.log(
    `\nsummary per reload interval: every terminal of every repetition pooled (${TERMINALS} × ${REPS}); "last" = the slowest terminal of a repetition, median and max over the repetitions`,
  );
  console.log(
    'reload | start of the terminals s | RSS MiB | exit→terminal p50 | p95 | max || exit→last median | max || spawn→terminal p50 | spawn→last median | max || revoked_at→noticed median | max || noticed→last sent median || noticed→last terminal median',
  );
  for (const run of runs) {
    const all = stats(run.reps.flatMap((r) => r.fromExit));
    const allSpawn = stats(run.reps.flatMap((r) => r.fromSpawn));
    const med = (f: (r: Rep) => number) => stats(run.reps.map(f));
    const el = med((r) => r.exitToLast);
    const sl = med((r) => r.spawnToLast);
    const rn = med((r) => r.revokedAtToNoticed);
    const ns = med((r) => r.noticedToLastSent);
    const nl = med((r) => r.noticedToLast);
    console.log(
      [
        `${run.intervalMs} ms`.padStart(6),
        run.startSeconds.toFixed(1).padStart(24),
        run.rssMiB.toFixed(0).padStart(7),
        ms(all.p50).padStart(17),
        ms(all.p95).padStart(3),
        ms(all.max).padStart(3),
      ].join(' | ') +
        ' || ' +
        [ms(el.p50).padStart(16), ms(el.max).padStart(3)].join(' | ') +
        ' || ' +
        [ms(allSpawn.p50).padStart(18), ms(sl.p50).padStart(17), ms(sl.max).padStart(3)].join(' | ') +
        ' || ' +
        [ms(rn.p50).padStart(25), ms(rn.max).padStart(3)].join(' | ') +
        ' || ' +
        ms(ns.p50).padStart(23) +
        ' || ' +
        ms(nl.p50).padStart(28),
    );
  }
  json.revocation = runs.map((run) => ({
    intervalMs: run.intervalMs,
    startSeconds: run.startSeconds,
    rssMiB: run.rssMiB,
    reps: run.reps.map(({ fromExit, fromSpawn, ...r }) => ({
      ...r,
      fromExit: stats(fromExit),
      fromSpawn: stats(fromSpawn),
    })),
  }));
}

if (PARTS.includes('issuance')) await issuance();
if (PARTS.includes('revocation')) {
  const runs = [];
  for (const interval of INTERVALS) runs.push(await revocation(interval));
  printRevocation(runs);
}
console.log(`\ntotal ${((wall() - started) / 1000).toFixed(0)} s`);
console.log(JSON.stringify(json));
