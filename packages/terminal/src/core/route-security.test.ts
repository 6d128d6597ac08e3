import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelView, TerminalEvent } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { header, headerValues } from '@tsunagu/server/sip';
import { startTestServer, type SipTestClient, type TestServer } from '@tsunagu/server/testing';
import { dummyNegotiator } from '../sip/testing.js';
import { nextEvent } from './events.js';
import { enrolledTerminal } from './testing.js';
import type { Terminal } from './terminal.js';

/**
 * Route-Security as the terminal API shows it (docs/protocol.md "Route-Security"): every channel says
 * the path its signalling took, and a path with a hop that was not secure fails the channel, on the
 * side that found it, with the path and why.
 */

let t: TestServer;
let dir: string;
let alice: Terminal;
let bob: Terminal;
const clients: SipTestClient[] = [];
const SECURE_PATH = { hops: ['127.0.0.1', '127.0.0.1'], secure: true };

before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-route-security-'));
  for (const [a, b] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
    ['mallory', 'bob'],
    ['alice', 'frank'],
    ['alice', 'gina'],
  ] as const) {
    addRule(t.admin, { domain: t.domain }, 'allow', a, b);
  }
  for (const u of ['mallory', 'frank', 'gina']) t.addUser(u);
  await t.reachable('alice', 'gina');
  alice = (await enrolledTerminal(t, dir, 'alice')).terminal;
  bob = (await enrolledTerminal(t, dir, 'bob')).terminal;
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all([alice.stop(), bob.stop()]);
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

async function client(user: string): Promise<SipTestClient> {
  const c = await t.client(user);
  clients.push(c);
  assert.equal((await c.register()).status, 200);
  return c;
}

const channel = (pred: (c: ChannelView) => boolean) => (e: TerminalEvent) =>
  e.type === 'channel' && pred(e.data);
const view = async (p: Promise<TerminalEvent>) => (await p).data as ChannelView;

test('a channel in one domain shows its secure two-hop path on both ends: [caller, server]', async () => {
  const ringing = view(next(bob, (c) => c.phase === 'ringing'));
  const { channelId } = await alice.call('channel.open', { user: 'bob' });
  const incoming = await ringing;
  assert.deepEqual(incoming.path, SECURE_PATH, 'the callee knows the path before anyone decides');
  const bobSecure = view(next(bob, (c) => c.phase === 'secure'));
  const aliceSecure = view(next(alice, (c) => c.id === channelId && c.phase === 'secure'));
  await bob.call('channel.accept', { channelId: incoming.id });
  const [a, b] = [await aliceSecure, await bobSecure];
  assert.deepEqual(a.path, SECURE_PATH);
  assert.deepEqual(b.path, SECURE_PATH);
  assert.deepEqual(
    alice.snapshot().channels.find((c) => c.id === channelId)?.path,
    SECURE_PATH,
    'in the snapshot too',
  );
  const ended = next(bob, (c) => c.phase === 'ended');
  await alice.call('channel.close', { channelId });
  assert.deepEqual((await view(ended)).path, SECURE_PATH, 'kept once ended');
});

test('an INVITE whose path is not secure: the callee refuses it (606) and shows a failed channel saying why', async () => {
  const mallory = await client('mallory');
  const failed = view(next(bob, (c) => c.peer === `sip:mallory@${t.domain}` && c.phase === 'failed'));
  const rang = next(bob, (c) => c.phase === 'ringing', 1_000).then(
    () => true,
    () => false,
  );
  // mallory names an address that is not hers: the server cannot vouch for it and drops it.
  const res = await mallory.request('INVITE', `sip:bob@${t.domain}`, {
    headers: [{ name: 'Route-Security', value: '[192.0.2.66]' }],
    body: await dummyNegotiator('mallory').createOffer(),
    contentType: 'application/sdp',
  });
  assert.equal(res.status, 606);
  assert.equal(res.reason, 'Route Not Secure');
  assert.deepEqual(headerValues(res, 'Route-Security'), ['[127.0.0.1]']);
  const c = await failed;
  assert.equal(c.direction, 'incoming');
  assert.match(c.reason ?? '', /^the path is not secure end to end: the path does not begin at the caller/);
  assert.deepEqual(c.path?.hops, ['127.0.0.1']);
  assert.equal(c.path?.secure, false);
  assert.equal(await rang, false, 'no ringing decision');
});

test('the callee refuses with 606: the caller’s channel fails with the path and the callee’s reason', async () => {
  const frank = await client('frank');
  frank.onRequest = (req) => {
    if (req.method !== 'INVITE') return false;
    frank.respond(req, 606, {
      reason: 'Route Not Secure',
      headers: [
        ...headerValues(req, 'Route-Security').map((value) => ({ name: 'Route-Security', value })),
        { name: 'Warning', value: '399 tsunagu "a hop was not secure"' },
      ],
    });
    return true;
  };
  const { channelId } = await alice.call('channel.open', { user: 'frank' });
  const c = await view(next(alice, (v) => v.id === channelId && v.phase === 'failed'));
  assert.match(
    c.reason ?? '',
    /refused the call: the path is not secure end to end \(a hop was not secure\)/,
  );
  assert.deepEqual(c.path, {
    hops: ['127.0.0.1', '127.0.0.1'],
    secure: false,
    reason: 'a hop was not secure',
  });
});

test('an answer whose path does not begin with the caller: the caller hangs up and its channel fails', async () => {
  const gina = await client('gina');
  const bye = gina.nextRequest('BYE', 10_000);
  gina.onRequest = (req) => {
    if (req.method !== 'INVITE') return false;
    void dummyNegotiator('gina')
      .acceptOffer('')
      .then((answer) =>
        gina.respond(req, 200, {
          // A path some hop could not vouch for: it lost the caller's value.
          headers: [{ name: 'Route-Security', value: '[127.0.0.1]' }],
          body: answer,
          contentType: 'application/sdp',
        }),
      );
    return true;
  };
  const { channelId } = await alice.call('channel.open', { user: 'gina' });
  const c = await view(next(alice, (v) => v.id === channelId && v.phase === 'failed'));
  assert.match(
    c.reason ?? '',
    /is not secure end to end: the path does not continue at this device's server/,
  );
  assert.deepEqual(c.path?.hops, ['127.0.0.1']);
  assert.equal(c.path?.secure, false);
  const byeReq = await bye;
  assert.equal(header(byeReq, 'Call-ID') !== undefined, true, 'the caller hung up (BYE)');
  gina.respond(byeReq, 200);
});

function next(terminal: Terminal, pred: (c: ChannelView) => boolean, timeoutMs?: number) {
  return nextEvent(terminal, channel(pred), timeoutMs);
}
