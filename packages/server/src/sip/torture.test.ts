/**
 * RFC 4475 (SIP torture test messages) and RFC 5118 (IPv6 torture tests), reproduced as string literals.
 *
 * Each message is checked against what the RFC expects of a proxy/registrar: it parses (and the tricky
 * values are read correctly), or it is refused with a SipParseError whose status is the answer to send,
 * or it parses and the helper the server relies on reports the problem (isSipUri → 416, a bad branch → the
 * transaction layer's 400...). Where the RFC leaves the choice open, the comment says what we chose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SipParseError } from './errors.js';
import { SipFramer } from './framer.js';
import {
  cseq,
  header,
  headerInstances,
  headerValues,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.js';
import { parseDatagram, parseMessage } from './parser.js';
import { badRequestFor, createResponse } from './response.js';
import { serializeMessage } from './serialize.js';
import {
  aorOf,
  isSipUri,
  parseAuthHeader,
  parseNameAddr,
  parseUri,
  parseVia,
  type NameAddr,
  type SipUri,
  type Via,
} from './uri.js';

// ---------------------------------------------------------------------------------------------- helpers

const buf = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

function parse(s: string | Buffer): SipMessage {
  return parseMessage(buf(s));
}

function request(s: string | Buffer): SipRequest {
  const m = parse(s);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

function response(s: string | Buffer): SipResponse {
  const m = parse(s);
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

/** parseMessage throws a SipParseError with this status (and a message matching `re`). */
function rejects(s: string | Buffer, status: number, re?: RegExp): SipParseError {
  let caught: unknown;
  try {
    parseMessage(buf(s));
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SipParseError, `expected a SipParseError, got ${String(caught)}`);
  assert.equal(caught.status, status, caught.message);
  if (re) assert.match(caught.message, re);
  assert.doesNotMatch(caught.message, /[\r\n]/, 'error messages are single-line');
  return caught;
}

function uriOf(s: string): SipUri {
  const u = parseUri(s);
  assert.ok(u, `parseUri(${JSON.stringify(s)})`);
  return u;
}

function nameAddr(value: string | undefined): NameAddr {
  assert.ok(value !== undefined, 'header present');
  const na = parseNameAddr(value);
  assert.ok(na, `parseNameAddr(${JSON.stringify(value)})`);
  return na;
}

function vias(m: SipMessage): Via[] {
  return headerValues(m, 'Via').map((v) => {
    const via = parseVia(v);
    assert.ok(via, `parseVia(${JSON.stringify(v)})`);
    return via;
  });
}

/** The RFC 4475 SDP body: 150 bytes with a one-digit last octet, each line CRLF-terminated. */
function sdp(ip: string, opts: { t?: string; noSession?: boolean } = {}): string {
  return (
    'v=0\r\n' +
    `o=mhandley 29739 7272939 IN IP4 ${ip}\r\n` +
    (opts.noSession ? '' : 's=-\r\n') +
    `c=IN IP4 ${ip}\r\n` +
    (opts.noSession ? '' : `t=${opts.t ?? '0 0'}\r\n`) +
    'm=audio 49217 RTP/AVP 0 12\r\n' +
    'm=video 3227 RTP/AVP 31\r\n' +
    'a=rtpmap:31 LPC\r\n'
  );
}

test('the SDP bodies have the sizes RFC 4475 announces for them', () => {
  assert.equal(Buffer.byteLength(sdp('192.0.2.1')), 150);
  assert.equal(Buffer.byteLength(sdp('192.0.2.15')), 152);
  assert.equal(Buffer.byteLength(sdp('192.0.2.198')), 154);
  assert.equal(Buffer.byteLength(sdp('192.0.2.5', { t: '3149328700 0' })), 159);
  assert.equal(Buffer.byteLength(sdp('192.0.2.1', { noSession: true })), 138);
});

// ============================================================ RFC 4475 §3.1.1 Valid messages

