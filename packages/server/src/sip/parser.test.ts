import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SipParseError } from './errors.js';
import { DEFAULT_LIMITS, resolveLimits, type Limits } from './limits.js';
import { cseq, header, headerValues, type SipRequest, type SipResponse } from './message.js';
import { canonicalHeaderName, parseDatagram, parseMessage } from './parser.js';
import { serializeMessage } from './serialize.js';
import { isSipUri, parseNameAddr, parseUri, parseVia } from './uri.js';

// ---------------------------------------------------------------------------------------------- helpers

const BASE = [
  'Via: SIP/2.0/TLS client.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@example.com>',
  'From: Alice <sip:alice@example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
];

/** Header lines of BASE with replacements: `{ CSeq: '1 OPTIONS' }`, or `{ Via: null }` to drop one. */
function base(over: Record<string, string | null> = {}): string[] {
  const out: string[] = [];
  for (const line of BASE) {
    const name = line.slice(0, line.indexOf(':'));
    if (!(name in over)) out.push(line);
    else if (over[name] !== null) out.push(`${name}: ${over[name]}`);
  }
  return out;
}

/**
 * Start line, header lines, then a Content-Length (computed from the body when `cl` is true, as given
 * when it is a string, none when false), the empty line and the body.
 */
function raw(
  start: string,
  headers: string[],
  body: string | Buffer = '',
  cl: boolean | string = true,
): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  let head = start + '\r\n';
  for (const h of headers) head += h + '\r\n';
  if (cl === true) head += `Content-Length: ${b.length}\r\n`;
  else if (typeof cl === 'string') head += `Content-Length: ${cl}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n'), b]);
}

const invite = (
  headers: string[] = base(),
  body: string | Buffer = '',
  cl: boolean | string = true,
): Buffer => raw('INVITE sip:bob@example.com SIP/2.0', headers, body, cl);

const ok200 = (headers: string[] = base()): Buffer => raw('SIP/2.0 200 OK', headers);

function req(b: Buffer, limits?: Partial<Limits>): SipRequest {
  const m = parseMessage(b, limits);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

function res(b: Buffer): SipResponse {
  const m = parseMessage(b);
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

function rejects(b: Buffer, status: number, re?: RegExp, limits?: Partial<Limits>): void {
  assert.throws(
    () => parseMessage(b, limits),
    (e: unknown) => {
      assert.ok(e instanceof SipParseError, `expected a SipParseError, got ${String(e)}`);
      assert.equal(e.status, status, e.message);
      if (re) assert.match(e.message, re);
      assert.doesNotMatch(e.message, /[\r\n]/);
      return true;
    },
  );
}

// ---------------------------------------------------------------------------------------------- start line

test('request line: method, Request-URI, empty body', () => {
  const m = req(invite());
  assert.equal(m.method, 'INVITE');
  assert.equal(m.uri, 'sip:bob@example.com');
  assert.equal(m.body.length, 0);
  assert.equal(header(m, 'Call-ID'), 'a84b4c76e66710@pc33.example.com');
});

test('methods are case-sensitive extension tokens', () => {
  const m = req(raw('invite sip:bob@example.com SIP/2.0', base({ CSeq: '1 invite' })));
  assert.equal(m.method, 'invite');
  assert.deepEqual(cseq(m), { seq: 1, method: 'invite' });
  rejects(raw('invite sip:bob@example.com SIP/2.0', base({ CSeq: '1 INVITE' })), 400, /CSeq method/);
  assert.equal(
    req(raw('PUBLISH-X.1 sip:bob@example.com SIP/2.0', base({ CSeq: '1 PUBLISH-X.1' }))).method,
    'PUBLISH-X.1',
  );
});

test('status line: code, reason phrase kept as written, empty or missing reason', () => {
  assert.deepEqual([res(ok200()).status, res(ok200()).reason], [200, 'OK']);
  const r = res(raw('SIP/2.0 404  Not\tFound  here', base()));
  assert.deepEqual([r.status, r.reason], [404, ' Not\tFound  here']);
  assert.equal(res(raw('SIP/2.0 180 ', base())).reason, '');
  assert.equal(res(raw('SIP/2.0 180', base())).reason, '');
  assert.equal(res(raw('SIP/2.0 100 Trying', base())).status, 100);
  assert.equal(res(raw('SIP/2.0 699 Whatever', base())).status, 699);
});

test('status line: a code outside 100-699 or not three digits → 400', () => {
  for (const code of ['099', '700', '20', '2000', '2x0', '', '+20', '-200', '２００']) {
    rejects(raw(`SIP/2.0 ${code} Reason`, base()), 400, undefined);
  }
  rejects(raw('SIP/2.0  200 OK', base()), 400, /status code/);
});

test('status line: control characters in the reason phrase → 400', () => {
  rejects(raw('SIP/2.0 200 O\x00K', base()), 400);
  rejects(raw('SIP/2.0 200 O\x1bK', base()), 400);
});

test('response headers: the CSeq method is not compared with anything; Via is still required', () => {
  const r = res(raw('SIP/2.0 200 OK', base({ CSeq: '7 REGISTER' })));
  assert.deepEqual(cseq(r), { seq: 7, method: 'REGISTER' });
  rejects(raw('SIP/2.0 200 OK', base({ Via: null })), 400, /Missing Via/);
});

test('malformed request lines → 400', () => {
  for (const line of [
    'INVITE',
    'INVITE sip:bob@example.com',
    'INVITE sip:bob@example.com SIP/2.0 extra',
    'INVITE\tsip:bob@example.com\tSIP/2.0',
    ' INVITE sip:bob@example.com SIP/2.0',
    'INVITE sip:bob@example.com  SIP/2.0',
    'INVITE  sip:bob@example.com SIP/2.0',
  ]) {
    rejects(raw(line, base()), 400);
  }
});

test('leading CRLFs before the start line are ignored (RFC 3261 §7.5)', () => {
  const m = req(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), invite()]));
  assert.equal(m.method, 'INVITE');
});

test('SIP-Version: "SIP" is case-insensitive; another well-formed version → 505; a malformed one → 400', () => {
  assert.equal(req(raw('INVITE sip:bob@example.com sip/2.0', base())).method, 'INVITE');
  rejects(raw('INVITE sip:bob@example.com SIP/3.0', base()), 505, /not supported/);
  rejects(raw('INVITE sip:bob@example.com SIP/2.1', base()), 505);
  rejects(raw('SIP/1.0 200 OK', base()), 505);
  for (const v of [
    'HTTP/1.1',
    'SIP/2',
    'SIP/',
    'SIP/2.',
    'SIP/.0',
    'SIP/x.y',
    'SIP/2.0.1',
    'SIP2.0',
    'SIPS/2.0',
  ]) {
    rejects(raw(`INVITE sip:bob@example.com ${v}`, base()), 400, /Malformed SIP-Version/);
  }
  rejects(raw('HTTP/1.1 200 OK', base()), 400, /Malformed SIP-Version/);
});

test('a method that is not a token → 400', () => {
  for (const method of ['INV@ITE', 'INV"ITE', 'INVITE:', 'IN(VITE', 'ÜBER', 'IN<VITE>']) {
    rejects(raw(`${method} sip:bob@example.com SIP/2.0`, base({ CSeq: `1 ${method}` })), 400, /method/);
  }
});

test('Request-URI: other schemes parse when well-formed (the server answers 416 via isSipUri)', () => {
  for (const uri of ['tel:+15551234567', 'mailto:bob@example.com', 'urn:service:sos', 'im:bob@example.com']) {
    const m = req(raw(`INVITE ${uri} SIP/2.0`, base()));
    assert.equal(m.uri, uri);
    assert.equal(isSipUri(m.uri), false);
  }
  assert.equal(isSipUri(req(raw('INVITE sips:bob@example.com SIP/2.0', base())).uri), true);
  assert.equal(isSipUri(req(raw('INVITE SIP:bob@example.com SIP/2.0', base())).uri), true);
});

test('Request-URI: malformed or with headers → 400', () => {
  for (const uri of [
    '<sip:bob@example.com>',
    'sip:',
    'sip:bob@',
    'sip:@example.com',
    'sip:bob@exa mple.com',
    'sip:bob@example.com:99999',
    'sip:bob@example.com;lr;lr',
    'sip:bob@example.com?Route=x',
    'tel:',
    'bob@example.com',
    '1tel:123',
    'tel:<123>',
  ]) {
    rejects(raw(`INVITE ${uri} SIP/2.0`, base()), 400);
  }
});

// ---------------------------------------------------------------------------------------------- header fields

test('header folding (RFC 3261 §7.3.1): continuation lines are joined with one SP', () => {
  const m = req(
    invite([
      ...base({ Via: null, To: null }),
      'Via: SIP/2.0/TLS\r\n    client.example.com\r\n\t;branch=z9hG4bK1',
      'To:\r\n Bob\r\n <sip:bob@example.com>',
      "Subject: I know you're there,\r\n         pick up the phone   \r\n\t  and talk to me!",
      'X-Empty-Continuation: a\r\n \r\n b',
    ]),
  );
  assert.equal(header(m, 'Via'), 'SIP/2.0/TLS client.example.com ;branch=z9hG4bK1');
  assert.equal(parseVia(header(m, 'Via')!)?.params.branch, 'z9hG4bK1');
  assert.equal(header(m, 'To'), 'Bob <sip:bob@example.com>');
  assert.equal(header(m, 'Subject'), "I know you're there, pick up the phone and talk to me!");
  assert.equal(header(m, 'X-Empty-Continuation'), 'a b');
});

test('a header section starting with a continuation line → 400', () => {
  rejects(invite([' X-Folded: nothing to continue', ...base()]), 400, /continuation/);
  rejects(invite(['\tX: y', ...base()]), 400, /continuation/);
});

test('whitespace around the colon and the value is not part of name or value', () => {
  const m = req(invite([...base(), 'Subject   :    hello   ', 'X-Tab\t:\thi\t']));
  assert.equal(header(m, 'Subject'), 'hello');
  assert.equal(header(m, 'X-Tab'), 'hi');
  assert.equal(m.headers.at(-2)?.name, 'X-Tab');
});

test('compact forms are expanded to canonical long names', () => {
  const expected: Record<string, string> = {
    i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type', f: 'From',
    s: 'Subject', k: 'Supported', t: 'To', v: 'Via', o: 'Event', u: 'Allow-Events', r: 'Refer-To',
    b: 'Referred-By', x: 'Session-Expires', a: 'Accept-Contact', j: 'Reject-Contact', d: 'Request-Disposition',
    y: 'Identity', n: 'Identity-Info',
  }; // prettier-ignore
  for (const [c, long] of Object.entries(expected)) {
    assert.equal(canonicalHeaderName(c), long, c);
    assert.equal(canonicalHeaderName(c.toUpperCase()), long, c.toUpperCase());
  }
  // Letters without a compact form stay as written.
  for (const c of ['g', 'h', 'p', 'q', 'w', 'z', 'Q']) assert.equal(canonicalHeaderName(c), c);

  const m = req(
    raw('INVITE sip:bob@example.com SIP/2.0', [
      'v: SIP/2.0/TLS client.example.com;branch=z9hG4bK1',
      'F: <sip:alice@example.com>;tag=1',
      't : <sip:bob@example.com>',
      'I: abc@def',
      'CSeq: 1 INVITE',
      'm: <sip:alice@client.example.com>',
      'e: gzip',
      'C: text/plain',
      's: hi',
      'k: path, outbound',
      'o: presence',
      'u: presence, dialog',
      'r: <sip:carol@example.com>',
      'B: <sip:alice@example.com>',
      'x: 1800;refresher=uac',
      'a: *;audio',
      'j: *;video',
      'd: proxy',
      'y: c2lnbmF0dXJl',
      'n: <https://example.com/cert>;alg=rsa-sha1',
      'L: 2',
    ], 'hi', false), // prettier-ignore
  );
  assert.deepEqual(
    m.headers.map((h) => h.name),
    ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Encoding', 'Content-Type', 'Subject', 'Supported',
     'Event', 'Allow-Events', 'Refer-To', 'Referred-By', 'Session-Expires', 'Accept-Contact', 'Reject-Contact',
     'Request-Disposition', 'Identity', 'Identity-Info', 'Content-Length'], // prettier-ignore
  );
  assert.equal(m.body.toString(), 'hi');
  assert.deepEqual(headerValues(m, 'Supported'), ['path', 'outbound']);
});

test('known header names get their canonical capitalisation; unknown ones are kept as written', () => {
  const cases: [string, string][] = [
    ['call-id', 'Call-ID'],
    ['CALL-ID', 'Call-ID'],
    ['cseq', 'CSeq'],
    ['CSEQ', 'CSeq'],
    ['max-forwards', 'Max-Forwards'],
    ['www-authenticate', 'WWW-Authenticate'],
    ['PROXY-AUTHORIZATION', 'Proxy-Authorization'],
    ['sip-etag', 'SIP-ETag'],
    ['rseq', 'RSeq'],
    ['mime-version', 'MIME-Version'],
    ['record-route', 'Record-Route'],
    ['Via', 'Via'],
    ['x-Unknown-thing', 'x-Unknown-thing'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
  ];
  for (const [name, canonical] of cases) assert.equal(canonicalHeaderName(name), canonical, name);

  const m = req(
    invite([
      ...base({ Via: null, 'Call-ID': null }),
      'vIA: SIP/2.0/TLS h;branch=z9hG4bK2',
      'call-id: x@y',
      'x-Foo: 1',
    ]),
  );
  assert.deepEqual(m.headers.map((h) => h.name).slice(-4), ['Via', 'Call-ID', 'x-Foo', 'Content-Length']);
});

test('repeated and comma-joined headers: order kept, lists split by headerValues', () => {
  const m = req(
    invite([
      'Via: SIP/2.0/TLS a.example.com;branch=z9hG4bK1, SIP/2.0/TLS b.example.com;branch=z9hG4bK2',
      ...base({ Via: null }),
      'Route: <sip:p1.example.com;lr>',
      'Via: SIP/2.0/TLS c.example.com;branch=z9hG4bK3',
      'Route: <sip:p2.example.com;lr>,<sip:p3.example.com;lr>',
    ]),
  );
  assert.deepEqual(
    headerValues(m, 'Via').map((v) => parseVia(v)?.host),
    ['a.example.com', 'b.example.com', 'c.example.com'],
  );
  assert.deepEqual(headerValues(m, 'Route'), [
    '<sip:p1.example.com;lr>',
    '<sip:p2.example.com;lr>',
    '<sip:p3.example.com;lr>',
  ]);
  assert.equal(
    m.headers.filter((h) => h.name === 'Via').length,
    2,
    'header instances are not split by the parser',
  );
});

test('single-valued headers: identical repeats are tolerated, conflicting ones → 400', () => {
  const m = req(invite([...base(), 'Call-ID: a84b4c76e66710@pc33.example.com', 'Max-Forwards: 70']));
  assert.equal(headerValues(m, 'Call-ID').length, 2);
  for (const [name, value] of [
    ['Call-ID', 'other@pc33.example.com'],
    ['CSeq', '314160 INVITE'],
    ['From', 'Alice <sip:alice@example.com>;tag=other'],
    ['To', 'Carol <sip:carol@example.com>'],
    ['Max-Forwards', '69'],
  ]) {
    rejects(invite([...base(), `${name}: ${value}`]), 400, /Conflicting/);
  }
});

test('required headers: each of Via, From, To, Call-ID, CSeq missing → 400', () => {
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    rejects(invite(base({ [name]: null })), 400, new RegExp(`Missing ${name}`));
    rejects(ok200(base({ [name]: null })), 400, new RegExp(`Missing ${name}`));
  }
  assert.equal(
    header(req(invite(base({ 'Max-Forwards': null }))), 'Max-Forwards'),
    undefined,
    'Max-Forwards is optional',
  );
});

test('required headers: present but unusable → 400', () => {
  const bad: [string, string][] = [
    ['Via', ''],
    ['Via', ','],
    ['Via', 'SIP/2.0/TLS'],
    ['Via', 'SIP/2.0/TLS client.example.com;branch=z9hG4bK1,garbage'],
    ['From', ''],
    ['From', 'Alice'],
    ['From', '<sip:alice@example.com>, <sip:carol@example.com>'],
    ['To', '<sip:bob@example.com'],
    ['To', 'sip:bob@example.com?subject=x'],
    ['Call-ID', ''],
    ['Call-ID', 'a b'],
    ['Call-ID', 'a\tb'],
  ];
  for (const [name, value] of bad) rejects(invite(base({ [name]: value })), 400, undefined);
});

test('Call-ID: opaque apart from whitespace (base64 "=" and odd characters are fine)', () => {
  assert.equal(header(req(invite(base({ 'Call-ID': 'YWJj==@host' }))), 'Call-ID'), 'YWJj==@host');
  assert.equal(header(req(invite(base({ 'Call-ID': '"weird<>[]{}' }))), 'Call-ID'), '"weird<>[]{}');
});

test('CSeq: number and method', () => {
  const good: [string, number][] = [
    ['0 INVITE', 0],
    ['1 INVITE', 1],
    ['2147483647 INVITE', 2 ** 31 - 1],
    ['00000000000000000000001 INVITE', 1],
    ['5   INVITE', 5],
    ['5\tINVITE', 5],
  ];
  for (const [v, n] of good) assert.equal(cseq(req(invite(base({ CSeq: v })))).seq, n, v);
  for (const v of [
    '2147483648 INVITE',
    '99999999999999999999999 INVITE',
    '-1 INVITE',
    '1.5 INVITE',
    '1INVITE',
    'INVITE',
    '1',
    '1 ',
    'x1 INVITE',
    '1 INVITE extra',
    '1 INV@ITE',
    '1 OPTIONS',
    '1 invite',
  ]) {
    rejects(invite(base({ CSeq: v })), 400, /CSeq/);
  }
});

test('Max-Forwards: 0-255 digits only', () => {
  for (const v of ['0', '70', '255', '0070'])
    assert.equal(header(req(invite(base({ 'Max-Forwards': v }))), 'Max-Forwards'), v);
  for (const v of ['256', '-1', 'abc', '', '1.0', '7 0', '99999999999999999999999', '+5']) {
    rejects(invite(base({ 'Max-Forwards': v })), 400, /Max-Forwards/);
  }
});

test('Contact, Route and Record-Route are validated; "Contact: *" is left to the registrar', () => {
  assert.equal(header(req(invite([...base(), 'Contact: *'])), 'Contact'), '*');
  const m = req(
    invite([
      ...base(),
      'Contact: "A" <sip:a@h>;expires=60, sip:b@h;q=0.5',
      'Record-Route: <sip:p.example.com;lr>',
    ]),
  );
  assert.equal(headerValues(m, 'Contact').length, 2);
  for (const line of [
    'Contact: <sip:a@h',
    'Contact: ,',
    'Contact: sip:a@h?x=y',
    'Route: sip:p.example.com;lr',
    'Route: <sip:p.example.com;lr>,',
    'Route: ',
    'Record-Route: <nope>',
  ]) {
    if (line === 'Route: <sip:p.example.com;lr>,') {
      // A trailing empty list element is ignored.
      assert.equal(headerValues(req(invite([...base(), line])), 'Route').length, 1);
      continue;
    }
    rejects(invite([...base(), line]), 400, undefined);
  }
});

test('header lines: no colon, empty or non-token name → 400', () => {
  for (const line of ['NoColonHere', ': value', 'Bad Name: x', 'Bad@Name: x', 'Ünï: x', 'Name\x7f: x']) {
    rejects(invite([...base(), line]), 400, undefined);
  }
});

test('UTF-8 in header values is decoded; invalid UTF-8 → 400', () => {
  const m = req(
    invite([...base({ From: '"Zoë 日本" <sip:zoe@example.com>;tag=1' }), 'Subject: こんにちは 🌸']),
  );
  assert.equal(header(m, 'Subject'), 'こんにちは 🌸');
  assert.equal(parseNameAddr(header(m, 'From')!)?.displayName, 'Zoë 日本');
  const head = invite([...base(), 'Subject: XX']);
  const at = head.indexOf('XX');
  for (const bytes of [
    [0xc3, 0x28],
    [0xe9, 0x41],
    [0xff, 0xfe],
    [0xed, 0xa0],
  ]) {
    const b = Buffer.from(head);
    b[at] = bytes[0]!;
    b[at + 1] = bytes[1]!;
    rejects(b, 400, /UTF-8/);
  }
});

test('control characters: NUL, DEL, bare CR or LF in the header section → 400; HTAB is fine', () => {
  rejects(invite([...base(), 'Subject: a\x00b']), 400, /Control/);
  rejects(invite([...base(), 'Subject: a\x7fb']), 400, /Control/);
  rejects(invite([...base(), 'Subject: a\x1bb']), 400, /Control/);
  rejects(invite([...base(), 'Subject: a\rb']), 400, /CR/);
  rejects(invite([...base(), 'Subject: a\nb']), 400, /LF/);
  rejects(Buffer.from(invite().toString().replace('Max-Forwards: 70\r\n', 'Max-Forwards: 70\n')), 400, /LF/);
  assert.equal(header(req(invite([...base(), 'Subject: a\tb'])), 'Subject'), 'a\tb');
  // Escaped inside a quoted-string they are data (RFC 4475 §3.1.1.2).
  const m = req(invite(base({ To: '"a\\\x00b" <sip:bob@example.com>' })));
  assert.equal(parseNameAddr(header(m, 'To')!)?.displayName, 'a\x00b');
});

test('a header section without its empty line → 400', () => {
  rejects(
    Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\n' + base().join('\r\n') + '\r\n'),
    400,
    /not terminated/,
  );
  rejects(Buffer.from(''), 400);
  rejects(Buffer.from('\r\n\r\n'), 400);
});

// ---------------------------------------------------------------------------------------------- body

test('Content-Length equal to the body: the body is a view on the input', () => {
  const b = invite(base(), 'v=0\r\n');
  const m = req(b);
  assert.equal(m.body.toString(), 'v=0\r\n');
  assert.equal(m.body.buffer, b.buffer, 'not a copy');
});

test('Content-Length larger than the body → 400; smaller → 400 (parseMessage) or truncated (parseDatagram)', () => {
  rejects(invite(base(), 'hello', '6'), 400, /shorter/);
  rejects(invite(base(), 'hello', '4'), 400, /longer/);
  rejects(invite(base(), 'hello', '0'), 400, /longer/);
  const d = parseDatagram(invite(base(), 'hello', '4'));
  assert.equal(d.body.toString(), 'hell');
  assert.throws(() => parseDatagram(invite(base(), 'hello', '6')), SipParseError);
});

test('Content-Length must be digits', () => {
  for (const v of ['abc', '-1', '1e1', '0x5', '+5', '5 5', ''])
    rejects(invite(base(), 'hello', v), 400, /Content-Length/);
  assert.equal(req(invite(base(), 'hello', '00005')).body.toString(), 'hello');
});

test('Content-Length counts bytes, not characters', () => {
  const body = 'héllo 日本 🌸';
  assert.equal(req(invite(base(), body)).body.toString(), body);
  rejects(invite(base(), body, String(body.length)), 400, /longer/);
});

test('without Content-Length the body is the rest of the buffer', () => {
  assert.equal(req(invite(base(), 'rest of it', false)).body.toString(), 'rest of it');
});

// ---------------------------------------------------------------------------------------------- limits

test('default limits', () => {
  assert.deepEqual(
    { ...DEFAULT_LIMITS },
    { maxHeaderBytes: 65536, maxHeaders: 100, maxHeaderLineBytes: 8192, maxBodyBytes: 262144 },
  );
  assert.equal(Object.isFrozen(DEFAULT_LIMITS), true);
  assert.equal(resolveLimits(), DEFAULT_LIMITS);
  assert.deepEqual({ ...resolveLimits({ maxHeaders: 5 }) }, { ...DEFAULT_LIMITS, maxHeaders: 5 });
  for (const v of [-1, 1.5, NaN, Infinity, 2 ** 60]) {
    assert.throws(() => resolveLimits({ maxBodyBytes: v }), RangeError);
    assert.throws(() => parseMessage(invite(), { maxBodyBytes: v }), RangeError);
  }
});

/** An INVITE whose header section (start line and fields, without the final CRLFCRLF) is `size` bytes. */
function headOfSize(size: number, lineMax = 8000): Buffer {
  const start = 'INVITE sip:bob@example.com SIP/2.0';
  const lines = [...base(), 'Content-Length: 0'];
  let len = start.length + lines.reduce((n, l) => n + 2 + l.length, 0);
  for (let k = 0; len < size; k++) {
    const prefix = `X-Pad-${k}: `;
    const room = size - len - 2 - prefix.length;
    const n = Math.max(1, Math.min(lineMax - prefix.length, room));
    lines.push(prefix + 'p'.repeat(n));
    len += 2 + prefix.length + n;
  }
  const b = Buffer.from(`${start}\r\n${lines.join('\r\n')}\r\n\r\n`);
  assert.equal(b.length, size + 4);
  return b;
}

test('header section: up to maxHeaderBytes accepted, beyond → 513', () => {
  assert.equal(req(headOfSize(DEFAULT_LIMITS.maxHeaderBytes)).method, 'INVITE');
  rejects(headOfSize(DEFAULT_LIMITS.maxHeaderBytes + 1), 513, /Header section larger/);
  rejects(headOfSize(DEFAULT_LIMITS.maxHeaderBytes + 100_000), 513);
  assert.equal(req(headOfSize(2000), { maxHeaderBytes: 2000 }).method, 'INVITE');
  rejects(headOfSize(2001), 513, undefined, { maxHeaderBytes: 2000 });
  // Without any empty line at all, too: no waiting for more.
  rejects(Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\n' + 'X: y\r\n'.repeat(20_000)), 513);
});

test('one header field: up to maxHeaderLineBytes accepted, beyond → 513 (continuation lines included)', () => {
  const max = DEFAULT_LIMITS.maxHeaderLineBytes;
  const field = (n: number) => 'Subject: ' + 's'.repeat(n - 'Subject: '.length);
  assert.equal(header(req(invite([...base(), field(max)])), 'Subject')?.length, max - 9);
  rejects(invite([...base(), field(max + 1)]), 513, /Header field larger/);
  const folded = 'Subject: ' + 'a'.repeat(5000) + '\r\n ' + 'b'.repeat(3500);
  rejects(invite([...base(), folded]), 513);
  // Counted in bytes: 3000 three-byte characters are 9000 bytes.
  rejects(invite([...base(), 'Subject: ' + '日'.repeat(3000)]), 513);
  assert.equal(header(req(invite([...base(), 'Subject: ' + '日'.repeat(2700)])), 'Subject')?.length, 2700);
  rejects(invite([...base(), 'Subject: ' + 'é'.repeat(4100)]), 513);
  assert.equal(header(req(invite([...base(), 'Subject: ' + 'é'.repeat(4000)])), 'Subject')?.length, 4000);
});

test('header count: up to maxHeaders accepted, beyond → 400', () => {
  const pad = (n: number) => Array.from({ length: n }, (_, k) => `X-H${k}: ${k}`);
  // base() has 6 fields and raw() adds Content-Length.
  assert.equal(req(invite([...base(), ...pad(DEFAULT_LIMITS.maxHeaders - 7)])).headers.length, 100);
  rejects(invite([...base(), ...pad(DEFAULT_LIMITS.maxHeaders - 6)]), 400, /More than 100 header fields/);
  rejects(invite([...base(), ...pad(10)]), 400, /More than 10/, { maxHeaders: 10 });
  // A comma-joined list counts once.
  const joined =
    'Via: ' +
    Array.from({ length: 150 }, (_, k) => `SIP/2.0/TLS h${k}.example.com;branch=z9hG4bK${k}`).join(',');
  assert.equal(headerValues(req(invite([joined, ...base({ Via: null })])), 'Via').length, 150);
});

test('body: up to maxBodyBytes accepted, beyond → 413, with or without Content-Length', () => {
  const max = DEFAULT_LIMITS.maxBodyBytes;
  assert.equal(req(invite(base(), Buffer.alloc(max, 0x61))).body.length, max);
  rejects(invite(base(), Buffer.alloc(max + 1, 0x61)), 413, /body limit/);
  rejects(invite(base(), Buffer.alloc(max + 1, 0x61), false), 413, /limit/);
  assert.equal(req(invite(base(), Buffer.alloc(max, 0x61), false)).body.length, max);
  // An announced Content-Length over the limit is refused before any body arrives.
  rejects(invite(base(), '', String(max + 1)), 413);
  rejects(invite(base(), '', '9'.repeat(40)), 413);
  rejects(invite(base(), 'x'.repeat(11)), 413, /10-byte/, { maxBodyBytes: 10 });
  assert.throws(
    () => parseDatagram(invite(base(), 'hello'), { maxBodyBytes: 4 }),
    (e: SipParseError) => e.status === 413,
  );
});

// ---------------------------------------------------------------------------------------------- errors and hostile input

test('SipParseError: an Error with a status, default 400, single-line message with peer data quoted', () => {
  const e = new SipParseError('x');
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'SipParseError');
  assert.equal(e.status, 400);
  assert.equal(new SipParseError('y', 513).status, 513);
  assert.throws(
    () => parseMessage(invite([...base(), 'Evil "line\u2028with\ttabs'])),
    (err: SipParseError) =>
      err.message.includes(JSON.stringify('Evil "line\u2028with\ttabs')) && !/[\r\n]/.test(err.message),
  );
});

test('hostile header values of 60 KB (";;;;", quotes, brackets, commas) are refused or kept, never hang', () => {
  const lim = { maxHeaderLineBytes: 128 * 1024, maxHeaderBytes: 256 * 1024 };
  const n = 60_000;
  for (const junk of [
    ';'.repeat(n),
    '"'.repeat(n),
    '<'.repeat(n),
    ','.repeat(n),
    '\\"'.repeat(n / 2),
    ';a'.repeat(n / 2),
    '<"'.repeat(n / 2),
  ]) {
    for (const name of ['Via', 'To', 'From', 'Contact', 'Route', 'Record-Route']) {
      rejects(invite([...base({ [name]: null }), `${name}: ${junk}`]), 400, undefined, lim);
    }
    rejects(invite(base({ CSeq: `1 ${junk}` })), 400, undefined, lim);
    // Unknown headers are not interpreted: kept untouched.
    assert.equal(header(req(invite([...base(), `X-Junk: ${junk}`]), lim), 'X-Junk'), junk);
  }
  // Parameters galore on otherwise valid values.
  const params = Array.from({ length: 6000 }, (_, k) => `;p${k}`).join('');
  const m = req(
    invite([
      ...base({
        Via: `SIP/2.0/TLS h${params};branch=z9hG4bK1`,
        To: `<sip:bob@example.com${params}>${params}`,
      }),
    ]),
    lim,
  );
  assert.equal(Object.keys(parseVia(header(m, 'Via')!)!.params).length, 6001);
});

test('hostile Request-URIs (the start line is only bounded by maxHeaderBytes) parse in one pass', () => {
  const params = Array.from({ length: 9000 }, (_, k) => `;p${k}`).join('');
  assert.ok(params.length > 50_000);
  const m = req(raw(`OPTIONS sip:bob@example.com${params} SIP/2.0`, base({ CSeq: '1 OPTIONS' })));
  assert.equal(Object.keys(parseUri(m.uri)!.params).length, 9000);
  rejects(
    raw(`OPTIONS sip:bob@example.com${params};p1 SIP/2.0`, base({ CSeq: '1 OPTIONS' })),
    400,
    /Request-URI/,
  );
  rejects(raw(`OPTIONS sip:bob@example.com${';'.repeat(60_000)} SIP/2.0`, base({ CSeq: '1 OPTIONS' })), 400);
  // A long escaped user part; beyond the default limits, too.
  const user = 'u'.repeat(50_000) + '%41';
  assert.equal(
    parseUri(req(raw(`OPTIONS sip:${user}@example.com SIP/2.0`, base({ CSeq: '1 OPTIONS' }))).uri)?.user
      ?.length,
    50_001,
  );
  const huge = 'u'.repeat(300_000) + '%41';
  const big = req(raw(`OPTIONS sip:${huge}@example.com SIP/2.0`, base({ CSeq: '1 OPTIONS' })), {
    maxHeaderBytes: 1024 * 1024,
  });
  assert.equal(parseUri(big.uri)?.user?.endsWith('uA'), true);
});

test('mutated messages either parse (and survive serialize → parse) or throw a SipParseError, nothing else', () => {
  const seeds = [
    'INVITE sip:bob@example.com;lr SIP/2.0\r\nVia: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1;rport, SIP/2.0/UDP h;branch=z9hG4bK2\r\n' +
      'Max-Forwards: 70\r\nTo: "B\\"ob" <sip:bob@example.com;transport=tcp>\r\nFrom: Alice <sip:alice@example.com>;tag=1\r\nCall-ID: a@b\r\n' +
      'CSeq: 1 INVITE\r\nContact: <sip:a@h?x=y>;expires=5, sip:b@h;q=0.1\r\nRoute: <sip:p;lr>\r\nContent-Length: 3\r\n\r\nabc',
    'SIP/2.0 200 OK\r\nv: SIP/2.0/TLS h;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: sip:b@h ; tag = x\r\ni: c\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n',
  ];
  const specials = [
    '\r\n',
    '\r\n ',
    ';',
    ',',
    '"',
    '\\',
    '<',
    '>',
    ':',
    '@',
    '%',
    '[',
    ']',
    ' ',
    '\t',
    '\x00',
    'é',
    '=',
    '?',
    '0',
    '9'.repeat(20),
  ];
  let state = 0x9e3779b9;
  const rnd = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  let parsed = 0;
  for (let iter = 0; iter < 3000; iter++) {
    let s = seeds[rnd(seeds.length)]!;
    for (let k = 1 + rnd(3); k > 0; k--) {
      const at = rnd(s.length);
      const op = rnd(3);
      const ins = specials[rnd(specials.length)]!;
      s =
        op === 0
          ? s.slice(0, at) + ins + s.slice(at)
          : op === 1
            ? s.slice(0, at) + s.slice(at + 1 + rnd(3))
            : s.slice(0, at) + ins + s.slice(at + 1);
    }
    let m;
    try {
      m = parseMessage(Buffer.from(s));
    } catch (e) {
      assert.ok(e instanceof SipParseError, `${String(e)} for ${JSON.stringify(s)}`);
      continue;
    }
    parsed++;
    const again = parseMessage(serializeMessage(m));
    const strip = (hs: { name: string; value: string }[]) => hs.filter((h) => h.name !== 'Content-Length');
    assert.deepEqual(strip(again.headers), strip(m.headers), JSON.stringify(s));
    assert.ok(again.body.equals(m.body));
  }
  assert.ok(parsed > 100, `only ${parsed} mutations parsed`);
});
