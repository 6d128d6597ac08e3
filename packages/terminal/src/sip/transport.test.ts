import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { TransportState } from 'sip.js';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { certificateFingerprint, ServerCertificateError } from './pinned-tls.js';
import { TlsTransport, type TlsTransportOptions } from './transport.js';

const quiet = { debug() {}, log() {}, warn() {}, error() {} };

let t: TestServer;
let other: TestServer;
before(async () => {
  [t, other] = await Promise.all([startTestServer(), startTestServer()]);
});
after(async () => {
  await Promise.all([t.close(), other.close()]);
});

function options(o: Partial<TlsTransportOptions> = {}): TlsTransportOptions {
  return {
    host: '127.0.0.1',
    port: t.sip.port,
    ca: t.ca,
    caFingerprint: certificateFingerprint(t.ca),
    ...o,
  };
}

/** Records what sip.js's UserAgent would see. */
function watch(tr: TlsTransport) {
  const seen = {
    states: [] as TransportState[],
    messages: [] as string[],
    connects: 0,
    disconnects: [] as (Error | undefined)[],
  };
  tr.stateChange.addListener((s) => seen.states.push(s));
  tr.onConnect = () => seen.connects++;
  tr.onDisconnect = (e) => seen.disconnects.push(e);
  tr.onMessage = (m) => seen.messages.push(m);
  return seen;
}

