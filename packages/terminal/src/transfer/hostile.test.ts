/**
 * A hostile peer: a raw TLS client that writes crafted frames to a receiving TransferSession. The
 * receiver must answer with a clear ERROR (or neutralise the name), never crash, and never create
 * anything outside its download folder.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { FrameDecoder, FrameType, encodeData, encodeEnd, encodeHello, encodeOffer } from '@tsunagu/protocol';
import type { Frame } from '@tsunagu/protocol';
import { PARTIAL_DIR } from './store.js';
import { TransferSession } from './session.js';
import type { SessionEnd } from './session.js';
import type { IncomingTransfer } from './transfer.js';
import { selfSigned, tlsPair } from './testing.js';
import type { Credentials } from './testing.js';

let creds: Credentials;
let root: string;
let n = 0;

before(async () => {
  creds = await selfSigned();
  root = await mkdtemp(join(tmpdir(), 'tsunagu-hostile-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const TID = (i: number): string => `hostile-transfer-${String(i).padStart(6, '0')}`;

/** The attacker's end: writes raw bytes, reads the receiver's frames. */
class Attacker {
  private readonly decoder = new FrameDecoder();
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: TLSSocket) {
    socket.on('data', (c: Buffer) => {
      this.decoder.push(c);
      for (let f = this.decoder.next(); f; f = this.decoder.next())
        if (f.type !== 'data-piece') this.frames.push(f);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.on('close', () => r()));
  }

  send(...frames: Uint8Array[]): void {
    for (const f of frames) this.socket.write(f);
  }

  async expect(type: Frame['type'], id?: number): Promise<Frame> {
    for (;;) {
      const f = this.frames.find((x) => x.type === type && (id === undefined || !('id' in x) || x.id === id));
      if (f) return f;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

interface Setup {
  attacker: Attacker;
  session: TransferSession;
  downloads: string;
  base: string;
}

async function setup(): Promise<Setup> {
  const base = join(root, `h${++n}`);
  const downloads = join(base, 'downloads');
  await mkdir(downloads, { recursive: true });
  const { client, server } = await tlsPair(creds);
  const session = new TransferSession(server, { downloadDir: downloads, autoAccept: true, peer: 'mallory' });
  const attacker = new Attacker(client);
  attacker.send(encodeHello());
  return { attacker, session, downloads, base };
}

/** Every path under `dir`, relative. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** Nothing but the download folder in the test's base folder, and nothing in it resolves outside. */
async function assertContained(s: Setup): Promise<void> {
  assert.deepEqual(await readdir(s.base), ['downloads']);
  const realDownloads = await realpath(s.downloads);
  for (const rel of await tree(s.downloads)) {
    const real = await realpath(join(s.downloads, rel));
    assert.ok(real.startsWith(realDownloads + sep), `${rel} → ${real}`);
  }
}

/** A protocol violation: the receiver sends ERROR, closes, and reports it; nothing escapes. */
async function assertProtocolError(s: Setup, pattern: RegExp, code = 'protocol-error'): Promise<SessionEnd> {
  const err = await s.attacker.expect('error');
  assert.equal(err.type === 'error' && err.code, code);
  assert.match(err.type === 'error' ? err.message : '', pattern);
  await s.attacker.closed;
  const end = await s.session.closed;
  assert.equal(end.reason, 'error');
  assert.equal(end.problem?.code, code);
  await assertContained(s);
  return end;
}

function header(length: number, type: number): Uint8Array {
  const b = new Uint8Array(5);
  new DataView(b.buffer).setUint32(0, length);
  b[4] = type;
  return b;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('a hostile peer', () => {
  it('a huge frame length: refused from the header, nothing buffered', async () => {
    const s = await setup();
    s.attacker.send(header(0xffffffff, FrameType.DATA));
    await assertProtocolError(s, /exceeds the limit/);
  });

  it('an unknown frame type: a clear protocol error', async () => {
    const s = await setup();
    s.attacker.send(header(1, 0x7e));
    await assertProtocolError(s, /unknown frame type 0x7e/);
  });

  it('another major version: refused cleanly with a version error', async () => {
    const base = join(root, `h${++n}`);
    await mkdir(join(base, 'downloads'), { recursive: true });
    const { client, server } = await tlsPair(creds);
    const session = new TransferSession(server, { downloadDir: join(base, 'downloads') });
    const attacker = new Attacker(client);
    attacker.send(encodeHello({ major: 2, minor: 0 }));
    const err = await attacker.expect('error');
    assert.deepEqual(err, {
      type: 'error',
      code: 'version',
      message: 'unsupported data-channel protocol 2.0: this terminal speaks 1.x',
    });
    const end = await session.closed;
    assert.equal(end.problem?.code, 'version');
    await assert.rejects(session.ready, /unsupported data-channel protocol 2\.0/);
  });

  it('data for a file that was never offered', async () => {
    const s = await setup();
    s.attacker.send(encodeData(42, 0, new Uint8Array(10)));
    await assertProtocolError(s, /DATA for file 42, which was never offered/);
  });

  it('data past the offered size', async () => {
    const s = await setup();
    s.attacker.send(encodeOffer({ id: 1, transfer: TID(1), path: ['small.txt'], size: 10 }));
    await s.attacker.expect('accept', 1);
    s.attacker.send(encodeData(1, 0, new Uint8Array(11)));
    await assertProtocolError(s, /past its offered size/);
    assert.deepEqual(await readdir(s.downloads), [PARTIAL_DIR]);
  });

  it('an offset that skips ahead, and one that overflows 2^53', async () => {
    let s = await setup();
    s.attacker.send(encodeOffer({ id: 1, transfer: TID(2), path: ['a'], size: 100 }));
    await s.attacker.expect('accept', 1);
    s.attacker.send(encodeData(1, 50, new Uint8Array(10)));
    await assertProtocolError(s, /at offset 50, expected 0/);

    s = await setup();
    const overflow = new Uint8Array(5 + 12 + 1);
    const view = new DataView(overflow.buffer);
    view.setUint32(0, 1 + 12 + 1);
    overflow[4] = FrameType.DATA;
    view.setUint32(5, 1);
    view.setUint32(9, 0xffffffff); // offset ≈ 2^64: negative as a signed number
    s.attacker.send(overflow);
    await assertProtocolError(s, /beyond 2\^53/);
  });

  it('data before it was accepted, and an END before all bytes', async () => {
    let s = await setup();
    await s.session.close();
    const base = join(root, `h${++n}`);
    await mkdir(join(base, 'downloads'), { recursive: true });
    const { client, server } = await tlsPair(creds);
    const session = new TransferSession(server, { downloadDir: join(base, 'downloads') }); // asks the user
    const attacker = new Attacker(client);
    attacker.send(encodeHello(), encodeOffer({ id: 1, transfer: TID(3), path: ['a'], size: 5 }));
    await new Promise((r) => session.once('incoming', r));
    attacker.send(encodeData(1, 0, new Uint8Array(5)));
    await assertProtocolError(
      { attacker, session, downloads: join(base, 'downloads'), base },
      /before ACCEPT/,
    );

    s = await setup();
    s.attacker.send(encodeOffer({ id: 1, transfer: TID(4), path: ['a'], size: 5 }));
    await s.attacker.expect('accept', 1);
    s.attacker.send(
      encodeData(1, 0, new Uint8Array(2)),
      encodeEnd({ id: 1, sha256: sha(new Uint8Array(2)) }),
    );
    await assertProtocolError(s, /END for file 1 after 2 of 5 bytes/);
  });

  it('offer ids that do not increase', async () => {
    const s = await setup();
    s.attacker.send(
      encodeOffer({ id: 5, transfer: TID(5), path: ['a'], size: 1 }),
      encodeOffer({ id: 5, transfer: TID(6), path: ['b'], size: 1 }),
    );
    await assertProtocolError(s, /OFFER ids must increase/);
  });

  it('a wrong SHA-256: the file is refused and its temporary file removed', async () => {
    const s = await setup();
    const bytes = new Uint8Array(1000).fill(7);
    const incoming = new Promise<IncomingTransfer>((r) => s.session.once('incoming', r));
    s.attacker.send(encodeOffer({ id: 1, transfer: TID(7), path: ['x.bin'], size: 1000 }));
    await s.attacker.expect('accept', 1);
    s.attacker.send(encodeData(1, 0, bytes), encodeEnd({ id: 1, sha256: 'ab'.repeat(32) }));
    const r = await s.attacker.expect('report', 1);
    assert.equal(r.type === 'report' && !r.report.ok && r.report.code, 'hash-mismatch');
    const outcome = await (await incoming).done;
    assert.equal(outcome.status === 'failed' && outcome.problem.code, 'hash-mismatch');
    assert.deepEqual(await tree(s.downloads), [PARTIAL_DIR]);
    await s.session.close();
  });

  // Each offered path, and the name it must get. The file is sent in full with the right hash, so the
  // receiver really saves it; then it must be inside the download folder under exactly that name.
  const names: [string, string[], string][] = [
    ['dot-dot traversal', ['..', '..', 'escaped.txt'], '_/_/escaped.txt'],
    ['traversal inside one segment', ['../../escaped.txt'], '.._.._escaped.txt'],
    ['absolute POSIX path', ['/etc/passwd'], '_etc_passwd'],
    ['absolute path split in segments', ['/', 'tmp', 'x'], '_/tmp/x'],
    ['drive letter', ['C:', 'Windows', 'evil.dll'], 'C_/Windows/evil.dll'],
    ['backslashes', ['..\\..\\evil.txt'], '.._.._evil.txt'],
    ['NUL byte', ['a\u0000.txt'], 'a_.txt'],
    ['control characters', ['bell\u0007\r\n.txt'], 'bell___.txt'],
    ['reserved device name', ['CON'], '_CON'],
    ['reserved device name with extension', ['nul.txt'], '_nul.txt'],
    ['COM1 as a folder', ['COM1', 'x.txt'], '_COM1/x.txt'],
    ['trailing dots and spaces', ['name . .'], 'name'],
    ['only dots', ['...'], '_'],
    ['overlong name (300 bytes)', ['é'.repeat(150)], 'é'.repeat(127)],
    ['our own bookkeeping folder', [PARTIAL_DIR, 'x.part'], `_${PARTIAL_DIR}/x.part`],
  ];
  for (const [what, path, expected] of names) {
    it(`name: ${what} → ${JSON.stringify(expected.slice(0, 40))}`, async () => {
      const s = await setup();
      const bytes = new TextEncoder().encode(`payload of ${what}`);
      const incoming = new Promise<IncomingTransfer>((r) => s.session.once('incoming', r));
      s.attacker.send(encodeOffer({ id: 1, transfer: TID(100 + n), path, size: bytes.length }));
      await s.attacker.expect('accept', 1);
      s.attacker.send(encodeData(1, 0, bytes), encodeEnd({ id: 1, sha256: sha(bytes) }));
      const r = await s.attacker.expect('report', 1);
      assert.equal(r.type === 'report' && r.report.ok, true, JSON.stringify(r));
      const outcome = await (await incoming).done;
      assert.equal(outcome?.status, 'verified');
      const savedAs = outcome?.status === 'verified' ? (outcome.savedAs ?? '') : '';
      assert.equal(savedAs, join(s.downloads, ...expected.split('/')));
      assert.deepEqual(await readFile(savedAs), Buffer.from(bytes));
      await s.session.close();
      await assertContained(s);
    });
  }

  it('a path too long to keep is declined with bad-name, the channel stays up', async () => {
    const s = await setup();
    s.attacker.send(encodeOffer({ id: 1, transfer: TID(8), path: Array(30).fill('d'.repeat(200)), size: 1 }));
    const d = await s.attacker.expect('decline', 1);
    assert.equal(d.type === 'decline' && d.code, 'bad-name');
    s.attacker.send(encodeOffer({ id: 2, transfer: TID(9), path: ['ok.txt'], size: 0 }));
    await s.attacker.expect('accept', 2);
    s.attacker.send(encodeEnd({ id: 2, sha256: sha(new Uint8Array(0)) }));
    await s.attacker.expect('report', 2);
    await s.session.close();
    await assertContained(s);
  });

  it('a flood of offers nobody answers is bounded', async () => {
    const base = join(root, `h${++n}`);
    await mkdir(join(base, 'downloads'), { recursive: true });
    const { client, server } = await tlsPair(creds);
    const session = new TransferSession(server, {
      downloadDir: join(base, 'downloads'),
      maxPendingOffers: 10,
    });
    const attacker = new Attacker(client);
    attacker.send(encodeHello());
    for (let i = 1; i <= 20; i++)
      attacker.send(encodeOffer({ id: i, transfer: TID(1000 + i), path: ['f'], size: 1 }));
    const d = await attacker.expect('decline', 20);
    assert.equal(d.type === 'decline' && d.code, 'too-many-offers');
    await session.close();
  });

  it('a flood of accepted offers waiting for a free place is bounded too', { timeout: 20_000 }, async () => {
    const base = join(root, `h${++n}`);
    await mkdir(join(base, 'downloads'), { recursive: true });
    const { client, server } = await tlsPair(creds);
    // Auto-accepted offers wait for one open file: the first is accepted and never finished.
    const session = new TransferSession(server, {
      downloadDir: join(base, 'downloads'),
      autoAccept: true,
      maxOpenIncoming: 1,
      maxPendingOffers: 10,
    });
    const attacker = new Attacker(client);
    try {
      attacker.send(encodeHello(), encodeOffer({ id: 1, transfer: TID(2000), path: ['f'], size: 1 }));
      await attacker.expect('accept', 1);
      // Each is accepted right after its 'incoming' (autoAccept), before this test goes on.
      let offered = 0;
      const waiting = new Promise<void>((r) => session.on('incoming', () => ++offered === 10 && r()));
      for (let i = 2; i <= 11; i++)
        attacker.send(encodeOffer({ id: i, transfer: TID(2000 + i), path: ['f'], size: 1 }));
      await waiting;
      attacker.send(encodeOffer({ id: 12, transfer: TID(2012), path: ['f'], size: 1 }));
      const d = await attacker.expect('decline', 12);
      assert.equal(d.type === 'decline' && d.code, 'too-many-offers');
      assert.ok(!attacker.frames.some((f) => f.type === 'accept' && f.id > 1), 'the others still wait');
    } finally {
      await session.close();
    }
  });
});
