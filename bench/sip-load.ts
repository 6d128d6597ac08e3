/**
 * SIP-over-TLS load generator: our server and Debian's Kamailio side by side, same client, one run.
 *
 *   npm run bench -- [--targets ours,kamailio] [--seconds 10] [--conns 100] [--pairs 50] [--idle 10000]
 *
 * Measures, per target:
 *   - REGISTER with digest per second: `--conns` TLS connections, each re-registering in a closed loop
 *     with digest credentials (the nonce of the first challenge reused with a growing nonce-count);
 *   - calls per second: `--pairs` caller/callee pairs, INVITE → 200 → ACK → BYE → 200 in a closed loop;
 *   - memory per idle registered TLS terminal: PSS of the server's processes after `--idle` terminals
 *     registered and stayed connected, minus PSS before.
 * Prints a table and a JSON line. Both servers run on this machine's 2 cores next to this generator,
 * so compare the ratio, not the absolute figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { initDataDir } from '../packages/server/src/cli/init.js';
import { dataPaths } from '../packages/server/src/config/index.js';
import { openStore } from '../packages/server/src/store/index.js';
import { cseq, type SipRequest, type SipResponse } from '../packages/server/src/sip/message.js';
import { SipTestClient } from '../packages/server/src/testing/sip-client.js';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const SECONDS = Number(opt('seconds', '10'));
const CONNS = Number(opt('conns', '100'));
const PAIRS = Number(opt('pairs', '50'));
const IDLE = Number(opt('idle', '10000'));
const TARGETS = opt('targets', 'ours,kamailio').split(',');
const DOMAIN = 'bench.test';
const USERS = Math.max(IDLE, CONNS + 2 * PAIRS);
const userName = (i: number) => `user${String(i).padStart(4, '0')}`;
const password = (u: string) => `pw-${u}`;

interface Target {
  name: string;
  port: number;
  ca: string;
  servername: string;
  pids: () => number[];
  stop(): Promise<void>;
}

async function startOurs(): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-bench-'));
  const dataDir = path.join(dir, 'data');
  initDataDir({ dataDir, domain: DOMAIN, hosts: ['localhost', '127.0.0.1'] });
  const store = openStore(dataPaths(dataDir).db, { create: false });
  store.transaction(() => {
    for (let i = 0; i < USERS; i++)
      store.users.add(userName(i), { realm: DOMAIN, password: password(userName(i)) });
  });
  store.close();
  const built = fs.existsSync(path.join(root, 'packages/server/dist/cli/main.js'));
  const cmd = built
    ? [path.join(root, 'packages/server/bin/tsunagu-server.js')]
    : ['--conditions=tsunagu-source', '--import', 'tsx', path.join(root, 'packages/server/src/cli/main.ts')];
  const child = spawn(
    process.execPath,
    [
      ...cmd,
      'start',
      '--data',
      dataDir,
      '--sip',
      '127.0.0.1:0',
      '--wss',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await firstLine(child);
  const { sip } = JSON.parse(line) as { sip: string };
  return {
    name: `tsunagu-server (${built ? 'built' : 'tsx'})`,
    port: Number(sip.slice(sip.lastIndexOf(':') + 1)),
    ca: fs.readFileSync(dataPaths(dataDir).caCert, 'utf8'),
    servername: 'localhost',
    pids: () => [child.pid!],
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startKamailio(): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kamailio-bench-'));
  const port = 20000 + Math.floor(Math.random() * 10000);
  const child = spawn('bash', [path.join(root, 'bench/kamailio/start.sh'), String(port), dir], {
    env: { ...process.env, USERS: String(USERS), DOMAIN, AUTH_ALGO: 'SHA-256' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: Record<string, string> = {};
  for await (const l of readline.createInterface({ input: child.stdout! })) {
    const m = /^(\w+)=(.*)$/.exec(l);
    if (m) out[m[1]!] = m[2]!;
  }
  if (!out.PID) throw new Error('kamailio did not start (see its log above)');
  const version = await new Promise<string>((resolve) => {
    const v = spawn('kamailio', ['-v'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    v.stdout.on('data', (c: Buffer) => (s += c));
    v.on('exit', () => resolve(/version: (\S+ \S+)/.exec(s)?.[1] ?? 'kamailio'));
  });
  return {
    name: version,
    port,
    ca: fs.readFileSync(out.CAFILE!, 'utf8'),
    servername: 'localhost',
    // Kamailio forks workers: every process in its process group.
    pids: () =>
      fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map(Number)
        .filter((p) => {
          try {
            return (
              fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'kamailio' &&
              fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)
            );
          } catch {
            return false;
          }
        }),
    stop: async () => {
      try {
        process.kill(Number(out.PID), 'SIGTERM');
      } catch {
        /* already gone */
      }
      await new Promise((r) => setTimeout(r, 500));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.once('line', (l) => resolve(l));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** Proportional set size of the given processes, in KiB (shared pages split fairly between processes). */
