import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { PARTIAL_DIR } from './store.js';
import { TransferSession } from './session.js';
import type { TransferSessionOptions } from './session.js';
import type { IncomingTransfer, TransferOutcome } from './transfer.js';
import { randomFile, selfSigned, sha256File, tlsPair } from './testing.js';
import type { Credentials } from './testing.js';

const MB = 1_000_000;
let creds: Credentials;
let root: string;
let n = 0;

before(async () => {
  creds = await selfSigned();
  root = await mkdtemp(join(tmpdir(), 'tsunagu-transfer-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Pair {
  a: TransferSession;
  b: TransferSession;
  client: TLSSocket;
  server: TLSSocket;
  aDir: string;
  bDir: string;
  close(): Promise<void>;
}

/** A fresh test folder with a source folder and both sides' download folders. */
async function folders(): Promise<{ src: string; aDir: string; bDir: string }> {
  const base = join(root, `t${++n}`);
  const f = { src: join(base, 'src'), aDir: join(base, 'a-downloads'), bDir: join(base, 'b-downloads') };
  await mkdir(f.src, { recursive: true });
  return f;
}

async function pair(
  dirs: { aDir: string; bDir: string },
  a: Partial<TransferSessionOptions> = {},
  b: Partial<TransferSessionOptions> = {},
): Promise<Pair> {
  const { client, server } = await tlsPair(creds);
  const sa = new TransferSession(client, {
    downloadDir: dirs.aDir,
    peer: 'sip:b@example.org',
    autoAccept: true,
    ...a,
  });
  const sb = new TransferSession(server, {
    downloadDir: dirs.bDir,
    peer: 'sip:a@example.org',
    autoAccept: true,
    ...b,
  });
  return {
    a: sa,
    b: sb,
    client,
    server,
    ...dirs,
    async close() {
      await Promise.all([sa.close(), sb.close()]);
    },
  };
}

const nextIncoming = (s: TransferSession): Promise<IncomingTransfer> =>
  new Promise((r) => s.once('incoming', r));

function assertVerified(o: TransferOutcome): asserts o is Extract<TransferOutcome, { status: 'verified' }> {
  assert.equal(o.status, 'verified', JSON.stringify(o));
}

async function partialFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, PARTIAL_DIR)).catch(() => [] as string[])).filter((f) =>
    /\.(part|json)$/.test(f),
  );
}

