import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ChannelView, ContactView, TransferView } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { nextEvent } from '../core/events.js';
import { channelPhase, enrolledTerminal, untilIssued } from '../core/testing.js';
import type { Terminal } from '../core/terminal.js';
import { parseKeys } from '../sip/keys.js';

/**
 * Two domains on loopback, peered both ways, with real terminals (the netns test draws the seed's
 * Fig. 3 with real addresses; this one runs anywhere): a peer domain's members in the contact list
 * where both policies allow, and a channel across checked against the other domain's CA.
 *
 *   A (a.example, allow-all): alice, mallory. A denies mallory all of b.example, and alice carol@b.
 *   B (b.example, deny-all):  bob, carol. B lets alice@a reach bob and carol, and bob reach alice@a.
 */
let a: TestServer;
let b: TestServer;
let dir: string;
const terminals: Terminal[] = [];

before(async () => {
  [a, b] = await Promise.all([
    startTestServer({ domain: 'a.example' }),
    startTestServer({ domain: 'b.example', policy: 'deny-all' }),
  ]);
  for (const [src, dst] of [
    ['mallory', 'domain:b.example'],
    ['alice', 'carol@b.example'],
  ] as const)
    addRule(a.admin, { domain: a.domain }, 'deny', src, dst);
  for (const [src, dst] of [
    ['alice@a.example', 'bob'],
    ['alice@a.example', 'carol'],
    ['bob', 'alice@a.example'],
  ] as const)
    addRule(b.admin, { domain: b.domain }, 'allow', src, dst);
  await Promise.all([a.peer(b), b.peer(a)]);
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-federation-'));
});
after(async () => {
  await Promise.all(terminals.map((x) => x.stop()));
  await Promise.all([a.close(), b.close()]);
  await rm(dir, { recursive: true, force: true });
});

async function join_(
  t: TestServer,
  user: string,
  o: Parameters<typeof enrolledTerminal>[3] = {},
): Promise<Terminal> {
  const { terminal } = await enrolledTerminal(t, dir, user, o);
  terminals.push(terminal);
  return terminal;
}

const names = (list: readonly ContactView[]) => list.map((c) => `${c.user}${c.online ? '' : ' (offline)'}`);

/** Resolves once `x`'s contact list, as the API shows it, is `expected` (names, offline marked). */
async function contactsBecome(x: Terminal, expected: string[], timeoutMs = 5_000): Promise<void> {
  if (JSON.stringify(names(x.snapshot().contacts)) === JSON.stringify(expected)) return;
  await nextEvent(
    x,
    (e) => e.type === 'contacts' && JSON.stringify(names(e.data)) === JSON.stringify(expected),
    timeoutMs,
  ).catch(() => assert.deepEqual(names(x.snapshot().contacts), expected));
}

let alice: Terminal;
let bob: Terminal;

test('a peer domain’s members are listed where both policies allow them, called by their full address', async () => {
  alice = await join_(a, 'alice');
  bob = await join_(b, 'bob', { acceptFrom: ['alice@a.example'], autoAcceptFiles: true });
  const mallory = await join_(a, 'mallory');
  await join_(b, 'carol');
  // alice: mallory of her own domain, and bob (B allows; carol is allowed by B but denied by A).
  await contactsBecome(alice, ['mallory', 'bob@b.example']);
  // bob: no one of b.example, alice of a.example (A allows everyone; B lets bob reach alice only).
  await contactsBecome(bob, ['alice@a.example']);
  // mallory: A denies her the whole of b.example, so her terminal is not even told of it.
  await contactsBecome(mallory, ['alice']);
  const entry = alice.snapshot().contacts.find((c) => c.user === 'bob@b.example')!;
  assert.equal(entry.aor, 'sip:bob@b.example');
  assert.equal(entry.devices.length, 1);
  assert.ok(entry.devices[0]!.online);
});

