import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { SipFramer } from '../sip/framer.js';
import { parseMessage } from '../sip/parser.js';
import type { SipResponse } from '../sip/message.js';
import { startTestServer, type TestServer } from '../testing/index.js';

/** Hostile and broken peers: each gets a clear answer or a closed socket, and nobody else notices. */

let t: TestServer;
before(async () => {
  t = await startTestServer({
    server: { transport: { handshakeTimeoutMs: 400, firstMessageTimeoutMs: 400 } },
  });
  t.addUser('alice');
});
after(() => t.close());

/** A raw TLS socket that collects parsed responses. */
async function raw(): Promise<{
  socket: tls.TLSSocket;
  responses: SipResponse[];
  next(): Promise<SipResponse>;
  closed: Promise<void>;
}> {
  const socket = tls.connect({ host: '127.0.0.1', port: t.sip.port, ca: t.ca, servername: 'localhost' });
  await new Promise((r) => socket.once('secureConnect', r));
  const responses: SipResponse[] = [];
  let waiter: ((r: SipResponse) => void) | undefined;
  const framer = new SipFramer();
  socket.on('data', (c: Buffer) => {
    for (const ev of framer.push(c)) {
      if (ev.type !== 'message') continue;
      const m = parseMessage(ev.data) as SipResponse;
      if (waiter) {
        waiter(m);
        waiter = undefined;
      } else responses.push(m);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    responses,
    closed,
    next: () => (responses.length ? Promise.resolve(responses.shift()!) : new Promise((r) => (waiter = r))),
  };
}

const head = (lines: string[], body = '') =>
  `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const base = (extra: string[] = [], method = 'OPTIONS') => [
  `${method} sip:example.test SIP/2.0`,
  'Via: SIP/2.0/TLS x.invalid;branch=z9hG4bKbad1',
  'From: <sip:alice@example.test>;tag=1',
  'To: <sip:example.test>',
  'Call-ID: bad-1',
  `CSeq: 1 ${method}`,
  'Max-Forwards: 70',
  ...extra,
];

async function serverStillServes(): Promise<void> {
  const c = await t.client('alice');
  const res = await c.request('OPTIONS', `sip:${t.domain}`);
  assert.equal(res.status, 200, 'the server keeps serving everyone else');
  c.close();
}

test('a malformed message gets 400, and the same connection goes on working', async () => {
  const r = await raw();
  r.socket.write(head(base().map((l) => (l.startsWith('Max-Forwards') ? 'Max-Forwards: lots' : l))));
  const res = await r.next();
  assert.equal(res.status, 400);
  assert.doesNotMatch(res.reason, /Error|at /, 'no stack trace, no internals');
  r.socket.write(head(base().map((l) => l.replace('bad1', 'bad2'))));
  assert.equal((await r.next()).status, 200);
  r.socket.destroy();
  await serverStillServes();
});

test('an oversized header section is refused and the connection closed; others unaffected', async () => {
  const r = await raw();
  const big = Array.from({ length: 80 }, (_, i) => `X-Pad-${i}: ${'a'.repeat(1000)}`);
  r.socket.write(head(base(big)));
  const res = await Promise.race([r.next(), r.closed.then(() => undefined)]);
  if (res) assert.equal(res.status, 513);
  await r.closed;
  await serverStillServes();
});

test('endless header bytes without an end are cut off at the limit, not buffered', async () => {
  const r = await raw();
  const chunk = `X-Flood: ${'b'.repeat(4000)}\r\n`;
  let sent = 0;
  r.socket.write(base().join('\r\n') + '\r\n');
  let isClosed = false;
  void r.closed.then(() => (isClosed = true));
  while (!isClosed && sent < 1024 * 1024) {
    r.socket.write(chunk);
    sent += chunk.length;
    await new Promise((res) => setImmediate(res));
  }
  await r.closed;
  assert.ok(sent < 1024 * 1024, `closed after ${sent} bytes`);
  await serverStillServes();
});

test('too many headers is 400', async () => {
  const r = await raw();
  const many = Array.from({ length: 150 }, (_, i) => `X-H${i}: v`);
  r.socket.write(head(base(many)));
  assert.equal((await r.next()).status, 400);
  r.socket.destroy();
});

test('an oversized body is refused', async () => {
  const r = await raw();
  const lines = base(['Content-Type: text/plain'], 'MESSAGE').map((l) =>
    l.replace('sip:example.test SIP', 'sip:alice@example.test SIP'),
  );
  r.socket.write(`${lines.join('\r\n')}\r\nContent-Length: ${400 * 1024}\r\n\r\n`);
  const res = await Promise.race([r.next(), r.closed.then(() => undefined)]);
  if (res) assert.equal(res.status, 413);
  await r.closed;
  await serverStillServes();
});

test('binary garbage does not crash anything', async () => {
  const r = await raw();
  r.socket.write(Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)));
  r.socket.write('\r\n\r\n');
  await r.closed; // the stream cannot be framed: the server hangs up
  await serverStillServes();
});

test('a TLS handshake that never finishes is dropped after the handshake timeout', async () => {
  const sock = net.connect(t.sip.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40])); // a ClientHello record header, then silence
  const started = Date.now();
  await new Promise((r) => sock.once('close', r));
  const took = Date.now() - started;
  assert.ok(took >= 300 && took < 3000, `closed after ${took} ms`);
});

test('a connection that sends nothing after the handshake is closed', async () => {
  const r = await raw();
  const started = Date.now();
  await r.closed;
  const took = Date.now() - started;
  assert.ok(took >= 300 && took < 3000, `closed after ${took} ms`);
});

test('keepalives and trickled bytes do not stretch the first-message deadline', async () => {
  const r = await raw();
  const started = Date.now();
  let isClosed = false;
  void r.closed.then(() => (isClosed = true));
  // CRLF pings, then one header byte at a time: traffic all along, but never a whole message.
  const trickle = '\r\n\r\n\r\n\r\n' + base().join('\r\n');
  for (const byte of trickle) {
    if (isClosed) break;
    r.socket.write(byte);
    await new Promise((res) => setTimeout(res, 20)); // the pace of the trickle, ~4 s in all
  }
  const took = Date.now() - started;
  assert.ok(isClosed && took >= 300 && took < 3000, `closed after ${took} ms`);
});

test('CRLF keepalives are answered (RFC 5626 pong)', async () => {
  const socket = tls.connect({ host: '127.0.0.1', port: t.sip.port, ca: t.ca, servername: 'localhost' });
  await new Promise((r) => socket.once('secureConnect', r));
  const got = new Promise<Buffer>((r) => socket.once('data', r));
  socket.write('\r\n\r\n');
  assert.equal((await got).toString(), '\r\n');
  socket.destroy();
});

test('the server certificate verifies only against the deployment CA', async () => {
  await assert.rejects(
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: t.sip.port, servername: 'localhost' }); // no CA: must fail
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    }),
    /self-signed|unable to get local issuer|certificate/i,
  );
});

test('a silent flow is closed after the idle timeout, unless its client registered without RFC 5626 keepalives', async () => {
  const s = await startTestServer({ server: { transport: { idleTimeoutMs: 500 } } });
  try {
    s.addUser('alice');
    const keepalive = await s.client('alice');
    const legacy = await s.client('alice');
    assert.equal((await keepalive.register()).status, 200);
    assert.equal((await legacy.register({ outbound: false, expires: 60 })).status, 200);
    const started = Date.now();
    await keepalive.closed; // promised keepalives, sent none
    assert.ok(Date.now() - started < 3000);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(legacy.socket.destroyed, false, 'kept for as long as its registration lasts');
    assert.equal(s.server.context.location.bindings('alice').length, 1);
  } finally {
    await s.close();
  }
});