/** A raw TLS peer with the harness server's own certificate (so it chains to the pinned CA). */
async function rawPeer(onSocket: (s: tls.TLSSocket) => void): Promise<{ port: number; close(): void }> {
  const dir = path.join(t.dataDir, 'tls');
  const server = tls.createServer(
    {
      key: fs.readFileSync(path.join(dir, 'server.key')),
      cert: fs.readFileSync(path.join(dir, 'server.pem')),
    },
    onSocket,
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sockets = new Set<tls.TLSSocket>();
  server.on('secureConnection', (s) => sockets.add(s));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const until = async (cond: () => boolean, ms = 3_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

function options200(viaHost: string): string {
  const body = '';
  return (
    `OPTIONS sip:${t.domain} SIP/2.0\r\nVia: SIP/2.0/TLS ${viaHost};branch=z9hG4bKtransporttest1\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:probe@${t.domain}>;tag=abc\r\nTo: <sip:${t.domain}>\r\n` +
    `Call-ID: transport-test-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

describe('TlsTransport', () => {
  test('follows the sip.js state machine and exchanges messages with the real server', async () => {
    const tr = new TlsTransport(quiet, options());
    const seen = watch(tr);
    assert.equal(tr.state, TransportState.Disconnected);
    const connecting = tr.connect();
    assert.equal(tr.state, TransportState.Connecting, 'Connecting before connect() returns');
    await connecting;
    assert.equal(tr.state, TransportState.Connected);
    assert.equal(seen.connects, 1);
    await tr.send(options200('probe.invalid'));
    await until(() => seen.messages.length === 1);
    assert.match(seen.messages[0]!, /^SIP\/2\.0 200 /);
    const disconnecting = tr.disconnect();
    assert.equal(tr.state, TransportState.Disconnecting);
    await disconnecting;
    assert.deepEqual(seen.states, [
      TransportState.Connecting,
      TransportState.Connected,
      TransportState.Disconnecting,
      TransportState.Disconnected,
    ]);
    assert.deepEqual(seen.disconnects, [undefined], 'a requested disconnect reports no error');
    await assert.rejects(tr.send('x'), /not connected/);
  });

  test('cuts messages by Content-Length in bytes, whatever the TCP segmentation', async () => {
    const m1Body = 'こんにちは, Tsunagu ✓';
    const m2Body = '{"name":"Zoë"}';
    const msg = (body: string, n: number) =>
      `MESSAGE sip:x@y.invalid SIP/2.0\r\nVia: SIP/2.0/TLS s.invalid;branch=z9hG4bK${n}\r\nCall-ID: ${n}\r\n` +
      `CSeq: ${n} MESSAGE\r\nl: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const wire = Buffer.from(`\r\n\r\n${msg(m1Body, 1)}\r\n${msg(m2Body, 2)}`);
    const peer = await rawPeer((s) => {
      // One byte at a time: boundaries fall inside multi-byte characters and inside the CRLFs.
      let i = 0;
      const next = () => {
        if (i < wire.length) s.write(wire.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    });
    const tr = new TlsTransport(quiet, options({ port: peer.port }));
    const seen = watch(tr);
    try {
      await tr.connect();
      await until(() => seen.messages.length === 2);
      assert.equal(seen.messages[0], msg(m1Body, 1));
      assert.equal(seen.messages[1], msg(m2Body, 2));
    } finally {
      await tr.disconnect();
      peer.close();
    }
  });

  test('sends CRLF keepalives and stays up while the server answers them', async () => {
    const tr = new TlsTransport(quiet, options({ keepAlive: { intervalMs: [40, 60], pongTimeoutMs: 500 } }));
    const seen = watch(tr);
    await tr.connect();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(tr.state, TransportState.Connected, 'the real server pongs every ping');
    assert.deepEqual(seen.disconnects, []);
    await tr.disconnect();
  });

  test('a missing pong means a dead flow: Disconnected with an error, and no reconnection', async () => {
    let pings = 0;
    const peer = await rawPeer((s) =>
      s.on('data', (d: Buffer) => (pings += d.toString().split('\r\n\r\n').length - 1)),
    );
    const tr = new TlsTransport(
      quiet,
      options({ port: peer.port, keepAlive: { intervalMs: [30, 30], pongTimeoutMs: 200 } }),
    );
    const seen = watch(tr);
    try {
      await tr.connect();
      await until(() => seen.disconnects.length === 1);
      assert.ok(pings >= 1);
      assert.match(seen.disconnects[0]!.message, /no keepalive response within 0\.2 s: the flow is dead/);
      assert.equal(tr.state, TransportState.Disconnected);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(tr.state, TransportState.Disconnected, 'the transport never reconnects by itself');
    } finally {
      peer.close();
    }
  });

  test('a connection closed by the server is reported with an Error', async () => {
    const peer = await rawPeer((s) => setTimeout(() => s.destroy(), 50));
    const tr = new TlsTransport(quiet, options({ port: peer.port }));
    const seen = watch(tr);
    try {
      await tr.connect();
      await until(() => seen.disconnects.length === 1);
      assert.match(seen.disconnects[0]!.message, /lost/);
      assert.equal(tr.state, TransportState.Disconnected);
      // It may be connected again (by its owner).
      await tr.connect();
      assert.equal(tr.state, TransportState.Connected);
      await tr.disconnect();
    } finally {
      peer.close();
    }
  });

  test('a server whose certificate does not chain to the pinned CA is refused with a clear error', async () => {
    const tr = new TlsTransport(quiet, options({ port: other.sip.port }));
    const seen = watch(tr);
    const err = await tr.connect().then(
      () => assert.fail('connected to a server of another CA'),
      (e: unknown) => e as ServerCertificateError,
    );
    assert.ok(err instanceof ServerCertificateError);
    assert.equal(err.kind, 'untrusted');
    assert.match(err.message, /does not chain to the pinned CA \(sha256:[0-9A-F:]+\): possible interception/);
    assert.equal(tr.state, TransportState.Disconnected);
    assert.deepEqual(seen.states, [TransportState.Connecting, TransportState.Disconnected]);
    assert.equal(seen.connects, 0);
  });

  test('a CA certificate without the pinned fingerprint is never trusted', async () => {
    const tr = new TlsTransport(quiet, options({ caFingerprint: certificateFingerprint(other.ca) }));
    const err = (await tr.connect().catch((e: unknown) => e)) as ServerCertificateError;
    assert.ok(err instanceof ServerCertificateError);
    assert.equal(err.kind, 'ca-mismatch');
    assert.match(err.message, /not the pinned/);
  });

  test('a certificate from the pinned CA for another name is refused', async () => {
    const tr = new TlsTransport(quiet, options({ servername: 'sip.elsewhere.example' }));
    const err = (await tr.connect().catch((e: unknown) => e)) as ServerCertificateError;
    assert.ok(err instanceof ServerCertificateError);
    assert.equal(err.kind, 'name-mismatch');
    assert.match(err.message, /not valid for sip\.elsewhere\.example/);
  });
});
