import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { Header, SipRequest, SipResponse } from './message.js';
import { parseMessage } from './parser.js';
import { serializeMessage } from './serialize.js';

const HEADERS: Header[] = [
  { name: 'Via', value: 'SIP/2.0/TLS a.example.com;branch=z9hG4bK1' },
  {
    name: 'Via',
    value: 'SIP/2.0/TLS b.example.com;branch=z9hG4bK2, SIP/2.0/TLS c.example.com;branch=z9hG4bK3',
  },
  { name: 'Max-Forwards', value: '70' },
  { name: 'To', value: '<sip:bob@example.com>' },
  { name: 'From', value: '"Zoë" <sip:alice@example.com>;tag=1' },
  { name: 'Call-ID', value: 'abc@def' },
  { name: 'CSeq', value: '1 MESSAGE' },
  { name: 'X-Custom', value: '' },
  { name: 'Content-Type', value: 'text/plain' },
];

const request = (over: Partial<SipRequest> = {}): SipRequest => ({
  kind: 'request',
  method: 'MESSAGE',
  uri: 'sip:bob@example.com',
  headers: HEADERS.map((h) => ({ ...h })),
  body: Buffer.from('héllo 🌸'),
  ...over,
});

const response = (over: Partial<SipResponse> = {}): SipResponse => ({
  kind: 'response',
  status: 200,
  reason: 'OK',
  headers: HEADERS.map((h) => ({ ...h })),
  body: Buffer.alloc(0),
  ...over,
});

test('request: start line, headers in order, Content-Length from the body bytes, body', () => {
  const out = serializeMessage(request());
  const body = Buffer.from('héllo 🌸');
  assert.equal(
    out.toString(),
    'MESSAGE sip:bob@example.com SIP/2.0\r\n' +
      'Via: SIP/2.0/TLS a.example.com;branch=z9hG4bK1\r\n' +
      'Via: SIP/2.0/TLS b.example.com;branch=z9hG4bK2, SIP/2.0/TLS c.example.com;branch=z9hG4bK3\r\n' +
      'Max-Forwards: 70\r\n' +
      'To: <sip:bob@example.com>\r\n' +
      'From: "Zoë" <sip:alice@example.com>;tag=1\r\n' +
      'Call-ID: abc@def\r\n' +
      'CSeq: 1 MESSAGE\r\n' +
      'X-Custom: \r\n' +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${body.length}\r\n` +
      '\r\n' +
      'héllo 🌸',
  );
  assert.equal(body.length, 11);
  assert.ok(out.subarray(out.length - body.length).equals(body));
});

test('response: status line with the reason phrase, empty or UTF-8', () => {
  assert.ok(serializeMessage(response()).toString().startsWith('SIP/2.0 200 OK\r\nVia: '));
  assert.ok(
    serializeMessage(response({ status: 100, reason: '' }))
      .toString()
      .startsWith('SIP/2.0 100 \r\n'),
  );
  assert.ok(
    serializeMessage(response({ status: 699, reason: 'Nope — 日本' }))
      .toString()
      .startsWith('SIP/2.0 699 Nope — 日本\r\n'),
  );
});

test('Content-Length is always present, last, and recomputed (a wrong or compact one is dropped)', () => {
  const out = serializeMessage(
    request({
      headers: [
        { name: 'Content-Length', value: '999' },
        ...HEADERS,
        { name: 'l', value: '3' },
        { name: 'CONTENT-LENGTH', value: '1' },
      ],
      body: Buffer.from([0, 1, 2, 255]),
    }),
  ).toString('latin1');
  assert.deepEqual(out.match(/^(content-length|l):.*$/gim), ['Content-Length: 4']);
  assert.ok(out.endsWith('Content-Length: 4\r\n\r\n\x00\x01\x02\xff'));
  assert.ok(
    serializeMessage(response()).toString().endsWith('Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n'),
  );
});

test('parse(serialize(m)) gives m back (with its Content-Length)', () => {
  for (const m of [
    request(),
    response(),
    response({ status: 486, reason: 'Busy Here', body: Buffer.from('x') }),
  ]) {
    const again = parseMessage(serializeMessage(m));
    assert.equal(again.kind, m.kind);
    assert.deepEqual(again.headers, [...m.headers, { name: 'Content-Length', value: String(m.body.length) }]);
    assert.ok(again.body.equals(m.body));
    if (m.kind === 'request' && again.kind === 'request')
      assert.deepEqual([again.method, again.uri], [m.method, m.uri]);
    if (m.kind === 'response' && again.kind === 'response')
      assert.deepEqual([again.status, again.reason], [m.status, m.reason]);
    // And serializing the parsed message again is byte for byte identical.
    assert.ok(serializeMessage(again).equals(serializeMessage(m)));
  }
});

test('a parsed message (folding, compact forms) serializes in canonical form and parses back the same', () => {
  const raw = Buffer.from(
    'OPTIONS sip:bob@example.com SIP/2.0\r\n' +
      'v: SIP/2.0/TLS a.example.com\r\n ;branch=z9hG4bK1\r\n' +
      'f: <sip:alice@example.com>;tag=1\r\n' +
      't: <sip:bob@example.com>\r\n' +
      'i: x@y\r\n' +
      'CSeq: 1 OPTIONS\r\n' +
      'l: 0\r\n' +
      '\r\n',
  );
  const m = parseMessage(raw);
  const out = serializeMessage(m).toString();
  assert.equal(
    out,
    'OPTIONS sip:bob@example.com SIP/2.0\r\n' +
      'Via: SIP/2.0/TLS a.example.com ;branch=z9hG4bK1\r\n' +
      'From: <sip:alice@example.com>;tag=1\r\n' +
      'To: <sip:bob@example.com>\r\n' +
      'Call-ID: x@y\r\n' +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n' +
      '\r\n',
  );
  assert.deepEqual(parseMessage(Buffer.from(out)).headers, m.headers);
});

test('CR or LF anywhere would inject headers: serialization throws', () => {
  for (const value of ['a\r\nX-Injected: 1', 'a\nb', 'a\rb']) {
    assert.throws(() => serializeMessage(request({ headers: [{ name: 'Subject', value }] })), TypeError);
    assert.throws(() => serializeMessage(response({ reason: value })), TypeError);
  }
  for (const name of ['Bad Name', 'X:Y', '', 'X\r\nY', 'Ünï']) {
    assert.throws(() => serializeMessage(request({ headers: [{ name, value: 'v' }] })), TypeError, name);
  }
});

test('invalid start lines throw', () => {
  for (const method of ['', 'IN VITE', 'INVITE\r\n', 'A@B'])
    assert.throws(() => serializeMessage(request({ method })), TypeError);
  for (const uri of ['', 'sip:a b', 'sip:a\r\n', 'sip:a\t'])
    assert.throws(() => serializeMessage(request({ uri })), TypeError);
  for (const status of [99, 700, 200.5, NaN, -200])
    assert.throws(() => serializeMessage(response({ status })), TypeError);
});