test('RFC 4475 §3.1.1.1 wsinv: a short tortuous INVITE (whitespace, folding, compact forms, escapes)', () => {
  const wsinv =
    'INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n' +
    'TO :\r\n' +
    ' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n' +
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n' +
    '  ;\r\n' +
    '  tag = 98asjd8\r\n' +
    'MaX-fOrWaRdS: 0068\r\n' +
    'Call-ID: wsinv.ndaksdj@192.0.2.1\r\n' +
    'Content-Length   : 150\r\n' +
    'cseq: 0009\r\n' +
    '  INVITE\r\n' +
    'Via  : SIP  /   2.0\r\n' +
    ' /UDP\r\n' +
    '    192.0.2.2;branch=390skdjuw\r\n' +
    's :\r\n' +
    'NewFangledHeader:   newfangled value\r\n' +
    ' continued newfangled value\r\n' +
    'UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Route:\r\n' +
    ' <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n' +
    'v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n' +
    '  branch  =   z9hG4bK9ikj8  ,\r\n' +
    ' SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n' +
    ' z9hG4bK30239\r\n' +
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n' +
    '      newvalue ;\r\n' +
    '  secondparam ; q = 0.33\r\n' +
    '\r\n' +
    sdp('192.0.2.3').replace('c=IN IP4 192.0.2.3', 'c=IN IP4 192.0.2.4');
  const m = request(wsinv);
  assert.equal(m.method, 'INVITE');
  assert.equal(m.uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
  assert.deepEqual({ ...uriOf(m.uri).params }, { unknownparam: null });
  // Names: long forms, canonical capitalisation, in order (the folded lines belong to their field).
  assert.deepEqual(
    m.headers.map((h) => h.name),
    ['To', 'From', 'Max-Forwards', 'Call-ID', 'Content-Length', 'CSeq', 'Via', 'Subject', 'NewFangledHeader',
     'UnknownHeaderWithUnusualValue', 'Content-Type', 'Route', 'Via', 'Contact'], // prettier-ignore
  );
  const to = nameAddr(header(m, 'To'));
  assert.equal(to.uri, 'sip:vivekg@chair-dnrc.example.com');
  assert.equal(to.params.tag, '1918181833n');
  const from = nameAddr(header(m, 'From'));
  assert.equal(from.displayName, 'J Rosenberg \\"', 'quoted-pairs resolved: backslash then quote');
  assert.equal(from.uri, 'sip:jdrosen@example.com');
  assert.equal(from.params.tag, '98asjd8');
  assert.equal(header(m, 'Max-Forwards'), '0068');
  assert.deepEqual(cseq(m), { seq: 9, method: 'INVITE' });
  assert.equal(header(m, 'Subject'), '', 'an empty Subject is a header with an empty value');
  assert.equal(header(m, 'NewFangledHeader'), 'newfangled value continued newfangled value');
  assert.equal(header(m, 'UnknownHeaderWithUnusualValue'), ';;,,;;,;', 'unknown values are kept untouched');
  const v = vias(m);
  assert.deepEqual(
    v.map((x) => [x.protocol, x.host, x.port, x.params.branch]),
    [
      ['UDP', '192.0.2.2', undefined, '390skdjuw'],
      ['TCP', 'spindle.example.com', undefined, 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', undefined, 'z9hG4bK30239'],
    ],
  );
  const route = nameAddr(header(m, 'Route'));
  assert.deepEqual(
    { ...uriOf(route.uri).params },
    { lr: null, unknownwith: 'value', 'unknown-no-value': null },
  );
  const contact = nameAddr(header(m, 'Contact'));
  assert.equal(contact.displayName, 'Quoted string ""');
  assert.deepEqual({ ...contact.params }, { newparam: 'newvalue', secondparam: null, q: '0.33' });
  assert.equal(m.body.length, 150);
  assert.ok(m.body.toString().startsWith('v=0\r\n'));
  // An answer keeps the existing To tag (written with LWS around "=") instead of adding a second one.
  const answer = createResponse(m, 486);
  assert.equal(header(answer, 'To'), header(m, 'To'));
  assert.equal(parseMessage(serializeMessage(answer)).kind, 'response');
});

test('RFC 4475 §3.1.1.2 intmeth: wide range of valid characters', () => {
  const intmeth =
    "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n" +
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n" +
    'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>\r\n' +
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\r\n" +
    'Call-ID: intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{\r\n' +
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n" +
    'Max-Forwards: 255\r\n' +
    "extensionHeader-!.%*+_`'~:\uFEFF大停電\r\n" +
    'Content-Length: 0\r\n' +
    '\r\n';
  const m = request(intmeth);
  assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const ruri = uriOf(m.uri);
  assert.equal(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  assert.equal(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  assert.equal(ruri.host, 'example.com');
  assert.equal(vias(m)[0]!.params.branch, "z9hG4bK-.!%66*_+`'~");
  const to = nameAddr(header(m, 'To'));
  assert.equal(to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7F', 'escaped control characters in a quoted-string');
  assert.equal(uriOf(to.uri).user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  const from = nameAddr(header(m, 'From'));
  assert.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
  assert.equal(from.params["fromparam''~+*_!.-%"], '"работающий"', 'UTF-8 quoted value kept as written');
  assert.equal(from.params.tag, "_token~1'+`*%!-.");
  assert.equal(header(m, 'Call-ID'), 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
  assert.deepEqual(cseq(m), { seq: 139122385, method: m.method });
  // The value starts with a byte order mark, which is content, not whitespace.
  assert.equal(header(m, "extensionHeader-!.%*+_`'~"), '\uFEFF大停電');
  assert.deepEqual(headerValues(m, "EXTENSIONHEADER-!.%*+_`'~"), ['\uFEFF大停電']);
});

test('RFC 4475 §3.1.1.3 esc01: valid use of the % escaping mechanism', () => {
  const esc01 =
    'INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n' +
    'To: sip:%75se%72@example.com\r\n' +
    'From: <sip:I%20have%20spaces@example.net>;tag=938\r\n' +
    'Max-Forwards: 87\r\n' +
    'i: esc01.239409asdfakjkn23onasd0-3234\r\n' +
    'CSeq: 234234 INVITE\r\n' +
    'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n' +
    'C: application/sdp\r\n' +
    'Contact:\r\n' +
    '  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n' +
    'Content-Length: 150\r\n' +
    '\r\n' +
    sdp('192.0.2.1');
  const m = request(esc01);
  const ruri = uriOf(m.uri);
  assert.equal(ruri.user, 'sips:user@example.com', 'the user part is an escaped SIPS URI, not a scheme');
  assert.equal(ruri.host, 'example.net');
  assert.equal(
    aorOf(nameAddr(header(m, 'To')).uri),
    'sip:user@example.com',
    'equivalent to sip:user@example.com',
  );
  assert.equal(uriOf(nameAddr(header(m, 'From')).uri).user, 'I have spaces');
  assert.equal(header(m, 'Call-ID'), 'esc01.239409asdfakjkn23onasd0-3234');
  assert.equal(header(m, 'Content-Type'), 'application/sdp');
  const contact = uriOf(nameAddr(header(m, 'Contact')).uri);
  assert.equal(contact.user, 'caller');
  // "%6C%72" is the lr parameter; the value of name is "value%41" (the %25 decodes to a literal %).
  assert.deepEqual({ ...contact.params }, { lr: null, name: 'value%41' });
});

test('RFC 4475 §3.1.1.4 escnull: escaped nulls in URIs', () => {
  const escnull =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'To: sip:null-%00-null@example.com\r\n' +
    'From: sip:null-%00-null@example.com;tag=839923423\r\n' +
    'Max-Forwards: 70\r\n' +
    'Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n' +
    'CSeq: 14398234 REGISTER\r\n' +
    'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n' +
    'Contact: <sip:%00@host5.example.com>\r\n' +
    'Contact: <sip:%00%00@host5.example.com>\r\n' +
    'L:0\r\n' +
    '\r\n';
  const m = request(escnull);
  const to = nameAddr(header(m, 'To'));
  assert.equal(uriOf(to.uri).user, 'null-\x00-null');
  assert.equal(aorOf(to.uri), 'sip:null-%00-null@example.com');
  const contacts = headerValues(m, 'Contact').map((c) => uriOf(nameAddr(c).uri).user);
  assert.deepEqual(contacts, ['\x00', '\x00\x00'], 'two different contacts');
  assert.equal(header(m, 'Content-Length'), '0');
});

test('RFC 4475 §3.1.1.5 esc02: % that is not an escape', () => {
  const esc02 =
    'RE%47IST%45R sip:registrar.example.com SIP/2.0\r\n' +
    'To: "%Z%45" <sip:resource@example.com>\r\n' +
    'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23\r\n' +
    'Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\r\n' +
    'Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\r\n' +
    'CSeq: 29344 RE%47IST%45R\r\n' +
    'Max-Forwards: 70\r\n' +
    'Contact: <sip:alias1@host1.example.com>\r\n' +
    'C%6Fntact: <sip:alias2@host2.example.com>\r\n' +
    'Contact: <sip:alias3@host3.example.com>\r\n' +
    'l: 0\r\n' +
    '\r\n';
  const m = request(esc02);
  assert.equal(m.method, 'RE%47IST%45R', 'an unknown method, not REGISTER');
  assert.equal(nameAddr(header(m, 'To')).displayName, '%Z%45');
  assert.equal(vias(m)[0]!.params.branch, 'z9hG4bK209%fzsnel234');
  assert.equal(headerValues(m, 'Contact').length, 2, 'C%6Fntact is another header, not Contact');
  assert.equal(header(m, 'C%6Fntact'), '<sip:alias2@host2.example.com>');
});

test('RFC 4475 §3.1.1.6 lwsdisp: no LWS between display name and <', () => {
  const lwsdisp =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: caller<sip:caller@example.com>;tag=323\r\n' +
    'Max-Forwards: 70\r\n' +
    'Call-ID: lwsdisp.1234abcd@funky.example.com\r\n' +
    'CSeq: 60 OPTIONS\r\n' +
    'Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\n' +
    'l: 0\r\n' +
    '\r\n';
  const from = nameAddr(header(request(lwsdisp), 'From'));
  assert.deepEqual(
    [from.displayName, from.uri, from.params.tag],
    ['caller', 'sip:caller@example.com', '323'],
  );
});

test('RFC 4475 §3.1.1.7 longreq: long values in header fields (34 Via values, compact and odd-cased names)', () => {
  const longName = `I have a user name of ${'extreme '.repeat(10)}proportion`;
  const viaLines = [
    'Via: SIP/2.0/TCP sip33.example.com',
    'v: SIP/2.0/TCP sip32.example.com',
    'V: SIP/2.0/TCP sip31.example.com',
    'Via: SIP/2.0/TCP sip30.example.com',
    'ViA: SIP/2.0/TCP sip29.example.com',
    'VIa: SIP/2.0/TCP sip28.example.com',
    'VIA: SIP/2.0/TCP sip27.example.com',
    'via: SIP/2.0/TCP sip26.example.com',
    'viA: SIP/2.0/TCP sip25.example.com',
    'vIa: SIP/2.0/TCP sip24.example.com',
    'vIA: SIP/2.0/TCP sip23.example.com',
    'V :  SIP/2.0/TCP sip22.example.com',
    'v :  SIP/2.0/TCP sip21.example.com',
    'V  : SIP/2.0/TCP sip20.example.com',
    'v  : SIP/2.0/TCP sip19.example.com',
    'Via : SIP/2.0/TCP sip18.example.com',
    'Via  : SIP/2.0/TCP sip17.example.com',
  ];
  for (let n = 16; n >= 1; n--) viaLines.push(`Via: SIP/2.0/TCP sip${n}.example.com`);
  const longreq =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    `To: "${longName}" <sip:user@example.com:6000;unknownparam1=very${'long'.repeat(20)}value;longparam${'name'.repeat(25)}=shortvalue;very${'long'.repeat(25)}ParameterNameWithNoValue>\r\n` +
    `F: sip:${'amazinglylongcallername'.repeat(5)}@example.net;tag=12${'982'.repeat(50)}424;unknownheaderparam${'name'.repeat(20)}=unknowheaderparam${'value'.repeat(15)};unknownValueless${'paramname'.repeat(10)}\r\n` +
    `Call-ID: longreq.one${'really'.repeat(20)}longcallid\r\n` +
    'CSeq: 3882340 INVITE\r\n' +
    `Unknown-${'Long'.repeat(20)}-Name: unknown-${'long'.repeat(20)}-value; unknown-${'long'.repeat(20)}-parameter-name = unknown-${'long'.repeat(20)}-parameter-value\r\n` +
    viaLines.join('\r\n') +
    '\r\n' +
    `Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very${'long'.repeat(50)}branchvalue\r\n` +
    'Max-Forwards: 70\r\n' +
    `Contact: <sip:${'amazinglylongcallername'.repeat(5)}@host5.example.net>\r\n` +
    'Content-Type: application/sdp\r\n' +
    'l: 150\r\n' +
    '\r\n' +
    sdp('192.0.2.1');
  const m = request(longreq);
  const to = nameAddr(header(m, 'To'));
  assert.equal(to.displayName, longName);
  const toUri = uriOf(to.uri);
  assert.equal(toUri.port, 6000);
  assert.equal(
    toUri.params[`very${'long'.repeat(25)}parameternamewithnovalue`],
    null,
    'param names are lower-cased',
  );
  assert.equal(toUri.params[`longparam${'name'.repeat(25)}`], 'shortvalue');
  const from = nameAddr(header(m, 'From'));
  assert.equal(from.params.tag, `12${'982'.repeat(50)}424`);
  assert.equal(from.params[`unknownvalueless${'paramname'.repeat(10)}`], null);
  assert.equal(header(m, 'Call-ID'), `longreq.one${'really'.repeat(20)}longcallid`);
  assert.equal(
    m.headers.filter((h) => h.name === 'Via').length,
    34,
    'every spelling of Via is canonicalised',
  );
  const v = vias(m);
  assert.equal(v.length, 34);
  assert.equal(v[0]!.host, 'sip33.example.com');
  assert.equal(v[33]!.params.received, '192.0.2.5');
  assert.equal(v[33]!.params.branch, `very${'long'.repeat(50)}branchvalue`);
  assert.equal(header(m, `unknown-${'long'.repeat(20)}-name`)?.startsWith('unknown-'), true);
  assert.equal(m.body.length, 150);
});

test('RFC 4475 §3.1.1.8 dblreq: extra trailing octets in a UDP datagram are ignored', () => {
  const dblreq =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:j.user@example.com;tag=43251j3j324\r\n' +
    'Max-Forwards: 8\r\n' +
    'I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n' +
    'Contact: sip:j.user@host.example.com\r\n' +
    'CSeq: 8 REGISTER\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n' +
    'INVITE sip:joe@example.com SIP/2.0\r\n' +
    't: sip:joe@example.com\r\n' +
    'From: sip:caller@example.net;tag=141334\r\n' +
    'Max-Forwards: 8\r\n' +
    'Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Content-Length: 150\r\n' +
    '\r\n' +
    sdp('192.0.2.15').replace('m=video', 'm =video');
  const m = parseDatagram(buf(dblreq));
  assert.equal(m.kind, 'request');
  assert.equal((m as SipRequest).method, 'REGISTER');
  assert.equal(m.body.length, 0, 'the INVITE-looking octets are noise, not a body');
  assert.equal(header(m, 'Call-ID'), 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  // On a stream (or a WebSocket message) bytes beyond Content-Length are a framing error instead.
  rejects(dblreq, 400, /longer/);
});

test('RFC 4475 §3.1.1.9 semiuri: semicolon-separated parameters in the URI user part', () => {
  const semiuri =
    'OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\r\n' +
    'To: sip:j_user@example.com\r\n' +
    'From: sip:caller@example.org;tag=33242\r\n' +
    'Max-Forwards: 3\r\n' +
    'Call-ID: semiuri.0ha0isndaksdj\r\n' +
    'CSeq: 8 OPTIONS\r\n' +
    'Accept: application/sdp, application/pkcs7-mime,\r\n' +
    '        multipart/mixed, multipart/signed,\r\n' +
    '        message/sip, message/sipfrag\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r\n' +
    'l: 0\r\n' +
    '\r\n';
  const m = request(semiuri);
  const u = uriOf(m.uri);
  assert.equal(u.user, 'user;par=u@example.net');
  assert.equal(u.host, 'example.com');
  assert.deepEqual({ ...u.params }, {}, 'no uri-parameters: the ";par=" belongs to the user part');
  assert.deepEqual(headerValues(m, 'Accept'), [
    'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
  ]); // prettier-ignore
});

test('RFC 4475 §3.1.1.10 transports: varied and unknown transport types', () => {
  const transports =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: <sip:caller@example.com>;tag=323\r\n' +
    'Max-Forwards: 70\r\n' +
    'Call-ID:  transports.kijh4akdnaqjkwendsasfdj\r\n' +
    'Accept: application/sdp\r\n' +
    'CSeq: 60 OPTIONS\r\n' +
    'Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r\n' +
    'Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r\n' +
    'Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r\n' +
    'Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r\n' +
    'Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\r\n' +
    'l: 0\r\n' +
    '\r\n';
  const m = request(transports);
  assert.deepEqual(
    vias(m).map((v) => v.protocol),
    ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
  );
  assert.equal(header(m, 'Call-ID'), 'transports.kijh4akdnaqjkwendsasfdj');
});

test('RFC 4475 §3.1.1.11 mpart01: multipart MIME message with a binary part', () => {
  // Shortened binary part; it holds every byte value, CRLFs and boundary look-alikes.
  const binary = Buffer.concat([
    Buffer.from([0x30, 0x82, 0x01, 0x52, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    Buffer.from('\r\n\r\n--7a9cbec02ceef655\r\n\xff\xfe', 'latin1'),
  ]);
  const body = Buffer.concat([
    Buffer.from(
      '--7a9cbec02ceef655\r\n' +
        'Content-Type: text/plain\r\n' +
        'Content-Transfer-Encoding: binary\r\n' +
        '\r\n' +
        'Hello\r\n' +
        '--7a9cbec02ceef655\r\n' +
        'Content-Type: application/octet-stream\r\n' +
        'Content-Transfer-Encoding: binary\r\n' +
        '\r\n',
    ),
    binary,
    Buffer.from('\r\n--7a9cbec02ceef655--\r\n'),
  ]);
  const head =
    'MESSAGE sip:kumiko@example.org SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r\n' +
    'Max-Forwards: 70\r\n' +
    'Route: <sip:127.0.0.1:5080>\r\n' +
    'Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=\r\n' +
    'Contact: <sip:fluffy@127.0.0.1:5070>\r\n' +
    'To: <sip:kumiko@example.org>\r\n' +
    'From: <sip:fluffy@example.com>;tag=2fb0dcc9\r\n' +
    'Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\n' +
    'CSeq: 1 MESSAGE\r\n' +
    'Content-Transfer-Encoding: binary\r\n' +
    'Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\n' +
    'Date: Sat, 15 Oct 2005 04:44:56 GMT\r\n' +
    'User-Agent: SIPimp.org/0.2.5 (curses)\r\n' +
    `Content-Length: ${body.length}\r\n` +
    '\r\n';
  const m = request(Buffer.concat([Buffer.from(head), body]));
  assert.ok(m.body.equals(body), 'the body is passed through byte for byte');
  const v = vias(m)[0]!;
  assert.deepEqual([v.host, v.port, v.params.rport], ['127.0.0.1', 5070, null]);
  assert.equal(header(m, 'Identity')?.endsWith('MWYUA='), true);
  assert.equal(uriOf(nameAddr(header(m, 'Route')).uri).port, 5080);
});

test('RFC 4475 §3.1.1.12 unreason: UTF-8 reason phrase', () => {
  const phrase = '= 2**3 * 5**2 но сто девяносто девять - простое';
  const unreason =
    `SIP/2.0 200 ${phrase}\r\n` +
    'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n' +
    'Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r\n' +
    'CSeq: 35 INVITE\r\n' +
    'From: sip:user@example.com;tag=11141343\r\n' +
    'To: sip:user@example.edu;tag=2229\r\n' +
    'Content-Length: 154\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Contact: <sip:user@host198.example.com>\r\n' +
    '\r\n' +
    sdp('192.0.2.198');
  const m = response(unreason);
  assert.equal(m.status, 200);
  assert.equal(m.reason, phrase);
  assert.equal(m.body.length, 154);
});

test('RFC 4475 §3.1.1.13 noreason: empty reason phrase', () => {
  const noreason =
    'SIP/2.0 100 \r\n' +
    'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n' +
    'Call-ID: noreason.asndj203insdf99223ndf\r\n' +
    'CSeq: 35 INVITE\r\n' +
    'From: <sip:user@example.com>;tag=39ansfi3\r\n' +
    'To: <sip:user@example.edu>;tag=902jndnke3\r\n' +
    'Content-Length: 0\r\n' +
    'Contact: <sip:user@host105.example.com>\r\n' +
    '\r\n';
  const m = response(noreason);
  assert.deepEqual([m.status, m.reason], [100, '']);
  // Without even the SP before the (empty) phrase: tolerated as well.
  assert.equal(response(noreason.replace('SIP/2.0 100 \r\n', 'SIP/2.0 100\r\n')).reason, '');
});

// ============================================================ RFC 4475 §3.1.2 Invalid messages

test('RFC 4475 §3.1.2.1 badinv01: extraneous header field separators → 400', () => {
  const badinv01 =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:caller@example.net;tag=134161461246\r\n' +
    'Max-Forwards: 7\r\n' +
    'Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n' +
    'Contact: "Joe" <sip:joe@example.org>;;;;\r\n' +
    'Content-Length: 152\r\n' +
    'Content-Type: application/sdp\r\n' +
    '\r\n' +
    sdp('192.0.2.15');
  rejects(badinv01, 400, /Via/);
  rejects(badinv01.replace(';;,;,,', ';branch=z9hG4bK1'), 400, /Contact/);
});

test('RFC 4475 §3.1.2.2 clerr: Content-Length larger than the message → 400 (a stream just waits)', () => {
  const clerr =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'Max-Forwards: 80\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:caller@example.net;tag=93942939o2\r\n' +
    'Contact: <sip:caller@hungry.example.net>\r\n' +
    'Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Content-Length: 9999\r\n' +
    '\r\n' +
    sdp('192.0.2.155');
  rejects(clerr, 400, /shorter/);
  assert.throws(() => parseDatagram(buf(clerr)), SipParseError);
  // Over TCP "there's not much the receiving party could do but wait for more data".
  const framer = new SipFramer();
  assert.deepEqual(framer.push(buf(clerr)), []);
  assert.equal(framer.pending, Buffer.byteLength(clerr));
  // The best-effort answer copies the identifying headers.
  const res = badRequestFor(buf(clerr), 400, 'Bad Request');
  assert.equal(res?.status, 400);
  assert.equal(header(res!, 'Call-ID'), 'clerr.0ha0isndaksdjweiafasdk3');
});

test('RFC 4475 §3.1.2.3 ncl: negative Content-Length → 400, and an unrecoverable framing error on a stream', () => {
  const ncl =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'Max-Forwards: 254\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:caller@example.net;tag=32394234\r\n' +
    'Call-ID: ncl.0ha0isndaksdj2193423r542w35\r\n' +
    'CSeq: 0 INVITE\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\r\n' +
    'Contact: <sip:caller@example53.example.net>\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Content-Length: -999\r\n' +
    '\r\n' +
    sdp('192.0.2.53');
  rejects(ncl, 400, /Content-Length/);
  const events = new SipFramer().push(buf(ncl));
  assert.equal(events.length, 1);
  assert.equal(events[0]!.type, 'error');
});

test('RFC 4475 §3.1.2.4 scalar02: request scalar fields with overlarge values → 400', () => {
  const scalar02 =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\n' +
    'To: <sip:user@example.com>\r\n' +
    'From: <sip:user@example.com>;tag=239232jh3\r\n' +
    'CSeq: 36893488147419103232 REGISTER\r\n' +
    'Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\n' +
    'Max-Forwards: 300\r\n' +
    `Expires: 1${'0'.repeat(100)}\r\n` +
    'Contact: <sip:user@host129.example.com>\r\n' +
    '  ;expires=280297596632815\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n';
  rejects(scalar02, 400, /CSeq/);
  // The RFC would let Max-Forwards alone be treated as absent; we refuse it (a proxy needs it right).
  rejects(scalar02.replace('36893488147419103232', '1'), 400, /Max-Forwards/);
  // Out-of-range expiry values are the registrar's business: the message itself parses.
  const m = request(
    scalar02.replace('36893488147419103232', '1').replace('Max-Forwards: 300', 'Max-Forwards: 70'),
  );
  assert.equal(nameAddr(header(m, 'Contact')).params.expires, '280297596632815');
});

test('RFC 4475 §3.1.2.5 scalarlg: response scalar fields with overlarge values → dropped', () => {
  const scalarlg =
    'SIP/2.0 503 Service Unavailable\r\n' +
    'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\r\n' +
    'To: <sip:user@example.com>\r\n' +
    'From: <sip:other@example.net>;tag=2easdjfejw\r\n' +
    'CSeq: 9292394834772304023312 OPTIONS\r\n' +
    'Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\r\n' +
    'Retry-After: 949302838503028349304023988\r\n' +
    'Warning: 1812 overture "In Progress"\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n';
  rejects(scalarlg, 400, /CSeq/);
  assert.equal(badRequestFor(buf(scalarlg), 400, 'Bad Request'), undefined, 'a response is never answered');
});

test('RFC 4475 §3.1.2.6 quotbal: unterminated quoted string in display name → 400', () => {
  const quotbal =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'To: "Mr. J. User <sip:j.user@example.com>\r\n' +
    'From: sip:caller@example.net;tag=93334\r\n' +
    'Max-Forwards: 10\r\n' +
    'Call-ID: quotbal.aksdj\r\n' +
    'Contact: <sip:caller@host59.example.net>\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Content-Length: 152\r\n' +
    '\r\n' +
    sdp('192.0.2.15');
  rejects(quotbal, 400, /To/);
});

const sdpInvite = (startLine: string, callId: string, extra = ''): string =>
  `${startLine}\r\n` +
  'To: sip:user@example.com\r\n' +
  'From: sip:caller@example.net;tag=39291\r\n' +
  'Max-Forwards: 23\r\n' +
  `Call-ID: ${callId}\r\n` +
  'CSeq: 1 INVITE\r\n' +
  'Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw\r\n' +
  extra +
  'Contact: <sip:caller@host5.example.net>\r\n' +
  'Content-Type: application/sdp\r\n' +
  'Content-Length: 159\r\n' +
  '\r\n' +
  sdp('192.0.2.5', { t: '3149328700 0' });

test('RFC 4475 §3.1.2.7 ltgtruri: <> enclosing the Request-URI → 400', () => {
  rejects(sdpInvite('INVITE <sip:user@example.com> SIP/2.0', 'ltgtruri.1@192.0.2.5'), 400, /Request-URI/);
  assert.equal(
    request(sdpInvite('INVITE sip:user@example.com SIP/2.0', 'ltgtruri.1@192.0.2.5')).method,
    'INVITE',
  );
});

test('RFC 4475 §3.1.2.8 lwsruri: embedded LWS in the Request-URI → 400', () => {
  rejects(
    sdpInvite('INVITE sip:user@example.com; lr SIP/2.0', 'lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423'),
    400,
    /Request-Line/,
  );
});

test('RFC 4475 §3.1.2.9 lwsstart: multiple SP separating Request-Line elements → 400', () => {
  // The RFC allows being liberal here; we refuse, as a proxy must not forward the odd spacing anyway.
  rejects(
    sdpInvite('INVITE  sip:user@example.com  SIP/2.0', 'lwsstart.dfknq234oi243099adsdfnawe3@example.com'),
    400,
  );
});

test('RFC 4475 §3.1.2.10 trws: SP characters at the end of the Request-Line → 400', () => {
  const trws =
    'OPTIONS sip:remote-target@example.com SIP/2.0  \r\n' +
    'Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093\r\n' +
    'To: <sip:remote-target@example.com>\r\n' +
    'From: <sip:local-resource@example.com>;tag=329429089\r\n' +
    'Call-ID: trws.oicu34958239neffasdhr2345r\r\n' +
    'Accept: application/sdp\r\n' +
    'CSeq: 238923 OPTIONS\r\n' +
    'Max-Forwards: 70\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n';
  // Rejecting is "reasonable" per the RFC; ignoring the trailing SP is the liberal alternative we don't take.
  rejects(trws, 400);
  assert.equal(request(trws.replace('SIP/2.0  \r\n', 'SIP/2.0\r\n')).method, 'OPTIONS');
});

test('RFC 4475 §3.1.2.11 escruri: escaped headers in the SIP Request-URI → 400', () => {
  // The RFC also allows ignoring the headers; refusing is simpler and can't leak them into a forwarded request.
  rejects(
    sdpInvite(
      'INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0',
      'escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5',
    ),
    400,
    /headers/,
  );
});

test('RFC 4475 §3.1.2.12 baddate: invalid time zone in Date → accepted', () => {
  // The RFC allows rejecting it, but only if Date matters to the element: this server never reads Date.
  const m = request(
    sdpInvite(
      'INVITE sip:user@example.com SIP/2.0',
      'baddate.239423mnsadf3j23lj42--sedfnm234',
      'Date: Fri, 01 Jan 2010 16:00:00 EST\r\n',
    ),
  );
  assert.equal(header(m, 'Date'), 'Fri, 01 Jan 2010 16:00:00 EST');
});

test('RFC 4475 §3.1.2.13 regbadct: name-addr URI with headers not enclosed in <> → 400', () => {
  const regbadct =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: sip:user@example.com;tag=998332\r\n' +
    'Max-Forwards: 70\r\n' +
    'Call-ID: regbadct.k345asrl3fdbv@10.0.0.1\r\n' +
    'CSeq: 1 REGISTER\r\n' +
    'Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\r\n' +
    'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n' +
    'l: 0\r\n' +
    '\r\n';
  rejects(regbadct, 400, /Contact/);
});

test('RFC 4475 §3.1.2.14 badaspec: spaces within addr-spec → 400', () => {
  const badaspec =
    'OPTIONS sip:user@example.org SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r\n' +
    'Max-Forwards: 70\r\n' +
    'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423\r\n' +
    'To: "Watson, Thomas" < sip:t.watson@example.org >\r\n' +
    'Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r\n' +
    'Accept: application/sdp\r\n' +
    'CSeq: 3923239 OPTIONS\r\n' +
    'l: 0\r\n' +
    '\r\n';
  // Rejecting is what the RFC calls reasonable; we don't try to repair the spaces.
  rejects(badaspec, 400, /To/);
  const fixed = request(badaspec.replace('< sip:t.watson@example.org >', '<sip:t.watson@example.org>'));
  assert.equal(
    nameAddr(header(fixed, 'From')).displayName,
    'Bell, Alexander',
    'a comma inside quotes is fine',
  );
});

test('RFC 4475 §3.1.2.15 baddn: non-token characters in an unquoted display name → 400', () => {
  const baddn =
    'OPTIONS sip:t.watson@example.org SIP/2.0\r\n' +
    'Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\r\n' +
    'Max-Forwards:      70\r\n' +
    'From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r\n' +
    'To:      Watson, Thomas <sip:t.watson@example.org>\r\n' +
    'Call-ID: baddn.31415@c.example.com\r\n' +
    'Accept: application/sdp\r\n' +
    'CSeq:    3923239 OPTIONS\r\n' +
    'l: 0\r\n' +
    '\r\n';
  rejects(baddn, 400);
});

test('RFC 4475 §3.1.2.16 badvers: unknown protocol version → 505', () => {
  const badvers =
    'OPTIONS sip:t.watson@example.org SIP/7.0\r\n' +
    'Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n' +
    'Max-Forwards:     70\r\n' +
    'From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n' +
    'To:      T. Watson <sip:t.watson@example.org>\r\n' +
    'Call-ID: badvers.31417@c.example.com\r\n' +
    'CSeq:    1 OPTIONS\r\n' +
    'l: 0\r\n' +
    '\r\n';
  rejects(badvers, 505, /version/);
  // The best-effort answer can be built from the headers (505 Version Not Supported).
  const res = badRequestFor(buf(badvers), 505, 'Version Not Supported');
  assert.equal(res?.status, 505);
  assert.equal(res?.reason, 'Version Not Supported');
});

test('RFC 4475 §3.1.2.17 mismatch01: start line and CSeq method mismatch → 400', () => {
  const mismatch01 =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:caller@example.net;tag=34525\r\n' +
    'Max-Forwards: 6\r\n' +
    'Call-ID: mismatch01.dj0234sxdfl3\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n' +
    'l: 0\r\n' +
    '\r\n';
  rejects(mismatch01, 400, /CSeq method/);
});

test('RFC 4475 §3.1.2.18 mismatch02: unknown method with CSeq method mismatch → 400', () => {
  const mismatch02 =
    'NEWMETHOD sip:user@example.com SIP/2.0\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:caller@example.net;tag=34525\r\n' +
    'Max-Forwards: 6\r\n' +
    'Call-ID: mismatch02.dj0234sxdfl3\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Contact: <sip:caller@host.example.net>\r\n' +
    'Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\r\n' +
    'Content-Type: application/sdp\r\n' +
    'l: 138\r\n' +
    '\r\n' +
    sdp('192.0.2.1', { noSession: true });
  // The RFC prefers 501 but accepts 400: the mismatch is found while parsing, before the method is looked at.
  rejects(mismatch02, 400, /CSeq method/);
});

test('RFC 4475 §3.1.2.19 bigcode: overlarge response code → dropped', () => {
  const bigcode =
    'SIP/2.0 4294967301 better not break the receiver\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n' +
    'Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\n' +
    'CSeq: 353494 INVITE\r\n' +
    'From: <sip:user@example.com>;tag=39ansfi3\r\n' +
    'To: <sip:user@example.edu>;tag=902jndnke3\r\n' +
    'Content-Length: 0\r\n' +
    'Contact: <sip:user@host105.example.com>\r\n' +
    '\r\n';
  rejects(bigcode, 400, /status code/);
  assert.equal(badRequestFor(buf(bigcode), 400, 'Bad Request'), undefined);
  rejects(bigcode.replace('4294967301', '700'), 400);
  rejects(bigcode.replace('4294967301', '099'), 400);
});

// ============================================================ RFC 4475 §3.2 transaction layer

test('RFC 4475 §3.2.1 badbranch: magic cookie without an identifier parses; the branch is left to the transaction layer', () => {
  const badbranch =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: sip:caller@example.org;tag=33242\r\n' +
    'Max-Forwards: 3\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n' +
    'Accept: application/sdp\r\n' +
    'Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r\n' +
    'CSeq: 8 OPTIONS\r\n' +
    'l: 0\r\n' +
    '\r\n';
  // "A parser must not break": the codec reads the branch as is; the router answers 400 for it.
  const m = request(badbranch);
  assert.equal(vias(m)[0]!.params.branch, 'z9hG4bK');
});

// ============================================================ RFC 4475 §3.3 application layer

test('RFC 4475 §3.3.1 insuf: missing required header fields → 400, and no answer can be built', () => {
  const insuf =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'CSeq: 193942 INVITE\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n' +
    'Content-Type: application/sdp\r\n' +
    'l: 152\r\n' +
    '\r\n' +
    sdp('192.0.2.95');
  rejects(insuf, 400, /Missing/);
  // The RFC expects a 400; without From, To and Call-ID a response can't be matched by anybody, so the
  // best-effort answer gives up and the message is dropped.
  assert.equal(badRequestFor(buf(insuf), 400, 'Bad Request'), undefined);
});

const options = (ruri: string, callId: string): string =>
  `OPTIONS ${ruri} SIP/2.0\r\n` +
  'To: sip:user@example.com\r\n' +
  'From: sip:caller@example.net;tag=384\r\n' +
  'Max-Forwards: 3\r\n' +
  `Call-ID: ${callId}\r\n` +
  'CSeq: 3923423 OPTIONS\r\n' +
  'Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n' +
  'Content-Length: 0\r\n' +
  '\r\n';

test('RFC 4475 §3.3.2 unkscm: Request-URI with an unknown scheme parses; isSipUri → 416', () => {
  const m = request(
    options('nobodyKnowsThisScheme:totallyopaquecontent', 'unkscm.nasdfasser0q239nwsdfasdkl34'),
  );
  assert.equal(m.uri, 'nobodyKnowsThisScheme:totallyopaquecontent');
  assert.equal(isSipUri(m.uri), false);
});

test('RFC 4475 §3.3.3 novelsc: Request-URI with a known but atypical scheme parses; isSipUri → 416', () => {
  const m = request(options('soap.beep://192.0.2.103:3002', 'novelsc.asdfasser0q239nwsdfasdkl34'));
  assert.equal(m.uri, 'soap.beep://192.0.2.103:3002');
  assert.equal(isSipUri(m.uri), false);
});

test('RFC 4475 §3.3.4 unksm2: unknown URI schemes in header fields parse', () => {
  const unksm2 =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'To: isbn:2983792873\r\n' +
    'From: <http://www.example.com>;tag=3234233\r\n' +
    'Call-ID: unksm2.daksdj@hyphenated-host.example.com\r\n' +
    'CSeq: 234902 REGISTER\r\n' +
    'Max-Forwards: 70\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\r\n' +
    'Contact: <name:John_Smith>\r\n' +
    'l: 0\r\n' +
    '\r\n';
  const m = request(unksm2);
  assert.equal(nameAddr(header(m, 'To')).uri, 'isbn:2983792873');
  assert.equal(nameAddr(header(m, 'From')).uri, 'http://www.example.com');
  assert.equal(nameAddr(header(m, 'Contact')).uri, 'name:John_Smith');
  // What to answer is the registrar's business: there is no SIP address-of-record to bind.
  assert.equal(aorOf(nameAddr(header(m, 'To')).uri), undefined);
});

test('RFC 4475 §3.3.5 bext01: Proxy-Require and Require parse (the element answers 420)', () => {
  const bext01 =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'To: sip:j_user@example.com\r\n' +
    'From: sip:caller@example.net;tag=242etr\r\n' +
    'Max-Forwards: 6\r\n' +
    'Call-ID: bext01.0ha0isndaksdj\r\n' +
    'Require: nothingSupportsThis, nothingSupportsThisEither\r\n' +
    'Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n' +
    'CSeq: 8 OPTIONS\r\n' +
    'Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n';
  const m = request(bext01);
  assert.deepEqual(headerValues(m, 'Require'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
  assert.deepEqual(headerValues(m, 'Proxy-Require'), ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
});

test('RFC 4475 §3.3.6 invut: unknown Content-Type parses (the body is opaque to the codec)', () => {
  const body = '<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n';
  const invut =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'Contact: <sip:caller@host5.example.net>\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:caller@example.net;tag=8392034\r\n' +
    'Max-Forwards: 70\r\n' +
    'Call-ID: invut.0ha0isndaksdjadsfij34n23d\r\n' +
    'CSeq: 235448 INVITE\r\n' +
    'Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\r\n' +
    'Content-Type: application/unknownformat\r\n' +
    'Content-Length: 40\r\n' +
    '\r\n' +
    body;
  const m = request(invut);
  assert.equal(m.body.toString(), body);
  assert.equal(header(m, 'Content-Type'), 'application/unknownformat');
});

test('RFC 4475 §3.3.7 regaut01: unknown authorization scheme parses', () => {
  const regaut01 =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'To: sip:j.user@example.com\r\n' +
    'From: sip:j.user@example.com;tag=87321hj23128\r\n' +
    'Max-Forwards: 8\r\n' +
    'Call-ID: regaut01.0ha0isndaksdj\r\n' +
    'CSeq: 9338 REGISTER\r\n' +
    'Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r\n' +
    'Authorization: NoOneKnowsThisScheme opaque-data=here\r\n' +
    'Content-Length:0\r\n' +
    '\r\n';
  const m = request(regaut01);
  const auth = parseAuthHeader(headerInstances(m, 'Authorization')[0]!);
  assert.equal(auth?.scheme, 'NoOneKnowsThisScheme');
  assert.deepEqual({ ...auth?.params }, { 'opaque-data': 'here' });
});

test('RFC 4475 §3.3.8 multi01: multiple values in single-value required fields → 400', () => {
  const multi01 =
    'INVITE sip:user@company.com SIP/2.0\r\n' +
    'Contact: <sip:caller@host25.example.net>\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\r\n' +
    'Max-Forwards: 70\r\n' +
    'CSeq: 5 INVITE\r\n' +
    'Call-ID: multi01.98asdh@192.0.2.1\r\n' +
    'CSeq: 59 INVITE\r\n' +
    'Call-ID: multi01.98asdh@192.0.2.2\r\n' +
    'From: sip:caller@example.com;tag=3413415\r\n' +
    'To: sip:user@example.com\r\n' +
    'To: sip:other@example.net\r\n' +
    'From: sip:caller@example.net;tag=2923420123\r\n' +
    'Content-Type: application/sdp\r\n' +
    'l: 154\r\n' +
    'Contact: <sip:caller@host36.example.net>\r\n' +
    'Max-Forwards: 5\r\n' +
    '\r\n' +
    sdp('192.0.2.25');
  rejects(multi01, 400, /Conflicting/);
});

test('RFC 4475 §3.3.9 mcl01: multiple Content-Length values → 400, and a framing error on a stream', () => {
  const mcl01 =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: sip:other@example.net;tag=3923942\r\n' +
    'Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r\n' +
    'CSeq: 15932 OPTIONS\r\n' +
    'Content-Length: 13\r\n' +
    'Max-Forwards: 60\r\n' +
    'Content-Length: 5\r\n' +
    'Content-Type: text/plain\r\n' +
    '\r\n' +
    "There's no way to know how many octets are supposed to be here.\r\n";
  rejects(mcl01, 400, /Conflicting Content-Length/);
  assert.throws(() => parseDatagram(buf(mcl01)), SipParseError);
  const framer = new SipFramer();
  const events = framer.push(buf(mcl01));
  assert.deepEqual(
    events.map((e) => e.type),
    ['error'],
  );
  assert.deepEqual(
    framer.push(buf(options('sip:x@example.com', 'after'))),
    [],
    'the stream is dead after that',
  );
});

test('RFC 4475 §3.3.10 bcast: 200 OK with a broadcast Via parses', () => {
  const bcast =
    'SIP/2.0 200 OK\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n' +
    'Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n' +
    'Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\r\n' +
    'CSeq: 35 INVITE\r\n' +
    'From: sip:user@example.com;tag=11141343\r\n' +
    'To: sip:user@example.edu;tag=2229\r\n' +
    'Content-Length: 154\r\n' +
    'Content-Type: application/sdp\r\n' +
    'Contact: <sip:user@host28.example.com>\r\n' +
    '\r\n' +
    sdp('192.0.2.198');
  const m = response(bcast);
  assert.equal(vias(m)[1]!.host, '255.255.255.255');
});

test('RFC 4475 §3.3.11 zeromf: Max-Forwards of zero parses (the element answers it, or 483)', () => {
  const zeromf =
    'OPTIONS sip:user@example.com SIP/2.0\r\n' +
    'Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n' +
    'CSeq: 39234321 OPTIONS\r\n' +
    'Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r\n' +
    'Max-Forwards: 0\r\n' +
    'To: <sip:user@example.com>\r\n' +
    'From: <sip:caller@example.com>;tag=3ghsd41\r\n' +
    'Accept: application/sdp\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n';
  assert.equal(header(request(zeromf), 'Max-Forwards'), '0');
});

const register = (callId: string, contact: string): string =>
  'REGISTER sip:example.com SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n' +
  'Max-Forwards: 70\r\n' +
  'From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\r\n' +
  'To: sip:watson@example.com\r\n' +
  `Call-ID: ${callId}\r\n` +
  'CSeq: 2 REGISTER\r\n' +
  `Contact: ${contact}\r\n` +
  'l: 0\r\n' +
  '\r\n';

test('RFC 4475 §3.3.12 cparam01: a parameter after a bare Contact URI is a header parameter', () => {
  const m = request(
    register('cparam01.70710@saturn.example.com', 'sip:+19725552222@gw1.example.net;unknownparam'),
  );
  const c = nameAddr(header(m, 'Contact'));
  assert.equal(c.uri, 'sip:+19725552222@gw1.example.net');
  assert.deepEqual({ ...c.params }, { unknownparam: null });
  assert.deepEqual({ ...uriOf(c.uri).params }, {});
});

test('RFC 4475 §3.3.13 cparam02: a parameter inside <> is a URI parameter', () => {
  const m = request(
    register('cparam02.70710@saturn.example.com', '<sip:+19725552222@gw1.example.net;unknownparam>'),
  );
  const c = nameAddr(header(m, 'Contact'));
  assert.deepEqual({ ...c.params }, {});
  assert.deepEqual({ ...uriOf(c.uri).params }, { unknownparam: null });
  assert.equal(uriOf(c.uri).user, '+19725552222');
});

test('RFC 4475 §3.3.14 regescrt: REGISTER with an escaped header in a bracketed Contact URI parses', () => {
  const regescrt =
    'REGISTER sip:example.com SIP/2.0\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: sip:user@example.com;tag=8\r\n' +
    'Max-Forwards: 70\r\n' +
    'Call-ID: regescrt.k345asrl3fdbv@192.0.2.1\r\n' +
    'CSeq: 14398234 REGISTER\r\n' +
    'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n' +
    'M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r\n' +
    'L:0\r\n' +
    '\r\n';
  const m = request(regescrt);
  const u = uriOf(nameAddr(header(m, 'Contact')).uri);
  assert.deepEqual({ ...u.headers }, { Route: '<sip:sip.example.com>' });
});

test('RFC 4475 §3.3.15 sdp01: unacceptable Accept offering parses (the UAS answers 406/415)', () => {
  const sdp01 =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'To: sip:j_user@example.com\r\n' +
    'Contact: <sip:caller@host15.example.net>\r\n' +
    'From: sip:caller@example.net;tag=234\r\n' +
    'Max-Forwards: 5\r\n' +
    'Call-ID: sdp01.ndaksdj9342dasdd\r\n' +
    'Accept: text/nobodyKnowsThis\r\n' +
    'CSeq: 8 INVITE\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r\n' +
    'Content-Length: 150\r\n' +
    'Content-Type: application/sdp\r\n' +
    '\r\n' +
    sdp('192.0.2.5');
  assert.equal(header(request(sdp01), 'Accept'), 'text/nobodyKnowsThis');
});

test('RFC 4475 §3.4.1 inv2543: RFC 2543 syntax (no branch cookie, no Max-Forwards, no Content-Length) parses', () => {
  const body =
    'v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n';
  const inv2543 =
    'INVITE sip:UserB@example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP iftgw.example.com\r\n' +
    'From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n' +
    'Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\r\n' +
    'To: sip:+16505552222@ss1.example.net;user=phone\r\n' +
    'Call-ID: inv2543.1717@ift.client.example.com\r\n' +
    'CSeq: 56 INVITE\r\n' +
    'Content-Type: application/sdp\r\n' +
    '\r\n' +
    body;
  const m = request(inv2543);
  assert.equal(m.body.toString(), body, 'without Content-Length the body is the rest of the message');
  assert.equal(vias(m)[0]!.params.branch, undefined);
  assert.equal(header(m, 'Max-Forwards'), undefined);
  // Bare addr-spec: ";user=phone" is a To header parameter here, not a URI parameter.
  assert.deepEqual({ ...nameAddr(header(m, 'To')).params }, { user: 'phone' });
  // On a stream Content-Length is mandatory, so the framer refuses this message.
  const events = new SipFramer().push(buf(inv2543));
  assert.equal(events[0]?.type, 'error');
});

// ============================================================ RFC 5118 IPv6 torture tests

const v6 = (
  startLine: string,
  extra: { via?: string; contact?: string; method?: string; cseq?: number } = {},
): string =>
  `${startLine}\r\n` +
  'To: sip:user@example.com\r\n' +
  'From: sip:user@example.com;tag=81x2\r\n' +
  `Via: ${extra.via ?? 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111'}\r\n` +
  'Call-ID: SSG9559905523997077@hlau_4100\r\n' +
  'Max-Forwards: 70\r\n' +
  `Contact: ${extra.contact ?? '"Caller" <sip:caller@[2001:db8::1]>'}\r\n` +
  `CSeq: ${extra.cseq ?? 98176} ${extra.method ?? 'REGISTER'}\r\n` +
  'Content-Length: 0\r\n' +
  '\r\n';

test('RFC 5118 §4.1 ipv6-good: IPv6 references in Request-URI, Via and Contact', () => {
  const m = request(v6('REGISTER sip:[2001:db8::10] SIP/2.0'));
  assert.equal(uriOf(m.uri).host, '[2001:db8::10]');
  assert.equal(vias(m)[0]!.host, '[2001:db8::9:1]');
  assert.equal(uriOf(nameAddr(header(m, 'Contact')).uri).host, '[2001:db8::1]');
});

test('RFC 5118 §4.2 ipv6-bad: IPv6 address without brackets in the Request-URI → 400', () => {
  rejects(
    v6('REGISTER sip:2001:db8::10 SIP/2.0', { contact: '"Caller" <sip:caller@2001:db8::1>' }),
    400,
    /Request-URI/,
  );
  rejects(
    v6('REGISTER sip:[2001:db8::10] SIP/2.0', { contact: '"Caller" <sip:caller@2001:db8::1>' }),
    400,
    /Contact/,
  );
});

test('RFC 5118 §4.3 port-ambiguous: the last group inside the brackets is part of the address, not a port', () => {
  const u = uriOf(request(v6('REGISTER sip:[2001:db8::10:5070] SIP/2.0')).uri);
  assert.deepEqual([u.host, u.port], ['[2001:db8::10:5070]', undefined]);
});

test('RFC 5118 §4.4 port-unambiguous: a port after the brackets', () => {
  const u = uriOf(request(v6('REGISTER sip:[2001:db8::10]:5070 SIP/2.0')).uri);
  assert.deepEqual([u.host, u.port], ['[2001:db8::10]', 5070]);
});

test('RFC 5118 §4.5 via-received-param-with-delim: bracketed IPv6 received parses', () => {
  // Not strictly RFC 3261 ABNF, but RFC 5118 asks robust implementations to parse it.
  const m = request(
    v6('OPTIONS sip:[2001:db8::10] SIP/2.0', {
      via: 'SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111',
      contact: '"Caller" <sip:caller@[2001:db8::9:1]>',
      method: 'OPTIONS',
      cseq: 921,
    }),
  );
  const v = vias(m)[0]!;
  assert.deepEqual(
    [v.host, v.params.received, v.params.branch],
    ['[2001:db8::9:1]', '[2001:db8::9:255]', 'z9hG4bKas3-111'],
  );
});

test('RFC 5118 §4.6 via-received-param-no-delim: IPv6 received without brackets', () => {
  const m = request(
    v6('OPTIONS sip:[2001:db8::10] SIP/2.0', {
      via: 'SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3',
      method: 'OPTIONS',
      cseq: 921,
    }),
  );
  assert.equal(vias(m)[0]!.params.received, '2001:db8::9:255');
});

test('RFC 5118 §4.7 mult-ip-in-header: IPv4 and IPv6 addresses in several Via values', () => {
  const mult =
    'BYE sip:[2001:db8::10] SIP/2.0\r\n' +
    'To: sip:user@example.com;tag=bd76ya\r\n' +
    'From: sip:user@example.com;tag=81x2\r\n' +
    'Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.1;received=192.0.2.202;branch=z9hG4bKjhja8781hjuaij65144\r\n' +
    'Via: SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200\r\n' +
    'Call-ID: 997077@lau_4100\r\n' +
    'Max-Forwards: 70\r\n' +
    'CSeq: 89187 BYE\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n';
  const v = vias(request(mult));
  assert.deepEqual(
    v.map((x) => [x.host, x.params.received]),
    [
      ['[2001:db8::9:1]', '[2001:db8::9:255]'],
      ['192.0.2.1', '192.0.2.202'],
      ['[2001:db8::9:255]', '192.0.2.200'],
    ],
  );
});

test('RFC 5118 §4.8 ipv4-mapped-ipv6: IPv4-mapped IPv6 addresses', () => {
  const body =
    'v=0\r\n' +
    'o=assistant 971731711378798081 0 IN IP6 ::ffff:192.0.2.2\r\n' +
    's=Call me soon, please!\r\n' +
    'c=IN IP6 ::ffff:192.0.2.2\r\n' +
    't=0 0\r\n' +
    'm=audio 5000 RTP/AVP 0\r\n' +
    'a=rtpmap:0 PCMU/8000\r\n' +
    'm=video 6022 RTP/AVP 31\r\n' +
    'a=rtpmap:31 H261/90000\r\n';
  const invite =
    'INVITE sip:user@example.com SIP/2.0\r\n' +
    'To: sip:user@example.com\r\n' +
    'From: sip:user@east.example.com;tag=81x2\r\n' +
    'Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19\r\n' +
    'Via: SIP/2.0/UDP [::ffff:192.0.2.2]:10820;branch=z9hG4bKas3-111\r\n' +
    'Call-ID: SSG9559905523997077@hlau_4100\r\n' +
    'Contact: "T. desk phone" <sip:ted@[::ffff:192.0.2.2]>\r\n' +
    'CSeq: 612 INVITE\r\n' +
    'Max-Forwards: 70\r\n' +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    '\r\n' +
    body;
  const m = request(invite);
  assert.deepEqual(
    vias(m).map((v) => [v.host, v.port]),
    [
      ['[::ffff:192.0.2.10]', 19823],
      ['[::ffff:192.0.2.2]', 10820],
    ],
  );
  assert.equal(uriOf(nameAddr(header(m, 'Contact')).uri).host, '[::ffff:192.0.2.2]');
});

test('RFC 5118 §4.9 ipv6-bug-abnf-3-colons: three colons is not an IPv6 address → 400', () => {
  // RFC 3261's IPv6 ABNF wrongly allowed it; RFC 5118 says it is invalid, so we refuse it.
  rejects(v6('OPTIONS sip:user@[2001:db8:::192.0.2.1] SIP/2.0', { method: 'OPTIONS' }), 400, /Request-URI/);
});

test('RFC 5118 §4.10 ipv6-correct-abnf-2-colons: two colons with an embedded IPv4 address', () => {
  const u = uriOf(request(v6('OPTIONS sip:user@[2001:db8::192.0.2.1] SIP/2.0', { method: 'OPTIONS' })).uri);
  assert.equal(u.host, '[2001:db8::192.0.2.1]');
});
