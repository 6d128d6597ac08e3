/**
 * Cross-domain channel setup beside the same-domain one (issue 6): `Terminal.openChannel` to "secure" on
 * the caller for (a) alice@a.example → bob@a.example through server A, and (b) alice@a.example →
 * carol@b.example through A and B over their federation link (Route-Security path of three hops: alice,
 * A, B), interleaved in one run. Beside them, the extra server hop's own cost measured the same way:
 * a MESSAGE → 200 round trip between raw SIP clients to the same domain and across.
 *
 *   node --conditions=tsunagu-source --import tsx bench/federation.ts [--opens 100] [--warmup 10] [--settle-ms 10]
 *
 * Both servers and all terminals run in one process on 127.0.0.1, the servers with the production
 * logger at its production level: the ratio and the difference are what matter.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TerminalEvent } from '../packages/protocol/src/index.js';
import { createLogger } from '../packages/server/src/log/logger.js';
import {
  startTestServer,
  type SipTestClient,
  type TestServer,
} from '../packages/server/src/testing/index.js';
import { nextEvent } from '../packages/terminal/src/core/events.js';
import { enrolledTerminal } from '../packages/terminal/src/core/testing.js';
import type { Terminal } from '../packages/terminal/src/core/terminal.js';
import { numberOption, stats, type Stats } from './stats.js';

const OPENS = numberOption('opens', 100);
const WARMUP = numberOption('warmup', 10);
/**
 * A pause before each timed operation. A closed channel leaves work behind it after both ends reported
 * it ended (the BYE's 200 back through the server(s) into sip.js, both ends' sockets closing: 4–6 ms of
 * this process's CPU in the next 10 ms, ~0.1 ms in the 10 after): without the pause that lands on
 * whatever is timed next, by order rather than by kind (~3 ms on a MESSAGE or an open).
 */
const SETTLE_MS = numberOption('settle-ms', 10);
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

/** How many federation links each server opened (its "federation link open" log lines). */
const linksOpened = { a: 0, b: 0 };
/** The production logger at its production level, into nothing but a count of the links opened. */
const quietLogger = (server: 'a' | 'b') =>
  createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        const s = chunk.toString('utf8');
        for (
          let i = s.indexOf('"federation link open');
          i >= 0;
          i = s.indexOf('"federation link open', i + 1)
        )
          linksOpened[server]++;
        cb();
      },
    }),
  );

const [a, b]: [TestServer, TestServer] = await Promise.all([
  startTestServer({ domain: 'a.example', server: { logger: quietLogger('a') } }),
  startTestServer({ domain: 'b.example', server: { logger: quietLogger('b') } }),
]);
// Peered both ways, each with the other's CA fingerprint, as the admins would with `peer add`.
await Promise.all([a.peer(b), b.peer(a)]);

const dir = await mkdtemp(join(tmpdir(), 'tsunagu-federation-'));
const until = (term: Terminal, pred: (e: TerminalEvent) => boolean) => nextEvent(term, pred, 10_000);

const alice = (await enrolledTerminal(a, dir, 'alice')).terminal;
const bob = (await enrolledTerminal(a, dir, 'bob', { acceptFrom: ['alice'] })).terminal;
// The terminal matches a caller of another domain by its AOR: `alice@a.example` (or `sip:alice@a.example`).
const carol = (await enrolledTerminal(b, dir, 'carol', { acceptFrom: ['alice@a.example'] })).terminal;

// The hop's own cost: raw SIP clients, dave@a sending MESSAGEs to erin@a and to frank@b.
a.addUser('dave');
a.addUser('erin');
b.addUser('frank');
await a.until(() => a.server.context.directory.userExists('erin'), 'A to know erin');
await b.until(() => b.server.context.directory.userExists('frank'), 'B to know frank');
const dave = await a.client('dave');
const erin = await a.client('erin');
const frank = await b.client('frank');
for (const c of [dave, erin, frank]) {
  const res = await c.register();
  if (res.status !== 200) throw new Error(`REGISTER: ${res.status}`);
}
for (const c of [erin, frank])
  c.onRequest = (req) => {
    if (req.method !== 'MESSAGE') return false;
    c.respond(req, 200);
    return true;
  };

/**
 * openChannel → "secure" on alice's side; closed, both ends ended, before it returns. `hops`: the
 * Route-Security path alice's channel must show (alice, then each server), secure end to end.
 */
async function open(callee: Terminal, to: string, hops: number): Promise<number> {
  const t0 = performance.now();
  let id = '';
  const secure = until(
    alice,
    (e) =>
      e.type === 'channel' && e.data.id === id && (e.data.phase === 'secure' || e.data.phase === 'failed'),
  );
  const calleeSecure = until(callee, (e) => e.type === 'channel' && e.data.phase === 'secure');
  id = alice.openChannel(to);
  const e = await secure;
  const ms = performance.now() - t0;
  if (e.type === 'channel' && e.data.phase === 'failed')
    throw new Error(`openChannel('${to}') failed: ${e.data.reason ?? '(no reason)'}`);
  const path = e.type === 'channel' ? e.data.path : undefined;
  if (path?.secure !== true || path.hops.length !== hops)
    throw new Error(`openChannel('${to}'): path ${JSON.stringify(path)}, expected ${hops} secure hops`);
  await calleeSecure;
  const ended = until(callee, (e) => e.type === 'channel' && e.data.phase === 'ended');
  await alice.call('channel.close', { channelId: id });
  await ended;
  return ms;
}

