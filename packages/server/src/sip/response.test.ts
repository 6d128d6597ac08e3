import { test } from 'node:test';
import assert from 'node:assert/strict';

import { header, headerValues, type SipRequest } from './message.js';
import { parseMessage } from './parser.js';
import { badRequestFor, createResponse, newTag, REASONS, SERVER_HEADER } from './response.js';
import { serializeMessage } from './serialize.js';
import { parseNameAddr } from './uri.js';

const RAW =
  'INVITE sip:bob@example.com SIP/2.0\r\n' +
  'Via: SIP/2.0/TLS a.example.com;branch=z9hG4bK1;rport=5061;received=192.0.2.1\r\n' +
  'Via: SIP/2.0/TLS b.example.com;branch=z9hG4bK2\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: Bob <sip:bob@example.com>\r\n' +
  'From: "Alice" <sip:alice@example.com>;tag=1928301774\r\n' +
  'Call-ID: a84b4c76e66710@pc33.example.com\r\n' +
  'CSeq: 314159 INVITE\r\n' +
  'Contact: <sip:alice@pc33.example.com>\r\n' +
  'Record-Route: <sip:p.example.com;lr>\r\n' +
  'Content-Type: application/sdp\r\n' +
  'Content-Length: 4\r\n' +
  '\r\n' +
  'v=0\n';

const parse = (raw: string): SipRequest => parseMessage(Buffer.from(raw)) as SipRequest;
const invite = (): SipRequest => parse(RAW);
const withTo = (to: string): SipRequest => parse(RAW.replace('To: Bob <sip:bob@example.com>', `To: ${to}`));
const toTag = (v: string | undefined) => parseNameAddr(v ?? '')?.params.tag;

test('createResponse: copies Via (all, in order), From, To, Call-ID, CSeq and nothing else; adds Server', () => {
  const r = createResponse(invite(), 486);
  assert.equal(r.kind, 'response');
  assert.deepEqual([r.status, r.reason], [486, 'Unknown']);
  assert.deepEqual(
    r.headers.map((h) => h.name),
    ['Via', 'Via', 'To', 'From', 'Call-ID', 'CSeq', 'Server'],
  );
  assert.deepEqual(headerValues(r, 'Via'), headerValues(invite(), 'Via'));
  assert.equal(header(r, 'From'), '"Alice" <sip:alice@example.com>;tag=1928301774');
  assert.equal(header(r, 'Call-ID'), 'a84b4c76e66710@pc33.example.com');
  assert.equal(header(r, 'CSeq'), '314159 INVITE');
  assert.equal(header(r, 'Server'), SERVER_HEADER);
  assert.equal(r.body.length, 0);
  assert.equal(header(r, 'Contact'), undefined);
  assert.equal(header(r, 'Record-Route'), undefined);
  assert.equal(header(r, 'Max-Forwards'), undefined);
});

test('createResponse: reason from the table, or given', () => {
  assert.equal(createResponse(invite(), 200).reason, 'OK');
  assert.equal(createResponse(invite(), 416).reason, REASONS[416]);
  assert.equal(createResponse(invite(), 513).reason, 'Message Too Large');
  assert.equal(
    createResponse(invite(), 403, [], { reason: 'Route Not Allowed' }).reason,
    'Route Not Allowed',
  );
});

test('createResponse: a To tag on everything but 100', () => {
  const trying = createResponse(invite(), 100);
  assert.equal(header(trying, 'To'), 'Bob <sip:bob@example.com>');
  for (const status of [180, 183, 200, 401, 486, 500, 603]) {
    const tag = toTag(header(createResponse(invite(), status), 'To'));
    assert.match(tag ?? '', /^[0-9a-f]{12}$/, String(status));
  }
  assert.notEqual(
    toTag(header(createResponse(invite(), 200), 'To')),
    toTag(header(createResponse(invite(), 200), 'To')),
  );
  assert.equal(toTag(header(createResponse(invite(), 200, [], { toTag: 'dlg1' }), 'To')), 'dlg1');
  // The response must still parse: exactly one tag.
  const res = createResponse(invite(), 200);
  const again = parseMessage(serializeMessage(res));
  assert.equal(toTag(header(again, 'To')), toTag(header(res, 'To')));
});