function pssKiB(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    total += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  }
  return total;
}

/** CPU time (user + system) of the given processes, in seconds. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  }
  return ticks / 100; // USER_HZ
}

async function connect(t: Target, i: number): Promise<SipTestClient> {
  const user = userName(i);
  return SipTestClient.connect({
    host: '127.0.0.1',
    port: t.port,
    ca: t.ca,
    servername: t.servername,
    domain: DOMAIN,
    user,
    password: password(user),
  });
}

/** REGISTER with a reused nonce: one digest verification per REGISTER, no challenge round trip. */
async function registerLoop(
  c: SipTestClient,
  until: number,
  count: { ok: number; other: number },
): Promise<void> {
  let challenge: SipResponse | undefined;
  while (Date.now() < until) {
    const req = c.build('REGISTER', `sip:${DOMAIN}`, {
      to: `<${c.aor}>`,
      headers: [{ name: 'Expires', value: '600' }],
    });
    let res = await c.sendRequest(challenge ? c.withCredentials(req, challenge) : req);
    if (res.status === 401) {
      challenge = res;
      res = await c.sendRequest(c.withCredentials(req, challenge));
    }
    if (res.status === 200) count.ok++;
    else count.other++;
  }
}

function answerCalls(callee: SipTestClient): void {
  callee.onRequest = (req: SipRequest) => {
    if (req.method === 'INVITE')
      callee.respond(req, 200, { body: 'v=0\r\n', contentType: 'application/sdp' });
    else if (req.method === 'BYE') callee.respond(req, 200);
    return req.method === 'INVITE' || req.method === 'BYE' || req.method === 'ACK';
  };
}

async function callLoop(
  caller: SipTestClient,
  callee: string,
  until: number,
  count: { ok: number; other: number },
): Promise<void> {
  let challenge: SipResponse | undefined;
  while (Date.now() < until) {
    const inv = caller.build('INVITE', `sip:${callee}@${DOMAIN}`, {
      body: 'v=0\r\n',
      contentType: 'application/sdp',
    });
    let req = challenge ? caller.withCredentials(inv, challenge) : inv;
    let res = await caller.sendRequest(req);
    if (res.status === 407) {
      challenge = res;
      req = caller.withCredentials(inv, challenge);
      res = await caller.sendRequest(req);
    }
    if (res.status !== 200 || cseq(res).method !== 'INVITE') {
      count.other++;
      continue;
    }
    const d = caller.dialogFrom(req, res);
    caller.send(caller.inDialog(d, 'ACK'));
    const bye = await caller.sendRequest(caller.inDialog(d, 'BYE'));
    if (bye.status === 200) count.ok++;
    else count.other++;
  }
}

