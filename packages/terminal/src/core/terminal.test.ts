import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatJoinLink, type ChannelView, type TerminalEvent } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { credentialsOf, enrolProfile } from './account.js';
import { Terminal } from './terminal.js';

/** Terminals enrolled with real invite links, talking through the real server, as the API shows it. */

let t: TestServer;
let dir: string;
const terminals: Terminal[] = [];

before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'bob');
  addRule(t.admin, { domain: t.domain }, 'allow', 'bob', 'alice');
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-terminal-'));
});
after(async () => {
  await Promise.all(terminals.map((x) => x.stop()));
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

async function join_(user: string, acceptFrom: string[] = []): Promise<Terminal> {
  if (!t.admin.users.get(user)) t.admin.users.add(user, { realm: t.domain });
  const { token } = t.admin.invites.create(user, 60_000);
  const link = formatJoinLink({
    server: `127.0.0.1:${t.sip.port}`,
    https: `127.0.0.1:${t.https.port}`,
    caFingerprint: t.server.caFingerprint,
    user,
    token,
    domain: t.domain,
  });
  const profile = await enrolProfile(join(dir, user), link);
  const credentials = (await credentialsOf(profile))!;
  assert.ok(credentials, 'the profile holds what the device needs from now on');
  const terminal = await Terminal.start({
    profile,
    credentials,
    acceptFrom,
    channel: { addresses: ['127.0.0.1'], localAddresses: ['127.0.0.1'] },
    signalling: { networkWatch: false, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } },
  });
  terminals.push(terminal);
  return terminal;
}

function next(terminal: Terminal, pred: (e: TerminalEvent) => boolean, ms = 5000): Promise<TerminalEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('event did not come'));
    }, ms);
    const off = terminal.subscribe((e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}
const channelPhase = (phase: string) => (e: TerminalEvent) => e.type === 'channel' && e.data.phase === phase;

test('enrolled by invite links, alice sees bob (not carol) and opens a verified channel he accepts', async () => {
  const alice = await join_('alice');
  const bob = await join_('bob');
  await join_('carol');
  const contacts = alice.snapshot().contacts.length
    ? alice.snapshot().contacts
    : ((await next(alice, (e) => e.type === 'contacts')).data as { user: string }[]);
  assert.deepEqual(
    contacts.map((c) => c.user),
    ['bob'],
    'carol is hidden by the policy',
  );
  assert.equal(alice.snapshot().connection.state, 'registered');

  const ringing = next(bob, channelPhase('ringing'));
  const { channelId } = await alice.call('channel.open', { user: 'bob' });
  const incoming = (await ringing).data as ChannelView;
  assert.equal(incoming.peer, `sip:alice@${t.domain}`, 'the caller as the server asserted it');
  const bobSecure = next(bob, channelPhase('secure'));
  const aliceSecure = next(alice, channelPhase('secure'));
  await bob.call('channel.accept', { channelId: incoming.id });
  const [a, b] = [(await aliceSecure).data as ChannelView, (await bobSecure).data as ChannelView];
  assert.equal(a.id, channelId);
  assert.equal(a.verificationCode, b.verificationCode);
  assert.equal(a.peer, `sip:bob@${t.domain}`);

  const ended = next(bob, channelPhase('ended'));
  await alice.call('channel.close', { channelId });
  assert.match(((await ended).data as ChannelView).reason ?? '', /peer/);
});

test('the event stream is ordered and a snapshot tells where it stands', async () => {
  const dave = await join_('dave');
  const seqs: number[] = [];
  const off = dave.subscribe((e) => seqs.push(e.seq));
  const before = dave.snapshot().seq;
  const closed = next(dave, channelPhase('failed'));
  await dave.call('channel.open', { user: 'nobody' });
  await closed;
  off();
  assert.ok(seqs.length >= 2);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => before + 1 + i),
    'consecutive sequence numbers',
  );
  await assert.rejects(dave.call('channel.accept', { channelId: 'nope' }), /no channel/);
});

test('server restart mid-session: the open channel keeps working and both terminals re-register by themselves', async () => {
  const first = await startTestServer();
  const ports = { sip: first.sip.port, wss: first.https.port };
  const local = await mkdtemp(join(tmpdir(), 'tsunagu-restart-'));
  const started: Terminal[] = [];
  let second: TestServer | undefined;
  try {
    const enrolled = async (user: string) => {
      first.admin.users.add(user, { realm: first.domain });
      const { token } = first.admin.invites.create(user, 60_000);
      const profile = await enrolProfile(
        join(local, user),
        formatJoinLink({
          server: `127.0.0.1:${first.sip.port}`,
          https: `127.0.0.1:${first.https.port}`,
          caFingerprint: first.server.caFingerprint,
          user,
          token,
          domain: first.domain,
        }),
      );
      const term = await Terminal.start({
        profile,
        credentials: (await credentialsOf(profile))!,
        acceptFrom: ['alice'],
        channel: { addresses: ['127.0.0.1'], localAddresses: ['127.0.0.1'] },
        signalling: { networkWatch: false, reconnect: { initialDelayMs: 100, maxDelayMs: 400 } },
      });
      started.push(term);
      return term;
    };
    const alice = await enrolled('alice');
    const bob = await enrolled('bob'); // accepts alice without asking
    const secure = next(alice, channelPhase('secure'));
    const bobSecure = next(bob, channelPhase('secure'));
    const { channelId } = await alice.call('channel.open', { user: 'bob' });
    await secure;
    const bobChannel = (await bobSecure).data as ChannelView;

    const reconnecting = Promise.all(
      [alice, bob].map((x) => next(x, (e) => e.type === 'connection' && e.data.state === 'reconnecting')),
    );
    await first.close();
    await reconnecting;
    // The data channel never crossed the server: it still carries data while the server is down.
    const aliceStream = alice.secureChannel(channelId)!.channel!.stream;
    const bobStream = bob.secureChannel(bobChannel.id)!.channel!.stream;
    const got = new Promise<string>((r) => bobStream.once('data', (d: Buffer) => r(d.toString())));
    aliceStream.write('still here');
    assert.equal(await got, 'still here');

    const registered = Promise.all(
      [alice, bob].map((x) =>
        next(x, (e) => e.type === 'connection' && e.data.state === 'registered', 10_000),
      ),
    );
    second = await startTestServer({
      dataDir: first.dataDir,
      server: { sip: { host: '127.0.0.1', port: ports.sip }, wss: { host: '127.0.0.1', port: ports.wss } },
    });
    await registered;
    assert.equal(second.server.context.location.bindings('alice').length, 1);
    assert.equal(alice.snapshot().channels.find((c) => c.id === channelId)?.phase, 'secure');
  } finally {
    await Promise.all(started.map((x) => x.stop()));
    await second?.close();
    await rm(local, { recursive: true, force: true });
  }
});