test('createResponse: an existing To tag is kept, however it is spelled', () => {
  for (const [to, tag] of [
    ['<sip:bob@example.com>;tag=abc', 'abc'],
    ['<sip:bob@example.com>;TAG=abc', 'abc'],
    ['<sip:bob@example.com> ; tag = abc', 'abc'],
    ['sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n', '1918181833n'],
    ['<sip:bob@example.com>;x=1;tag="quoted"', '"quoted"'],
  ]) {
    const r = createResponse(withTo(to!), 200);
    assert.equal(header(r, 'To'), to, to);
    assert.equal(toTag(header(r, 'To')), tag, to);
  }
});

test('createResponse: "tag=" inside the URI or the display name is not a To tag', () => {
  for (const to of [
    '<sip:bob@example.com;tag=inuri>',
    '"a;tag=b" <sip:bob@example.com>',
    '<sip:bob;tag=1@example.com>',
  ]) {
    const r = createResponse(withTo(to), 200, [], { toTag: 'mine' });
    assert.equal(header(r, 'To'), `${to};tag=mine`, to);
    assert.equal(toTag(header(r, 'To')), 'mine');
  }
});

test('createResponse: extra headers, Content-Type and body', () => {
  const r = createResponse(
    invite(),
    200,
    [
      { name: 'Contact', value: '<sip:me@h>' },
      { name: 'Allow', value: 'INVITE' },
    ],
    {
      body: Buffer.from('v=0\r\n'),
      contentType: 'application/sdp',
    },
  );
  assert.deepEqual(r.headers.map((h) => h.name).slice(-4), ['Server', 'Contact', 'Allow', 'Content-Type']);
  assert.equal(r.body.toString(), 'v=0\r\n');
  assert.ok(
    serializeMessage(r)
      .toString()
      .endsWith('Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n'),
  );
});

// ---------------------------------------------------------------------------------------------- badRequestFor

test('badRequestFor: a 400 from the identifying headers of a broken request, with our reason', () => {
  const raw = Buffer.from(
    RAW.replace('Max-Forwards: 70', 'Max-Forwards: lots').replace(
      'CSeq: 314159 INVITE',
      'CSeq: 314159 INVITE',
    ),
  );
  assert.throws(() => parseMessage(raw));
  const r = badRequestFor(raw, 400, 'Bad Request');
  assert.ok(r);
  assert.deepEqual([r.status, r.reason], [400, 'Bad Request']);
  assert.deepEqual(
    r.headers.map((h) => h.name),
    ['Via', 'Via', 'To', 'From', 'Call-ID', 'CSeq', 'Server'],
  );
  assert.match(toTag(header(r, 'To')) ?? '', /^[0-9a-f]{12}$/);
  assert.equal(header(r, 'Max-Forwards'), undefined);
  // It can be sent.
  assert.equal(parseMessage(serializeMessage(r)).kind, 'response');
});

test('badRequestFor: compact forms are understood', () => {
  const raw = Buffer.from(
    'OPTIONS sip:b@h SIP/2.0\r\nv: SIP/2.0/TLS h;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: <sip:b@h>\r\ni: cid\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: x\r\nl: 0\r\n\r\n',
  );
  const r = badRequestFor(raw, 400, 'Bad Request');
  assert.deepEqual(r?.headers.map((h) => `${h.name}: ${h.value}`).slice(0, 5), [
    'Via: SIP/2.0/TLS h;branch=z9hG4bK1',
    'From: <sip:a@h>;tag=1',
    'To: <sip:b@h>;tag=' + toTag(header(r!, 'To')),
    'Call-ID: cid',
    'CSeq: 1 OPTIONS',
  ]);
});

test('badRequestFor: never answers a response, whatever the case of its version', () => {
  const resp = (start: string) =>
    Buffer.from(
      RAW.replace('INVITE sip:bob@example.com SIP/2.0', start).replace('Max-Forwards: 70', 'Max-Forwards: x'),
    );
  for (const start of [
    'SIP/2.0 200 OK',
    'sip/2.0 200 OK',
    'Sip/2.0 180 Ringing',
    'SIP/7.0 200 OK',
    'SIP/2.0 4294967301 big',
  ]) {
    assert.equal(badRequestFor(resp(start), 400, 'Bad Request'), undefined, start);
  }
});