async function message(to: SipTestClient): Promise<number> {
  const t0 = performance.now();
  const res = await dave.request('MESSAGE', to.aor, { body: 'x', contentType: 'text/plain' });
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`MESSAGE to ${to.aor}: ${res.status}`);
  return ms;
}

// alice's terminal lists b.example's members as soon as it registers: that subscription is what makes A
// open its TLS link to B. Warm the same-domain path, then time the first cross-domain open: the one that
// also fetches B's CA with carol's keys (kept for 10 minutes after). Every later one reuses both.
if (!alice.snapshot().contacts.some((c) => c.user === 'carol@b.example'))
  await until(alice, (e) => e.type === 'contacts' && e.data.some((c) => c.user === 'carol@b.example'));
for (let i = 0; i < WARMUP; i++) await open(bob, 'bob', 2);
if (linksOpened.a + linksOpened.b !== 1)
  throw new Error(
    `expected the one federation link the contact lists opened: ${JSON.stringify(linksOpened)}`,
  );
await settle();
const firstCross = await open(carol, 'carol@b.example', 3);
const linksAfterFirst = { ...linksOpened };

const same: number[] = [];
const cross: number[] = [];
const msgSame: number[] = [];
const msgCross: number[] = [];
for (let i = 0; i < WARMUP + OPENS; i++) {
  // Interleaved, alternating which goes first, so machine noise and order hit both alike.
  const pair = async (x: () => Promise<number>, y: () => Promise<number>) => {
    const [first, second] = i % 2 === 0 ? [x, y] : [y, x];
    await settle();
    const one = await first();
    await settle();
    const two = await second();
    return i % 2 === 0 ? [one, two] : [two, one];
  };
  const [s, c] = await pair(
    () => open(bob, 'bob', 2),
    () => open(carol, 'carol@b.example', 3),
  );
  const [ms, mc] = await pair(
    () => message(erin),
    () => message(frank),
  );
  if (i >= WARMUP) {
    same.push(s!);
    cross.push(c!);
    msgSame.push(ms!);
    msgCross.push(mc!);
  }
}
if (linksOpened.a !== linksAfterFirst.a || linksOpened.b !== linksAfterFirst.b)
  throw new Error(
    `federation links reopened during the run: ${JSON.stringify({ linksAfterFirst, linksOpened })}`,
  );

const sa = stats(same);
const cr = stats(cross);
const m1 = stats(msgSame);
const m2 = stats(msgCross);
const row = (label: string, x: Pick<Stats, 'p50' | 'p95' | 'mean'>, digits = 2) =>
  console.log(
    `${label.padEnd(52)}${x.p50.toFixed(digits).padStart(7)}  ${x.p95.toFixed(digits).padStart(7)}  ${x.mean.toFixed(digits).padStart(7)}`,
  );
const diff = (x: Stats, y: Stats) => ({ p50: x.p50 - y.p50, p95: x.p95 - y.p95, mean: x.mean - y.mean });
const ratio = (x: Stats, y: Stats) => ({ p50: x.p50 / y.p50, p95: x.p95 / y.p95, mean: x.mean / y.mean });

console.log(
  `openChannel → "secure" on the caller, two federated servers on 127.0.0.1, ${OPENS} opens each (after ${WARMUP} warm-up), interleaved, ${SETTLE_MS} ms pause before each; Node ${process.version}`,
);
console.log(`${''.padEnd(52)}  p50 ms   p95 ms  mean ms`);
row('(a) same domain: alice@a → bob@a (via A)', sa);
row('(b) cross-domain: alice@a → carol@b (via A, B)', cr);
row('ratio cross / same', ratio(cr, sa));
row('difference cross − same', diff(cr, sa));
row('MESSAGE → 200, same domain (dave@a → erin@a)', m1);
row('MESSAGE → 200, cross-domain (dave@a → frank@b)', m2);
row('difference: the extra server hop, one round trip', diff(m2, m1));
console.log(
  `first cross-domain open (link already up for the contact lists; fetches B's CA with carol's keys): ${firstCross.toFixed(2)} ms; links opened: A ${linksOpened.a}, B ${linksOpened.b} (none during the run)`,
);
console.log(
  JSON.stringify({
    bench: 'federation',
    same: sa,
    cross: cr,
    messageSame: m1,
    messageCross: m2,
    firstCross,
    linksOpened,
  }),
);

for (const c of [dave, erin, frank]) c.close();
await Promise.all([alice.stop(), bob.stop(), carol.stop()]);
await Promise.all([a.close(), b.close()]);
await rm(dir, { recursive: true, force: true });
