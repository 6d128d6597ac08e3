/**
 * Click to "secure — verified": `Terminal.openChannel` through the real session server to a verified
 * channel (INVITE with the offer, 200 with the answer, direct mutual TLS 1.3, fingerprint and session
 * checks), beside its floor measured the same way in the same run: one SIP round trip through the same
 * server (MESSAGE → 200) plus a bare mutual TLS 1.3 handshake.
 *
 *   node --conditions=tsunagu-source --import tsx bench/open-channel.ts [--opens 100] [--warmup 10] [--settle-ms 10]
 *
 * Everything runs on 127.0.0.1 in one process (server, both terminals): the ratio is what matters.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TerminalEvent } from '../packages/protocol/src/index.js';
import { startTestServer, type TestServer } from '../packages/server/src/testing/index.js';
import { nextEvent } from '../packages/terminal/src/core/events.js';
import { enrolledTerminal } from '../packages/terminal/src/core/testing.js';
import type { Terminal } from '../packages/terminal/src/core/terminal.js';
import { channelCredentials } from '../packages/terminal/src/channel/index.js';
import type { Profile } from '../packages/terminal/src/identity/index.js';
import { bareTlsOnce } from './channel-setup.js';
import { numberOption, stats } from './stats.js';

const OPENS = numberOption('opens', 100);
const WARMUP = numberOption('warmup', 10);
/**
 * A pause before each timed step. A closed channel leaves work behind it after both ends reported it
 * ended (the BYE's 200, sockets closing: several ms of this process's CPU): without the pause it lands
 * on whatever is timed next — here always the floor, which it inflated (5.5 ms instead of 2.1 ms).
 */
const SETTLE_MS = numberOption('settle-ms', 10);
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

const t: TestServer = await startTestServer();
const dir = await mkdtemp(join(tmpdir(), 'tsunagu-open-'));

async function terminal(
  user: string,
  acceptFrom: string[] = [],
): Promise<{ term: Terminal; identity: Profile['identity'] }> {
  const { terminal: term, profile } = await enrolledTerminal(t, dir, user, { acceptFrom });
  return { term, identity: profile.identity };
}

const until = (term: Terminal, pred: (e: TerminalEvent) => boolean) => nextEvent(term, pred, 10_000);

const { term: alice, identity: aliceId } = await terminal('alice');
const { term: bob, identity: bobId } = await terminal('bob', ['alice']);
// The floor's SIP round trip: two plain registered SIP clients, MESSAGE through the same server.
t.addUser('carol');
t.addUser('dave');
// The server applies admin changes within its reload interval: wait until it knows dave.
await t.until(() => t.server.context.directory.userExists('dave'), 'the server to know dave');
const carol = await t.client('carol');
const dave = await t.client('dave');
await carol.register();
await dave.register();
dave.onRequest = (req) => {
  if (req.method !== 'MESSAGE') return false;
  dave.respond(req, 200);
  return true;
};
// The floor's handshake uses the same certificates as the channel.
const [a, b] = [channelCredentials(aliceId), channelCredentials(bobId)];

const open: number[] = [];
const floor: number[] = [];
for (let i = 0; i < WARMUP + OPENS; i++) {
  // Interleaved, so machine noise hits both alike.
  await settle();
  const t0 = performance.now();
  let id = '';
  const secure = until(alice, (e) => e.type === 'channel' && e.data.phase === 'secure' && e.data.id === id);
  const bobSecure = until(bob, (e) => e.type === 'channel' && e.data.phase === 'secure');
  id = alice.openChannel('bob');
  await secure;
  const ms = performance.now() - t0;
  await bobSecure;
  const ended = until(bob, (e) => e.type === 'channel' && e.data.phase === 'ended');
  await alice.call('channel.close', { channelId: id });
  await ended;

  await settle();
  const f = await bareTlsOnce({
    server: b,
    client: a,
    before: async () => {
      const res = await carol.request('MESSAGE', `sip:dave@${t.domain}`, {
        body: 'x',
        contentType: 'text/plain',
      });
      if (res.status !== 200) throw new Error(`MESSAGE: ${res.status}`);
    },
  });
  if (i >= WARMUP) {
    open.push(ms);
    floor.push(f);
  }
}

const o = stats(open);
const fl = stats(floor);
console.log(
  `openChannel → "secure — verified" through the session server on 127.0.0.1, ${OPENS} opens each (after ${WARMUP} warm-up), ${SETTLE_MS} ms pause before each, Node ${process.version}`,
);
console.log('                                             p50 ms  p95 ms  mean ms');
console.log(
  `openChannel to verified channel              ${o.p50.toFixed(2).padStart(6)}  ${o.p95.toFixed(2).padStart(6)}  ${o.mean.toFixed(2).padStart(7)}`,
);
console.log(
  `floor: SIP round trip + bare TLS 1.3         ${fl.p50.toFixed(2).padStart(6)}  ${fl.p95.toFixed(2).padStart(6)}  ${fl.mean.toFixed(2).padStart(7)}`,
);
console.log(
  `ratio                                        ${(o.p50 / fl.p50).toFixed(2).padStart(6)}  ${(o.p95 / fl.p95).toFixed(2).padStart(6)}  ${(o.mean / fl.mean).toFixed(2).padStart(7)}`,
);
console.log(JSON.stringify({ bench: 'open-channel', open: o, floor: fl }));

carol.close();
dave.close();
await Promise.all([alice.stop(), bob.stop()]);
await t.close();
await rm(dir, { recursive: true, force: true });
