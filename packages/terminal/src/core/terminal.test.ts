import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChannelView, type TransferView } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { nextEvent } from './events.js';
import { channelPhase, enrolledTerminal } from './testing.js';
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

async function join_(user: string, acceptFrom: string[] = [], autoAcceptFiles = false): Promise<Terminal> {
  const { terminal } = await enrolledTerminal(t, dir, user, { acceptFrom, autoAcceptFiles });
  terminals.push(terminal);
  return terminal;
}

const next = nextEvent;

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

test('a long-running terminal keeps only the newest finished channels in its snapshot', async () => {
  addRule(t.admin, { domain: t.domain }, 'allow', 'kim', 'lee');
  const { terminal: kim } = await enrolledTerminal(t, dir, 'kim', { keepFinished: 2 });
  terminals.push(kim);
  const lee = await join_('lee');
  await t.reachable('kim', 'lee'); // lee exists only now
  const opened: string[] = [];
  for (let i = 0; i < 4; i++) {
    const ringing = next(lee, channelPhase('ringing'));
    const declined = next(kim, channelPhase('declined'));
    opened.push((await kim.call('channel.open', { user: 'lee' })).channelId);
    await lee.call('channel.decline', { channelId: ((await ringing).data as ChannelView).id });
    await declined;
  }
  assert.deepEqual(
    kim.snapshot().channels.map((c) => c.id),
    opened.slice(-2),
    'the two oldest declined channels are forgotten',
  );
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
      const { terminal } = await enrolledTerminal(first, local, user, {
        acceptFrom: ['alice'],
        autoAcceptFiles: true,
      });
      started.push(terminal);
      return terminal;
    };
    const alice = await enrolled('alice');
    const bob = await enrolled('bob'); // accepts alice without asking
    const secure = next(alice, channelPhase('secure'));
    const bobSecure = next(bob, channelPhase('secure'));
    const { channelId } = await alice.call('channel.open', { user: 'bob' });
    await secure;
    await bobSecure;

    const reconnecting = Promise.all(
      [alice, bob].map((x) => next(x, (e) => e.type === 'connection' && e.data.state === 'reconnecting')),
    );
    await first.close();
    await reconnecting;
    // The data channel never crossed the server: a file still goes through while the server is down.
    const file = join(local, 'while-down.txt');
    await writeFile(file, 'still here');
    const received = next(bob, (e) => e.type === 'transfer' && e.data.state === 'done');
    await alice.call('transfer.send', { channelId, paths: [file] });
    const view = (await received).data as TransferView;
    assert.equal(await readFile(view.savedAs!, 'utf8'), 'still here');

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

test('files and a folder cross the channel: offered, accepted by the receiver, verified on disk', async () => {
  const erin = await join_('erin');
  const frank = await join_('frank', ['erin']);
  addRule(t.admin, { domain: t.domain }, 'allow', 'erin', 'frank');
  await t.reachable('erin', 'frank');
  const secure = next(erin, channelPhase('secure'));
  const frankSecure = next(frank, channelPhase('secure'));
  const { channelId } = await erin.call('channel.open', { user: 'frank' });
  await Promise.all([secure, frankSecure]);

  const src = join(dir, 'erin-files');
  await mkdir(join(src, 'album', 'day 1'), { recursive: true });
  const big = randomBytes(3 * 1024 * 1024 + 17);
  await writeFile(join(src, 'report.bin'), big);
  await writeFile(join(src, 'album', 'day 1', 'a.txt'), 'first');
  await writeFile(join(src, 'album', 'b.txt'), 'second');

  // frank is asked about each file and accepts it through the API.
  const accepted = new Set<string>();
  const offFrank = frank.subscribe((e) => {
    if (e.type === 'transfer' && e.data.state === 'offered' && !accepted.has(e.data.id)) {
      accepted.add(e.data.id);
      void frank.call('transfer.accept', { transferId: e.data.id });
    }
  });
  const done = new Map<string, TransferView>();
  const allDone = new Promise<void>((resolve) => {
    const off = frank.subscribe((e) => {
      if (e.type === 'transfer' && e.data.state === 'done') done.set(e.data.id, e.data);
      if (done.size === 3) {
        off();
        resolve();
      }
    });
  });
  const { transferIds } = await erin.call('transfer.send', {
    channelId,
    paths: [join(src, 'report.bin'), join(src, 'album')],
  });
  assert.equal(transferIds.length, 3, 'one transfer per file');
  await allDone;
  offFrank();

  const downloads = join(dir, 'frank-downloads');
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(await readFile(join(downloads, 'report.bin'))), sha(big));
  assert.equal(await readFile(join(downloads, 'album', 'day 1', 'a.txt'), 'utf8'), 'first');
  assert.equal(await readFile(join(downloads, 'album', 'b.txt'), 'utf8'), 'second');
  const views = [...done.values()];
  assert.ok(views.every((v) => v.bytesDone === v.size && v.savedAs));
  assert.ok(
    (await readdir(downloads)).every((f) => !f.includes('.part')),
    'no temporary files left',
  );
  await assert.rejects(
    erin.call('transfer.send', { channelId, paths: [join(src, 'missing')] }),
    /cannot read/,
  );
});

