import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  appendHeader,
  cloneMessage,
  cseq,
  dropHeaderValues,
  hasHeader,
  header,
  headerInstances,
  headerValues,
  prependHeader,
  removeHeader,
  setHeader,
  shiftHeaderValue,
  splitList,
  type Header,
  type SipRequest,
} from './message.js';
import { parseMessage } from './parser.js';

function msg(headers: [string, string][]): SipRequest {
  return {
    kind: 'request',
    method: 'INVITE',
    uri: 'sip:bob@example.com',
    headers: headers.map(([name, value]): Header => ({ name, value })),
    body: Buffer.from('body'),
  };
}

const names = (m: SipRequest) => m.headers.map((h) => `${h.name}: ${h.value}`);

test('header: first value, case-insensitive name, undefined when absent', () => {
  const m = msg([
    ['Via', 'v1'],
    ['Subject', ''],
    ['via', 'v2'],
  ]);
  assert.equal(header(m, 'VIA'), 'v1');
  assert.equal(header(m, 'subject'), '', 'an empty value is still a value');
  assert.equal(header(m, 'Contact'), undefined);
  assert.equal(hasHeader(m, 'subject'), true);
  assert.equal(hasHeader(m, 'Contact'), false);
  assert.equal(header(m, 'v'), undefined, 'compact forms are expanded by the parser, not looked up');
});

test('headerValues: every instance, comma lists split outside quotes and <>', () => {
  const m = msg([
    ['Contact', '"Doe, John" <sip:jd@h;x=a,b>;q=0.5, <sip:other@h>'],
    ['Route', '<sip:p1;lr>'],
    ['contact', 'sip:third@h'],
    ['Accept', 'a/b , c/d,,  e/f  '],
  ]);
  assert.deepEqual(headerValues(m, 'Contact'), [
    '"Doe, John" <sip:jd@h;x=a,b>;q=0.5',
    '<sip:other@h>',
    'sip:third@h',
  ]);
  assert.deepEqual(headerValues(m, 'Accept'), ['a/b', 'c/d', 'e/f']);
  assert.deepEqual(headerValues(m, 'Allow'), []);
});

test('headerInstances: auth headers are never split on their commas', () => {
  const challenge1 = 'Digest realm="example.com", nonce="a,b", algorithm=SHA-256, qop="auth,auth-int"';
  const challenge2 = 'Digest realm="example.com", nonce="c", algorithm=MD5';
  const m = msg([
    ['WWW-Authenticate', challenge1],
    ['Via', 'v'],
    ['www-authenticate', challenge2],
  ]);
  assert.deepEqual(headerInstances(m, 'WWW-Authenticate'), [challenge1, challenge2]);
  assert.equal(headerValues(m, 'WWW-Authenticate').length > 2, true, 'which headerValues would have done');
  assert.deepEqual(headerInstances(m, 'Authorization'), []);
});

test('splitList: quotes (with escaped quotes), angle brackets, whitespace, empty elements', () => {
  assert.deepEqual(splitList('a, b ,c'), ['a', 'b', 'c']);
  assert.deepEqual(splitList('"a, \\"b, c\\", d", e'), ['"a, \\"b, c\\", d"', 'e']);
  assert.deepEqual(
    splitList('"a\\\\", b'),
    ['"a\\\\"', 'b'],
    'an escaped backslash does not escape the closing quote',
  );
  assert.deepEqual(splitList('<sip:a,b>, <sip:c?x=1,2>;p="x,y"'), ['<sip:a,b>', '<sip:c?x=1,2>;p="x,y"']);
  assert.deepEqual(splitList('<<a,b>,c>, d'), ['<<a,b>,c>', 'd']);
  assert.deepEqual(splitList('a>, b'), ['a>', 'b'], 'a stray ">" does not unbalance the rest');
  assert.deepEqual(splitList('"<", b'), ['"<"', 'b'], '"<" inside quotes is not a bracket');
  assert.deepEqual(splitList(' , ,, '), []);
  assert.deepEqual(splitList(''), []);
  assert.deepEqual(splitList('\t a \t'), ['a']);
  assert.deepEqual(splitList('"unterminated, x'), ['"unterminated, x']);
  // Only SP and HTAB are whitespace here: a byte order mark or NBSP is content (RFC 4475 §3.1.1.2).
  assert.deepEqual(splitList('\uFEFF大停電'), ['\uFEFF大停電']);
  assert.deepEqual(splitList('a\u00a0, b'), ['a\u00a0', 'b']);
  // Linear on hostile input.
  assert.equal(splitList(','.repeat(100_000)).length, 0);
  assert.equal(splitList('"'.repeat(100_001)).length, 1);
  assert.equal(splitList('<'.repeat(50_000) + ','.repeat(50_000)).length, 1);
});

test('setHeader: replaces every instance with one value at the place of the first, or appends', () => {
  const m = msg([
    ['A', '1'],
    ['Expires', '10'],
    ['B', '2'],
    ['expires', '20'],
  ]);
  setHeader(m, 'Expires', '30');
  assert.deepEqual(names(m), ['A: 1', 'Expires: 30', 'B: 2']);
  setHeader(m, 'Server', 'x');
  assert.deepEqual(names(m), ['A: 1', 'Expires: 30', 'B: 2', 'Server: x']);
  setHeader(m, 'a', 'one');
  assert.deepEqual(names(m), ['a: one', 'Expires: 30', 'B: 2', 'Server: x']);
});