describe('transfer over a real TLS 1.3 connection', () => {
  it('sends a 200 MB file, verified on disk, with bounded progress events', async () => {
    const f = await folders();
    const src = join(f.src, 'big.bin');
    const sha = await randomFile(src, 200 * MB);
    const p = await pair(f);
    const events: { at: number; bytes: number; total: number; rate: number; eta: number | undefined }[] = [];
    const incoming = nextIncoming(p.b);
    const t = p.a.sendFile(src);
    const inT = await incoming;
    inT.on('progress', (pr) => events.push({ at: performance.now(), ...pr }));
    const [sent, received] = await Promise.all([t.done, inT.done]);
    assertVerified(sent);
    assertVerified(received);
    assert.equal(sent.sha256, sha);
    assert.equal(received.sha256, sha);
    assert.equal(received.savedAs, join(f.bDir, 'big.bin'));
    assert.equal(await sha256File(join(f.bDir, 'big.bin')), sha);
    assert.equal((await stat(join(f.bDir, 'big.bin'))).size, 200 * MB);
    assert.deepEqual(await partialFiles(f.bDir), []);

    // Progress: monotonic, complete, and at most one event per 100 ms (the last one is forced).
    assert.ok(events.length >= 2, `${events.length} progress events`);
    const last = events[events.length - 1];
    assert.deepEqual([last?.bytes, last?.total, last?.eta], [200 * MB, 200 * MB, 0]);
    for (let i = 1; i < events.length; i++) {
      const [prev, cur] = [events[i - 1], events[i]] as [(typeof events)[0], (typeof events)[0]];
      assert.ok(cur.bytes >= prev.bytes);
      assert.ok(cur.rate >= 0 && cur.total === 200 * MB);
      if (i < events.length - 1) assert.ok(cur.at - prev.at >= 99, `events ${cur.at - prev.at} ms apart`);
    }
    assert.ok(events.some((e) => e.rate > 0 && e.eta !== undefined && e.eta > 0));
    await p.close();
  });

  it('sends a folder: every file with its relative path, byte-identical; symlinks skipped', async () => {
    const f = await folders();
    const album = join(f.src, 'album');
    await mkdir(join(album, 'sub', 'deeper'), { recursive: true });
    await mkdir(join(album, 'empty'));
    const files: Record<string, string> = {
      'a.txt': await randomFile(join(album, 'a.txt'), 1000),
      'sub/b.bin': await randomFile(join(album, 'sub', 'b.bin'), 3 * MB),
      'sub/deeper/c.bin': await randomFile(join(album, 'sub', 'deeper', 'c.bin'), 0),
      'sub/deeper/d.bin': await randomFile(join(album, 'sub', 'deeper', 'd.bin'), 300_001),
    };
    await symlink('/etc/hostname', join(album, 'link'));
    const p = await pair(f);
    const { transfers, groupId } = await p.a.sendFolder(album);
    assert.equal(transfers.length, 4);
    for (const o of await Promise.all(transfers.map((t) => t.done))) assertVerified(o);
    for (const [rel, sha] of Object.entries(files)) {
      assert.equal(await sha256File(join(f.bDir, 'album', ...rel.split('/'))), sha, rel);
    }
    assert.deepEqual((await readdir(join(f.bDir, 'album'))).sort(), ['a.txt', 'sub']);

    // The same folder again, as a new send: it gets its own folder instead of mixing into the first.
    const again = await p.a.sendFolder(album);
    assert.notEqual(again.groupId, groupId);
    for (const o of await Promise.all(again.transfers.map((t) => t.done))) assertVerified(o);
    assert.equal(await sha256File(join(f.bDir, 'album (1)', 'sub', 'b.bin')), files['sub/b.bin']);
    await p.close();
  });

  it('sends both ways at once on one connection', async () => {
    const f = await folders();
    const shas: Record<string, string> = {};
    for (const name of ['a1', 'a2', 'b1', 'b2'])
      shas[name] = await randomFile(join(f.src, name), 20 * MB + 17);
    const p = await pair(f);
    const ts = [
      p.a.sendFile(join(f.src, 'a1')),
      p.b.sendFile(join(f.src, 'b1')),
      p.a.sendFile(join(f.src, 'a2')),
      p.b.sendFile(join(f.src, 'b2')),
    ];
    for (const o of await Promise.all(ts.map((t) => t.done))) assertVerified(o);
    for (const name of ['a1', 'a2']) assert.equal(await sha256File(join(f.bDir, name)), shas[name]);
    for (const name of ['b1', 'b2']) assert.equal(await sha256File(join(f.aDir, name)), shas[name]);
    await p.close();
  });

  it('lets the receiver decline; the sender sees why; nothing is written', async () => {
    const f = await folders();
    await randomFile(join(f.src, 'unwanted.bin'), 1 * MB);
    const p = await pair(f, {}, { autoAccept: false });
    p.b.once('incoming', (t) => {
      assert.equal(t.state, 'pending');
      assert.equal(t.name, 'unwanted.bin');
      assert.equal(t.size, 1 * MB);
      t.decline('not now, thanks');
    });
    const o = await p.a.sendFile(join(f.src, 'unwanted.bin')).done;
    assert.equal(o.status, 'declined');
    assert.deepEqual(o.status === 'declined' && o.problem, {
      code: 'declined',
      message: 'not now, thanks',
      by: 'peer',
      resumable: false,
    });
    assert.deepEqual(
      (await readdir(f.bDir)).filter((x) => x !== PARTIAL_DIR),
      [],
    );
    assert.deepEqual(await partialFiles(f.bDir), []);
    await p.close();
  });

  for (const side of ['sender', 'receiver'] as const) {
    it(`cancels mid-file from the ${side}: both sides see it, the temporary file is removed`, async () => {
      const f = await folders();
      await randomFile(join(f.src, 'big.bin'), 64 * MB);
      await randomFile(join(f.src, 'after.bin'), 1000);
      const p = await pair(f);
      const incoming = nextIncoming(p.b);
      const t = p.a.sendFile(join(f.src, 'big.bin'));
      const inT = await incoming;
      inT.once('progress', (pr) => {
        assert.ok(pr.bytes < 64 * MB);
        if (side === 'sender') t.cancel('changed my mind');
        else inT.cancel('changed my mind');
      });
      const [so, ro] = await Promise.all([t.done, inT.done]);
      assert.equal(so.status, 'cancelled');
      assert.equal(ro.status, 'cancelled');
      const [sp, rp] = [so.status === 'cancelled' && so.problem, ro.status === 'cancelled' && ro.problem];
      assert.equal(sp && sp.by, side === 'sender' ? 'local' : 'peer');
      assert.equal(rp && rp.by, side === 'receiver' ? 'local' : 'peer');
      assert.equal(sp && sp.message, 'changed my mind');
      assert.equal(rp && rp.message, 'changed my mind');
      assert.deepEqual(await partialFiles(f.bDir), []);
      assert.deepEqual(
        (await readdir(f.bDir)).filter((x) => x !== PARTIAL_DIR),
        [],
      );
      // The channel goes on working.
      assertVerified(await p.a.sendFile(join(f.src, 'after.bin')).done);
      await p.close();
    });
  }

  /** Starts a 64 MB transfer and kills the TCP connection once the receiver has written some of it. */
  async function interrupted(f: { src: string; aDir: string; bDir: string }): Promise<{
    transferId: string;
    kept: number;
    sha: string;
  }> {
    const sha = await randomFile(join(f.src, 'movie.bin'), 64 * MB);
    const p = await pair(f);
    const incoming = nextIncoming(p.b);
    const t = p.a.sendFile(join(f.src, 'movie.bin'));
    const inT = await incoming;
    inT.once('progress', () => p.client.destroy());
    const [so, ro] = await Promise.all([t.done, inT.done]);
    assert.equal(so.status, 'interrupted');
    assert.equal(ro.status, 'interrupted');
    assert.equal(ro.status === 'interrupted' && ro.problem.resumable, true);
    await Promise.all([p.a.closed, p.b.closed]);
    const kept = (await stat(join(f.bDir, PARTIAL_DIR, `${t.transferId}.part`))).size;
    assert.ok(kept > 0 && kept < 64 * MB, `kept ${kept}`);
    return { transferId: t.transferId, kept, sha };
  }

  it('resumes after a broken connection from the verified partial file, without re-sending it', async () => {
    const f = await folders();
    const { transferId, kept, sha } = await interrupted(f);
    // A new connection, the same transfer id: the receiver resumes without asking again.
    const p = await pair(f, {}, { autoAccept: false });
    let appBytes = 0;
    p.server.on('data', (c: Buffer) => (appBytes += c.length));
    const incoming = nextIncoming(p.b);
    const t = p.a.sendFile(join(f.src, 'movie.bin'), { transferId });
    const inT = await incoming;
    assert.equal(inT.resumable, true);
    const [so, ro] = await Promise.all([t.done, inT.done]);
    assertVerified(so);
    assertVerified(ro);
    assert.equal(ro.resumedFrom, kept);
    assert.equal(so.resumedFrom, kept);
    assert.equal(await sha256File(join(f.bDir, 'movie.bin')), sha);
    // Only the missing bytes crossed the second connection (plus frame headers and control frames).
    const missing = 64 * MB - kept;
    assert.ok(
      appBytes >= missing && appBytes < missing + 64 * 1024,
      `${appBytes} bytes for ${missing} missing`,
    );
    assert.deepEqual(await partialFiles(f.bDir), []);
    await p.close();
  });

  it('starts over when the partial file does not match the sender’s bytes', async () => {
    const f = await folders();
    const { transferId, sha } = await interrupted(f);
    const part = await open(join(f.bDir, PARTIAL_DIR, `${transferId}.part`), 'r+');
    await part.write(Buffer.from('corrupted!'), 0, 10, 0);
    await part.close();
    const p = await pair(f);
    const t = p.a.sendFile(join(f.src, 'movie.bin'), { transferId });
    const o = await t.done;
    assertVerified(o);
    assert.equal(o.resumedFrom, 0);
    assert.equal(await sha256File(join(f.bDir, 'movie.bin')), sha);
    await p.close();
  });

  it('never overwrites an existing file: name (1).ext, name (2).ext', async () => {
    const f = await folders();
    await mkdir(f.bDir, { recursive: true });
    await writeFile(join(f.bDir, 'report.txt'), 'the original');
    const sha = await randomFile(join(f.src, 'report.txt'), 5000);
    const p = await pair(f);
    const received = (): Promise<TransferOutcome> => nextIncoming(p.b).then((t) => t.done);
    let got = received();
    assertVerified(await p.a.sendFile(join(f.src, 'report.txt')).done);
    const first = await got;
    got = received();
    assertVerified(await p.a.sendFile(join(f.src, 'report.txt')).done);
    const second = await got;
    assertVerified(first);
    assertVerified(second);
    assert.equal(first.savedAs, join(f.bDir, 'report (1).txt'));
    assert.equal(second.savedAs, join(f.bDir, 'report (2).txt'));
    assert.equal(await readFile(join(f.bDir, 'report.txt'), 'utf8'), 'the original');
    assert.equal(await sha256File(join(f.bDir, 'report (2).txt')), sha);
    await p.close();
  });

  it('hashes on the socket thread when asked (inline), and sends empty files', async () => {
    const f = await folders();
    const sha = await randomFile(join(f.src, 'x.bin'), 5 * MB + 1);
    const empty = await randomFile(join(f.src, 'empty'), 0);
    const p = await pair(f, { hashing: 'inline', chunkSize: 64 * 1024 }, { hashing: 'inline', fsync: false });
    const [o1, o2] = await Promise.all([
      p.a.sendFile(join(f.src, 'x.bin')).done,
      p.a.sendFile(join(f.src, 'empty')).done,
    ]);
    assertVerified(o1);
    assertVerified(o2);
    assert.equal(o1.sha256, sha);
    assert.equal(o2.sha256, empty);
    assert.equal((await stat(join(f.bDir, 'empty'))).size, 0);
    await p.close();
  });

  it('answers a re-offer of a file already received (lost report) without sending it again', async () => {
    const f = await folders();
    await randomFile(join(f.src, 'once.bin'), 2 * MB);
    let p = await pair(f);
    const t = p.a.sendFile(join(f.src, 'once.bin'));
    assertVerified(await t.done);
    await p.close();
    p = await pair(f);
    let appBytes = 0;
    p.server.on('data', (c: Buffer) => (appBytes += c.length));
    const o = await p.a.sendFile(join(f.src, 'once.bin'), { transferId: t.transferId }).done;
    assertVerified(o);
    assert.ok(appBytes < 4096);
    assert.deepEqual(
      (await readdir(f.bDir)).filter((x) => x !== PARTIAL_DIR),
      ['once.bin'],
    );
    await p.close();
  });

  it('reports a file it cannot read, and a peer that closes, without crashing', async () => {
    const f = await folders();
    const p = await pair(f);
    const o = await p.a.sendFile(join(f.src, 'does-not-exist')).done;
    assert.equal(o.status, 'failed');
    assert.equal(o.status === 'failed' && o.problem.code, 'read-error');
    const dirO = await p.a.sendFile(f.src).done;
    assert.equal(dirO.status === 'failed' && dirO.problem.code, 'read-error');
    await p.b.close();
    const end = await p.a.closed;
    assert.equal(end.reason, 'peer');
  });
});
