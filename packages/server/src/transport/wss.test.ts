import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { computeHa1, computeResponse } from '../auth/digest.js';
import {
  header,
  headerInstances,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import { serializeMessage } from '../sip/serialize.js';
import { parseAuthHeader } from '../sip/uri.js';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../testing/index.js';

/** SIP over secure WebSocket (RFC 7118): same registrar, same proxy, flows to and from TLS terminals. */

let t: TestServer;
before(async () => {
  t = await startTestServer();
  t.addUser('alice');
  t.addUser('webby');
});
after(() => t.close());

function open(protocols: string[] = ['sip']): Promise<{ ws: WebSocket; next(): Promise<SipMessage> }> {
  return new Promise((resolve, reject) => {
    // servername goes through to tls.connect (ws passes unknown options on).
    const ws = new WebSocket(`wss://127.0.0.1:${t.https.port}`, protocols, {
      ca: t.ca,
      servername: 'localhost',
    } as object);
    const queue: SipMessage[] = [];
    let waiter: ((m: SipMessage) => void) | undefined;
    ws.on('message', (data: Buffer) => {
      const m = parseMessage(Buffer.from(data));
      if (waiter) {
        waiter(m);
        waiter = undefined;
      } else queue.push(m);
    });
    ws.once('open', () =>
      resolve({
        ws,
        next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r))),
      }),
    );
    ws.once('error', reject);
  });
}

const viaHost = 'df7jal23ls0d.invalid';
function register(cseq: number, auth?: string): SipRequest {
  const headers = [
    { name: 'Via', value: `SIP/2.0/WSS ${viaHost};branch=z9hG4bKws${cseq}` },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `<sip:webby@${t.domain}>;tag=w1` },
    { name: 'To', value: `<sip:webby@${t.domain}>` },
    { name: 'Call-ID', value: 'ws-reg-1' },
    { name: 'CSeq', value: `${cseq} REGISTER` },
    {
      name: 'Contact',
      value: `<sip:k2k39a@${viaHost};transport=ws>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-00000000beef>"`,
    },
    { name: 'Expires', value: '600' },
  ];
  if (auth) headers.push({ name: 'Authorization', value: auth });
  return { kind: 'request', method: 'REGISTER', uri: `sip:${t.domain}`, headers, body: Buffer.alloc(0) };
}

test('a WebSocket client registers with digest and is reachable from a TLS terminal', async () => {
  const { ws, next } = await open();
  ws.send(serializeMessage(register(1)).toString());
  const challenge = (await next()) as SipResponse;
  assert.equal(challenge.status, 401);
  const offer = parseAuthHeader(headerInstances(challenge, 'WWW-Authenticate')[0]!)!;
  const ha1 = computeHa1('SHA-256', 'webby', t.domain, TEST_PASSWORD('webby'));
  const p = {
    method: 'REGISTER',
    uri: `sip:${t.domain}`,
    nonce: offer.params.nonce!,
    nc: '00000001',
    cnonce: 'abc',
    qop: 'auth',
  };
  const auth = `Digest username="webby", realm="${t.domain}", nonce="${p.nonce}", uri="${p.uri}", response="${computeResponse('SHA-256', ha1, p)}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="abc"`;
  ws.send(serializeMessage(register(2, auth)).toString());
  const ok = (await next()) as SipResponse;
  assert.equal(ok.status, 200);
  const binding = t.server.context.location.bindings('webby')[0]!;
  assert.equal(binding.conn.transport, 'WSS');

  const alice = await t.client('alice');
  await alice.register();
  const done = alice.request('MESSAGE', `sip:webby@${t.domain}`, {
    body: 'over websocket',
    contentType: 'text/plain',
  });
  const msg = (await next()) as SipRequest;
  assert.equal(msg.method, 'MESSAGE');
  assert.equal(msg.body.toString(), 'over websocket');
  assert.match(header(msg, 'Via')!, /^SIP\/2\.0\/WSS /, 'our Via names the WebSocket transport');
  const reply: SipResponse = {
    kind: 'response',
    status: 200,
    reason: 'OK',
    headers: msg.headers.filter((h) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(h.name)),
    body: Buffer.alloc(0),
  };
  ws.send(serializeMessage(reply).toString());
  assert.equal((await done).status, 200);
  ws.close();
  alice.close();
});

test('a WebSocket without the sip subprotocol is refused', async () => {
  await assert.rejects(
    open(['chat']),
    /Server sent no subprotocol|Unexpected server response|closed|subprotocol/i,
  );
});