test('three terminals: contacts follow the policy, and presence changes reach a terminal within a second', async (tc) => {
  addRule(t.admin, { domain: t.domain }, 'allow', 'ivy', 'jack');
  const ivy = await join_('ivy');
  const online = next(ivy, (e) => e.type === 'contacts' && e.data.some((c) => c.user === 'jack' && c.online));
  const started = Date.now();
  const jack = await join_('jack');
  await join_('kate'); // exists, registered, but the policy hides her from ivy
  await online;
  const elapsed = Date.now() - started;
  tc.diagnostic(`enrol + register jack → ivy sees him online: ${elapsed} ms`);
  assert.deepEqual(
    ivy.snapshot().contacts.map((c) => c.user),
    ['jack'],
  );
  const offline = next(
    ivy,
    (e) => e.type === 'contacts' && e.data.some((c) => c.user === 'jack' && !c.online),
  );
  const stopped = Date.now();
  await jack.stop();
  await offline;
  const wentOffline = Date.now() - stopped;
  tc.diagnostic(`jack stops → ivy sees him offline: ${wentOffline} ms`);
  assert.ok(wentOffline < 1000, `${wentOffline} ms`);
});

test('a connection broken mid-file: the sender opens a new channel and the file finishes verified', async () => {
  addRule(t.admin, { domain: t.domain }, 'allow', 'lena', 'mike');
  const lena = await join_('lena');
  const mike = await join_('mike', ['lena'], true);
  const secure = next(lena, channelPhase('secure'));
  const { channelId } = await lena.call('channel.open', { user: 'mike' });
  await secure;
  const file = join(dir, 'big.bin');
  const content = randomBytes(192 * 1024 * 1024);
  await writeFile(file, content);

  // Break the connection as soon as the receiver has some of the file, but not all.
  let broken = false;
  const offBreak = mike.subscribe((e) => {
    if (!broken && e.type === 'transfer' && e.data.bytesDone > 0 && e.data.bytesDone < e.data.size) {
      broken = true;
      lena.secureChannel(channelId)!.channel!.stream.destroy();
    }
  });
  const done = next(
    mike,
    (e) => e.type === 'transfer' && e.data.state === 'done' && e.data.name === 'big.bin',
    30_000,
  );
  await lena.call('transfer.send', { channelId, paths: [file] });
  const view = (await done).data as TransferView;
  offBreak();
  assert.ok(broken, 'the connection was broken mid-file');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(await readFile(view.savedAs!)), sha(content));
  const channels = lena.snapshot().channels;
  assert.ok(
    channels.filter((c) => c.peer === `sip:mike@${t.domain}`).length >= 2,
    'a second channel was opened',
  );
});