async function measure(t: Target) {
  const result: Record<string, number> = {};
  // Idle memory first, on the fresh process: load phases leave allocator and heap high-water marks behind.
  if (IDLE > 0) {
    const before = pssKiB(t.pids());
    const idle: SipTestClient[] = [];
    let next = 0;
    const worker = async () => {
      while (next < IDLE) {
        const i = next++;
        const c = await connect(t, i);
        const r = await c.register({ expires: 3600 });
        if (r.status !== 200) throw new Error(`idle register ${i}: ${r.status}`);
        idle.push(c);
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    await new Promise((r) => setTimeout(r, 5000)); // let the handshakes' garbage be collected
    const afterKiB = pssKiB(t.pids());
    result.idleTerminals = idle.length;
    result.pssBeforeMiB = before / 1024;
    result.pssAfterMiB = afterKiB / 1024;
    result.kibPerIdleTerminal = (afterKiB - before) / idle.length;
    for (const c of idle) c.close();
    await new Promise((r) => setTimeout(r, 1000));
  }
  // REGISTER rate.
  const regClients = await Promise.all(Array.from({ length: CONNS }, (_, i) => connect(t, i)));
  const warm = { ok: 0, other: 0 };
  await Promise.all(regClients.map((c) => registerLoop(c, Date.now() + 1000, warm)));
  const reg = { ok: 0, other: 0 };
  const t0 = Date.now();
  const cpu0 = cpuSeconds(t.pids());
  await Promise.all(regClients.map((c) => registerLoop(c, t0 + SECONDS * 1000, reg)));
  result.registerPerSecond = reg.ok / ((Date.now() - t0) / 1000);
  result.registerServerCpuUs = ((cpuSeconds(t.pids()) - cpu0) / reg.ok) * 1e6;
  result.registerErrors = reg.other;
  for (const c of regClients) c.close();

  // Calls.
  const callers: SipTestClient[] = [];
  const callees: SipTestClient[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const callee = await connect(t, CONNS + PAIRS + p);
    const r = await callee.register();
    if (r.status !== 200) throw new Error(`callee register: ${r.status}`);
    answerCalls(callee);
    callees.push(callee);
    const caller = await connect(t, CONNS + p);
    const r2 = await caller.register();
    if (r2.status !== 200) throw new Error(`caller register: ${r2.status}`);
    callers.push(caller);
  }
  const warmCalls = { ok: 0, other: 0 };
  await Promise.all(
    callers.map((c, p) => callLoop(c, userName(CONNS + PAIRS + p), Date.now() + 1000, warmCalls)),
  );
  const calls = { ok: 0, other: 0 };
  const t1 = Date.now();
  const cpu1 = cpuSeconds(t.pids());
  await Promise.all(
    callers.map((c, p) => callLoop(c, userName(CONNS + PAIRS + p), t1 + SECONDS * 1000, calls)),
  );
  result.callsPerSecond = calls.ok / ((Date.now() - t1) / 1000);
  result.callServerCpuUs = ((cpuSeconds(t.pids()) - cpu1) / calls.ok) * 1e6;
  result.callErrors = calls.other + warmCalls.other;
  for (const c of [...callers, ...callees]) c.close();
  await new Promise((r) => setTimeout(r, 1000));

  return result;
}

const rows: { target: string; r: Record<string, number> }[] = [];
for (const name of TARGETS) {
  const target = name === 'kamailio' ? await startKamailio() : await startOurs();
  try {
    console.error(`measuring ${target.name} ...`);
    rows.push({ target: target.name, r: await measure(target) });
  } finally {
    await target.stop();
  }
}

const f = (n: number | undefined, d = 0) => (n === undefined ? '-' : n.toFixed(d));
console.log(
  `\nmachine: ${os.cpus()[0]?.model} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
console.log(
  `load: ${CONNS} REGISTER connections, ${PAIRS} call pairs, ${SECONDS} s each; ${IDLE} idle terminals\n`,
);
console.log(
  '| server | REGISTER/s | server CPU µs per REGISTER | calls/s | server CPU µs per call | errors | KiB per idle TLS terminal | PSS before → after (MiB) |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const { target, r } of rows) {
  console.log(
    `| ${target} | ${f(r.registerPerSecond)} | ${f(r.registerServerCpuUs)} | ${f(r.callsPerSecond)} | ${f(r.callServerCpuUs)} | ${(r.registerErrors ?? 0) + (r.callErrors ?? 0)} | ${f(r.kibPerIdleTerminal, 1)} | ${f(r.pssBeforeMiB, 0)} → ${f(r.pssAfterMiB, 0)} |`,
  );
}
if (rows.length === 2) {
  const [a, b] = rows.map((x) => x.r);
  console.log(
    `\nratio ${rows[0]!.target} / ${rows[1]!.target}: REGISTER ${f(a!.registerPerSecond! / b!.registerPerSecond!, 2)}, calls ${f(a!.callsPerSecond! / b!.callsPerSecond!, 2)}, server CPU per REGISTER ${f(a!.registerServerCpuUs! / b!.registerServerCpuUs!, 2)}, per call ${f(a!.callServerCpuUs! / b!.callServerCpuUs!, 2)}, memory per terminal ${f(a!.kibPerIdleTerminal! / b!.kibPerIdleTerminal!, 2)}`,
  );
}
console.log(JSON.stringify({ rows }));