test('prependHeader: above every existing one of the same name, or on top', () => {
  const m = msg([
    ['Via', 'v1'],
    ['To', 't'],
    ['Record-Route', 'r1'],
    ['Via', 'v2'],
  ]);
  prependHeader(m, 'Record-Route', 'r0');
  prependHeader(m, 'Via', 'v0');
  prependHeader(m, 'Route', 'x');
  assert.deepEqual(names(m), [
    'Route: x',
    'Via: v0',
    'Via: v1',
    'To: t',
    'Record-Route: r0',
    'Record-Route: r1',
    'Via: v2',
  ]);
  appendHeader(m, 'Via', 'v3');
  assert.equal(m.headers.at(-1)?.value, 'v3');
});

test('removeHeader: every instance, case-insensitively', () => {
  const m = msg([
    ['Route', 'a'],
    ['To', 't'],
    ['route', 'b'],
  ]);
  removeHeader(m, 'ROUTE');
  assert.deepEqual(names(m), ['To: t']);
  removeHeader(m, 'Nothing');
  assert.deepEqual(names(m), ['To: t']);
});

test('shiftHeaderValue: takes the topmost element of a possibly comma-joined header', () => {
  const m = msg([
    ['To', 't'],
    ['Via', 'SIP/2.0/TLS a;branch=1, SIP/2.0/TLS b;branch=2 ,SIP/2.0/TLS c;x="p,q"'],
    ['Via', 'SIP/2.0/TLS d'],
  ]);
  assert.equal(shiftHeaderValue(m, 'via'), 'SIP/2.0/TLS a;branch=1');
  assert.deepEqual(names(m), [
    'To: t',
    'Via: SIP/2.0/TLS b;branch=2, SIP/2.0/TLS c;x="p,q"',
    'Via: SIP/2.0/TLS d',
  ]);
  assert.equal(shiftHeaderValue(m, 'Via'), 'SIP/2.0/TLS b;branch=2');
  assert.equal(shiftHeaderValue(m, 'Via'), 'SIP/2.0/TLS c;x="p,q"');
  assert.deepEqual(names(m), ['To: t', 'Via: SIP/2.0/TLS d']);
  assert.equal(shiftHeaderValue(m, 'Via'), 'SIP/2.0/TLS d');
  assert.deepEqual(names(m), ['To: t']);
  assert.equal(shiftHeaderValue(m, 'Via'), undefined);
  // An instance holding only empty elements is removed.
  const e = msg([['Route', ' , ']]);
  assert.equal(shiftHeaderValue(e, 'Route'), undefined);
  assert.deepEqual(e.headers, []);
});

test('dropHeaderValues: removes the topmost elements across instances, as repeated shifts would', () => {
  const headers: [string, string][] = [
    ['Route', '<sip:a;lr>, <sip:b;lr>'],
    ['To', 't'],
    ['Route', '<sip:c;lr>,<sip:d;lr>, <sip:e;lr>'],
    ['Route', '<sip:f;lr>'],
  ];
  for (let count = 0; count <= 7; count++) {
    const dropped = msg(headers);
    dropHeaderValues(dropped, 'route', count);
    const shifted = msg(headers);
    for (let i = 0; i < count; i++) shiftHeaderValue(shifted, 'Route');
    assert.deepEqual(names(dropped), names(shifted), `count ${count}`);
  }
  const m = msg(headers);
  dropHeaderValues(m, 'Route', 3);
  assert.deepEqual(names(m), ['To: t', 'Route: <sip:d;lr>, <sip:e;lr>', 'Route: <sip:f;lr>']);
});

test('cseq: number and method (methods are case-sensitive)', () => {
  assert.deepEqual(cseq(msg([['CSeq', '314159 INVITE']])), { seq: 314159, method: 'INVITE' });
  assert.deepEqual(cseq(msg([['cseq', '  7 \t REGISTER ']])), { seq: 7, method: 'REGISTER' });
  assert.deepEqual(cseq(msg([['CSeq', '1 foo']])), { seq: 1, method: 'foo' });
  assert.equal(cseq(msg([])).method, '');
  // What the parser accepts, cseq reads the same way.
  const parsed = parseMessage(
    Buffer.from(
      'invite sip:b@h SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n' +
        'Call-ID: c\r\nCSeq: 0009\r\n invite\r\nContent-Length: 0\r\n\r\n',
    ),
  ) as SipRequest;
  assert.deepEqual(cseq(parsed), { seq: 9, method: parsed.method });
});

test('cloneMessage: a deep copy, independent of the original', () => {
  const m = msg([
    ['Via', 'v1'],
    ['To', 't'],
  ]);
  const c = cloneMessage(m);
  assert.deepEqual(c, m);
  c.headers[0]!.value = 'changed';
  c.headers.push({ name: 'X', value: 'y' });
  setHeader(c, 'To', 't2');
  c.body[0] = 0x42;
  c.uri = 'sip:other@h';
  assert.deepEqual(names(m), ['Via: v1', 'To: t']);
  assert.equal(m.body.toString(), 'body');
  assert.equal(m.uri, 'sip:bob@example.com');
  // The clone's body does not share memory with a parsed message's input buffer either.
  const raw = Buffer.from(
    'OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n' +
      'Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 3\r\n\r\nabc',
  );
  const clone = cloneMessage(parseMessage(raw));
  raw.fill(0);
  assert.equal(clone.body.toString(), 'abc');
});