test('a channel across domains is checked against the other domain’s CA, fetched through the path, and a file crosses', async () => {
  await Promise.all([untilIssued(alice), untilIssued(bob)]);
  const aliceSecure = nextEvent(alice, channelPhase('secure'), 10_000);
  const bobSecure = nextEvent(bob, channelPhase('secure'), 10_000);
  // Opened as the contact list names him.
  const { channelId } = await alice.call('channel.open', { user: 'bob@b.example' });
  const mine = (await aliceSecure).data as ChannelView;
  const theirs = (await bobSecure).data as ChannelView;
  assert.equal(mine.peer, 'sip:bob@b.example');
  assert.equal(theirs.peer, 'sip:alice@a.example');
  assert.equal(mine.issuer, 'b.example', 'bob’s certificate checked against B’s CA');
  assert.equal(theirs.issuer, 'a.example', 'alice’s certificate checked against A’s CA');
  assert.equal(mine.verificationCode, theirs.verificationCode);
  assert.equal(mine.path?.secure, true);
  assert.equal(mine.path?.hops.length, 3, 'alice, A, B');

  const file = join(dir, 'across.bin');
  const content = randomBytes(256 * 1024);
  await writeFile(file, content);
  const done = nextEvent(bob, (e) => e.type === 'transfer' && e.data.state === 'done', 10_000);
  const sent = nextEvent(alice, (e) => e.type === 'transfer' && e.data.state === 'done', 10_000);
  await alice.call('transfer.send', { channelId, paths: [file] });
  const got = (await done).data as TransferView;
  const mineDone = (await sent).data as TransferView;
  assert.equal(mineDone.size, content.length, 'the sender shows the file’s size');
  assert.equal(mineDone.bytesDone, content.length);
  const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
  assert.equal(sha(await readFile(got.savedAs!)), sha(content));
});

test('the key list of a peer domain’s member must carry a CA that issued its certificates', async () => {
  const view = await alice.call('keys.get', { user: 'bob@b.example' });
  assert.equal(new X509Certificate(view.ca!).fingerprint256, new X509Certificate(b.ca).fingerprint256);
  assert.equal(view.keys.length, 1);
  const body = (ca: unknown) => JSON.stringify({ version: 1, aor: view.aor, keys: view.keys, ca });
  assert.equal(parseKeys(body(view.ca), view.aor, undefined)?.keys.length, 1, 'the real list parses');
  assert.equal(parseKeys(body(undefined), view.aor, undefined), undefined, 'no CA: refused');
  assert.equal(parseKeys(body('not a certificate'), view.aor, undefined), undefined);
  assert.equal(
    parseKeys(body(view.keys[0]!.certificate), view.aor, undefined),
    undefined,
    'bob’s own certificate is not a CA',
  );
  assert.deepEqual(
    parseKeys(body(a.ca), view.aor, undefined)?.keys,
    [],
    'a key not issued by the CA that came with it is dropped',
  );
  // alice's own domain is checked against her own CA, whatever a list carries.
  assert.deepEqual(parseKeys(body(view.ca), view.aor, a.ca)?.keys, []);
});

test('B revoking bob’s device reaches alice through A and closes her channel to him', async () => {
  const aliceSecure = nextEvent(alice, channelPhase('secure'), 10_000);
  await alice.call('channel.open', { user: 'bob@b.example' });
  const open = (await aliceSecure).data as ChannelView;
  const closed = nextEvent(
    alice,
    (e) =>
      e.type === 'channel' &&
      e.data.id === open.id &&
      (e.data.phase === 'ended' || e.data.phase === 'failed'),
    10_000,
  );
  const device = b.admin.devices.list('bob').find((d) => d.revokedAt === null)!;
  b.admin.devices.revoke('bob', device.id);
  const view = (await closed).data as ChannelView;
  assert.match(view.reason ?? '', /revoked/);
  // bob stays a contact, offline: his only device is revoked.
  await contactsBecome(alice, ['mallory', 'bob@b.example (offline)']);
});

test('when A stops peering with b.example, its members leave the contact list', async () => {
  const dave = await join_(b, 'dave');
  addRule(b.admin, { domain: b.domain }, 'allow', 'alice@a.example', 'dave');
  await contactsBecome(alice, ['mallory', 'bob@b.example (offline)', 'dave@b.example']);
  await dave.stop();
  await contactsBecome(alice, ['mallory', 'bob@b.example (offline)', 'dave@b.example (offline)']);
  a.admin.peers.remove('b.example');
  await contactsBecome(alice, ['mallory']);
});

test('sip.js refreshes a peer domain’s contact list in its dialog, through A to B’s notifier', async () => {
  await a.peer(b); // removed by the test before
  // Expiring every 2 s, the subscription is refreshed at 90 % of that: twice within ~4 s.
  const mark = b.logs.length;
  const erin = await join_(a, 'erin', { signalling: { contactsExpires: 2 } });
  const before = ['alice', 'mallory']; // B lets no one of b.example be reached by erin (yet)
  await contactsBecome(erin, before);
  const refreshes = () =>
    b.logs.slice(mark).filter((l) => l.msg === 'subscription refreshed' && l.subscriber === 'erin@a.example')
      .length;
  await b.until(() => refreshes() >= 2, 'two refreshes of erin’s subscription at B', 8_000);
  // Still the same subscription, still live: a change at B reaches erin.
  b.addUser('zoe');
  addRule(b.admin, { domain: b.domain }, 'allow', 'domain:a.example', 'zoe');
  await contactsBecome(erin, [...before, 'zoe@b.example (offline)']);
  await erin.stop();
});