test('badRequestFor: undefined when any of Via, From, To, Call-ID, CSeq is missing', () => {
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    const lines = RAW.split('\r\n').filter((l) => !l.startsWith(`${name}:`));
    assert.equal(badRequestFor(Buffer.from(lines.join('\r\n')), 400, 'Bad Request'), undefined, name);
  }
  assert.equal(badRequestFor(Buffer.alloc(0), 400, 'Bad Request'), undefined);
  assert.equal(badRequestFor(Buffer.from('\r\n\r\n'), 400, 'Bad Request'), undefined);
  assert.equal(badRequestFor(Buffer.from('garbage'), 400, 'Bad Request'), undefined);
});

test('badRequestFor: never echoes the peer (reason is ours; huge values are not copied)', () => {
  const evil = RAW.replace(
    'INVITE sip:bob@example.com SIP/2.0',
    'INVITE sip:bob@example.com SIP/2.0 Error: at evil()',
  ).replace('Call-ID: a84b4c76e66710@pc33.example.com', `Call-ID: ${'c'.repeat(2000)}`);
  assert.equal(
    badRequestFor(Buffer.from(evil), 400, 'Bad Request'),
    undefined,
    'the huge Call-ID is not copied, so no answer',
  );
  const r = badRequestFor(
    Buffer.from(RAW.replace('SIP/2.0\r\n', 'SIP/2.0 Please Echo Me\r\n')),
    400,
    'Bad Request',
  );
  assert.equal(r?.reason, 'Bad Request');
  assert.ok(!serializeMessage(r!).toString().includes('Echo'));
  assert.equal(badRequestFor(Buffer.from(RAW), 513, 'Message Too Large')?.status, 513);
});

test('badRequestFor: lines with a bare CR or LF are skipped, and hostile lines are read in linear time', () => {
  // Such a line would make the serialized answer carry a raw LF (a header injection).
  const raw = RAW.replace('Call-ID: a84b4c76e66710@pc33.example.com', 'Call-ID: a\nInjected: 1');
  assert.equal(badRequestFor(Buffer.from(raw), 400, 'Bad Request'), undefined);
  const cr = RAW.replace('To: Bob <sip:bob@example.com>', 'To: Bob <sip:bob@example.com>\rX: y');
  assert.equal(badRequestFor(Buffer.from(cr), 400, 'Bad Request'), undefined);
  // A 60 KB line of spaces ending in a bare LF: a backtracking regular expression would take seconds.
  const spaces = RAW.replace('Max-Forwards: 70', `Via: ${' '.repeat(60_000)}y\nz`);
  const r = badRequestFor(Buffer.from(spaces), 400, 'Bad Request');
  assert.equal(headerValues(r!, 'Via').length, 2);
  const colons = RAW.replace('Max-Forwards: 70', `X${':'.repeat(30_000)}${' '.repeat(30_000)}\n`);
  assert.equal(badRequestFor(Buffer.from(colons), 400, 'Bad Request')?.status, 400);
});

test('createResponse: identical repeated To headers (tolerated by the parser) get the same tag', () => {
  const req = parse(
    RAW.replace(
      'To: Bob <sip:bob@example.com>\r\n',
      'To: Bob <sip:bob@example.com>\r\nTo: Bob <sip:bob@example.com>\r\n',
    ),
  );
  const r = createResponse(req, 200);
  const tos = r.headers.filter((h) => h.name === 'To').map((h) => h.value);
  assert.equal(tos.length, 2);
  assert.equal(tos[0], tos[1]);
  assert.equal(
    parseMessage(serializeMessage(r)).kind,
    'response',
    'the answer is not refused for conflicting To headers',
  );
});

test('every status a SipParseError can carry has its reason phrase', () => {
  for (const [status, reason] of [
    [400, 'Bad Request'],
    [413, 'Request Entity Too Large'],
    [505, 'Version Not Supported'],
    [513, 'Message Too Large'],
  ] as const) {
    assert.equal(REASONS[status], reason);
    assert.equal(createResponse(invite(), status).reason, reason);
  }
});

test('newTag: 12 hex digits, fresh every time (across refills of the random pool)', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const t = newTag();
    assert.match(t, /^[0-9a-f]{12}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 5000);
});
