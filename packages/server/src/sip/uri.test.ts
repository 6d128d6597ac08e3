import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  aorOf,
  formatAuthParams,
  formatNameAddr,
  formatParams,
  formatUri,
  formatVia,
  isSipUri,
  isValidUri,
  parseAuthHeader,
  parseNameAddr,
  parseUri,
  parseVia,
  uriScheme,
  type SipUri,
} from './uri.js';

/** Records from the parsers have a null prototype: compare plain copies. */
const plain = (u: SipUri | undefined) => u && { ...u, params: { ...u.params }, headers: { ...u.headers } };

function uri(s: string): SipUri {
  const u = parseUri(s);
  assert.ok(u, `parseUri(${JSON.stringify(s)})`);
  return u;
}

// ---------------------------------------------------------------------------------------------- parseUri

test('parseUri: every part of a SIP URI', () => {
  assert.deepEqual(
    plain(
      parseUri(
        'sips:alice:secret@Atlanta.Example.COM:5061;transport=TLS;LR;maddr=239.255.255.1?subject=project%20x&priority=urgent',
      ),
    ),
    {
      scheme: 'sips',
      user: 'alice',
      password: 'secret',
      host: 'atlanta.example.com',
      port: 5061,
      params: { transport: 'TLS', lr: null, maddr: '239.255.255.1' },
      headers: { subject: 'project x', priority: 'urgent' },
    },
  );
  assert.deepEqual(plain(parseUri('sip:example.com')), {
    scheme: 'sip',
    host: 'example.com',
    params: {},
    headers: {},
  });
  assert.equal(uri('SIP:Bob@Example.com').scheme, 'sip', 'scheme is case-insensitive');
  assert.equal(uri('SIP:Bob@Example.com').user, 'Bob', 'user keeps its case');
  assert.equal(uri('sip:bob:@example.com').password, '', 'an empty password is allowed');
  assert.equal(uri('sip:+1-212-555-1212:1234@gateway.com;user=phone').user, '+1-212-555-1212');
  assert.equal(uri('sip:alice@192.0.2.4').host, '192.0.2.4');
  assert.equal(uri('sip:example.com.').host, 'example.com.', 'a fully qualified name with its trailing dot');
  assert.equal(uri('sip:host_name.example.com').host, 'host_name.example.com');
  assert.equal(uri('sip:h:0').port, 0);
  assert.equal(uri('sip:h:65535').port, 65535);
});

test('parseUri: IPv6 references keep their brackets and are lower-cased', () => {
  assert.deepEqual(
    [uri('sip:[2001:DB8::1]').host, uri('sip:[2001:DB8::1]').port],
    ['[2001:db8::1]', undefined],
  );
  assert.deepEqual(
    [uri('sip:bob@[2001:db8::1]:5060;transport=tcp').host, uri('sip:bob@[2001:db8::1]:5060').port],
    ['[2001:db8::1]', 5060],
  );
  assert.equal(uri('sip:[::ffff:192.0.2.1]').host, '[::ffff:192.0.2.1]');
  assert.equal(uri('sip:[::1]').host, '[::1]');
  for (const s of [
    'sip:2001:db8::1',
    'sip:[2001:db8::1',
    'sip:[fe80::1%25eth0]',
    'sip:[fe80::1%eth0]',
    'sip:[]',
    'sip:[1.2.3.4]',
    'sip:[2001:db8:::1]',
    'sip:[::1]x',
  ]) {
    assert.equal(parseUri(s), undefined, s);
  }
});

test('parseUri: parameters with and without value; names lower-cased and decoded', () => {
  const u = uri('sip:h;lr;Transport=tcp;%6C%72x=v%61l%25;x-empty-ok;maddr=[2001:db8::1]');
  assert.deepEqual(
    { ...u.params },
    { lr: null, transport: 'tcp', lrx: 'val%', 'x-empty-ok': null, maddr: '[2001:db8::1]' },
  );
  for (const s of [
    'sip:h;',
    'sip:h;;lr',
    'sip:h;=x',
    'sip:h;a=',
    'sip:h;a=b=c',
    'sip:h;lr;LR',
    'sip:h;a b',
    'sip:h;a=%zz',
    'sip:h;a=<b>',
  ]) {
    assert.equal(parseUri(s), undefined, s);
  }
});

test('parseUri: headers after "?" are decoded; empty values allowed; malformed ones refused', () => {
  assert.deepEqual(
    { ...uri('sip:h?Route=%3Csip:x%3E&Subject=&To=a%40b').headers },
    { Route: '<sip:x>', Subject: '', To: 'a@b' },
  );
  for (const s of [
    'sip:h?',
    'sip:h?a',
    'sip:h?=b',
    'sip:h?a=b&',
    'sip:h?a=b&a=c',
    'sip:h?a=b c',
    'sip:h?a=<b>',
  ]) {
    assert.equal(parseUri(s), undefined, s);
  }
});

test('parseUri: percent-decoding of user and password, as UTF-8', () => {
  assert.equal(uri('sip:%61lice@h').user, 'alice');
  assert.equal(uri('sip:I%20have%20spaces@h').user, 'I have spaces');
  assert.equal(uri('sip:sips%3Auser%40example.com@h').user, 'sips:user@example.com');
  assert.equal(uri('sip:Zo%C3%AB@h').user, 'Zoë');
  assert.equal(uri('sip:%E6%97%A5@h').user, '日');
  assert.equal(uri('sip:null-%00-null@h').user, 'null-\x00-null');
  assert.equal(uri('sip:u:p%40ss@h').password, 'p@ss');
  assert.equal(uri('sip:user;par=u%40example.net@example.com').user, 'user;par=u@example.net');
  assert.equal(uri('sip:h;a@b').user, 'h;a', 'the first "@" ends the userinfo, which may hold ";"');
  for (const s of [
    'sip:%@h',
    'sip:%4@h',
    'sip:%4g@h',
    'sip:%FF@h',
    'sip:%C3@h',
    'sip:%C3%28@h',
    'sip:a b@h',
    'sip:a"b@h',
    'sip:é@h',
    'sip:a:p:q@h',
    'sip:u@h@h',
  ]) {
    assert.equal(parseUri(s), undefined, s);
  }
});

test('parseUri: hosts and ports that are not valid', () => {
  for (const s of [
    'sip:',
    'sip:@h',
    'sip:h:',
    'sip:h:x',
    'sip:h:65536',
    'sip:h:123456',
    'sip:h..com',
    'sip:.h.com',
    'sip:h/x',
    'sip:1.2.3',
    'sip:1.2.3.256',
    'sip:1.2.3.4.5',
    'sip:1.2.3.4.',
    'sip:0001.2.3.4',
    `sip:${'a'.repeat(256)}`,
    'sip:h>',
    'sip:h;lr>',
    'tel:+1234',
    'sipx:h',
    'sip h',
    '',
  ]) {
    assert.equal(parseUri(s), undefined, s);
  }
});

test('parseUri: parameter and header names such as __proto__ are plain keys', () => {
  const u = uri('sip:h;__proto__=x;constructor;toString=y?__proto__=z');
  assert.equal(u.params['__proto__'], 'x');
  assert.equal(u.params['constructor'], null);
  assert.equal(u.headers['__proto__'], 'z');
  assert.equal(Object.getPrototypeOf({}).x, undefined, 'no prototype pollution');
  assert.equal(uri('sip:h').params['toString'], undefined);
});

test('formatUri: round trips through parseUri', () => {
  for (const s of [
    'sip:example.com',
    'sips:alice:secret@atlanta.example.com:5061;transport=TLS;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent',
    'sip:bob@[2001:db8::1]:5060;transport=tcp',
    'sip:alice@192.0.2.4;lr',
    'sip:user;par=u%40example.net@example.com',
    'sip:%00@h',
    'sip:h;lr;name=value%2541',
  ]) {
    assert.equal(formatUri(uri(s)), s, s);
    assert.deepEqual(plain(uri(formatUri(uri(s)))), plain(uri(s)));
  }
  // Host case-folding and decoding give the canonical form.
  assert.equal(formatUri(uri('SIP:%61lice@Example.COM;%6C%72')), 'sip:alice@example.com;lr');
  // Whatever the fields hold, the output parses back to the same fields.
  const u: SipUri = {
    scheme: 'sip',
    user: 'a@b:c d%é',
    password: 'p:@ w',
    host: '[2001:db8::1]',
    port: 5060,
    params: Object.assign(Object.create(null) as Record<string, string | null>, { 'x y': 'a=b;c', lr: null }),
    headers: Object.assign(Object.create(null) as Record<string, string>, { 'h&x': 'v=1&2 <sip:x>' }),
  };
  assert.deepEqual(plain(uri(formatUri(u))), plain(u));
});

test('aorOf: sip scheme, user as is, host lower-cased, nothing else', () => {
  assert.equal(aorOf('sips:Alice@Example.COM:5061;transport=tls?subject=x'), 'sip:Alice@example.com');
  assert.equal(aorOf('sip:example.com;lr'), 'sip:example.com');
  assert.equal(aorOf('sip:%61lice@h'), 'sip:alice@h');
  assert.equal(aorOf('sip:a%40b@h'), 'sip:a%40b@h');
  assert.equal(aorOf('sip:[2001:DB8::1]:5060'), 'sip:[2001:db8::1]');
  assert.equal(aorOf('tel:+1234'), undefined);
  assert.equal(aorOf('sip:'), undefined);
  assert.equal(aorOf(uri('sip:bob:pw@h:1')), 'sip:bob@h');
});

test('uriScheme, isSipUri, isValidUri', () => {
  assert.equal(uriScheme('SIPS:x'), 'sips');
  assert.equal(uriScheme('soap.beep://x'), 'soap.beep');
  assert.equal(uriScheme('x'), undefined);
  assert.equal(uriScheme('1a:b'), undefined);
  assert.equal(uriScheme('<sip:x>'), undefined);
  assert.equal(uriScheme(''), undefined);
  assert.equal(isSipUri('sip:x'), true);
  assert.equal(isSipUri('Sips:x'), true);
  assert.equal(isSipUri('tel:+1'), false);
  assert.equal(isSipUri('sipx:a'), false);
  for (const s of [
    'tel:+1-555',
    'http://www.example.com/a?b=c',
    'urn:service:sos',
    'isbn:2983792873',
    'name:John_Smith',
    'sip:a@b',
  ]) {
    assert.equal(isValidUri(s), true, s);
  }
  for (const s of ['tel:', 'tel:a b', 'tel:<1>', 'http://x#frag', 'mailto:%zz', 'sip:a@', 'a', ''])
    assert.equal(isValidUri(s), false, s);
});

// ---------------------------------------------------------------------------------------------- name-addr

test('parseNameAddr: quoted display names with quoted-pairs', () => {
  const na = parseNameAddr('"Bob \\"The Builder\\" \\\\ Smith" <sip:bob@example.com>;tag=a48s');
  assert.equal(na?.displayName, 'Bob "The Builder" \\ Smith');
  assert.equal(na?.uri, 'sip:bob@example.com');
  assert.deepEqual({ ...na?.params }, { tag: 'a48s' });
  assert.equal(parseNameAddr('"" <sip:b@h>')?.displayName, '');
  assert.equal(parseNameAddr('"a,b;c<d>" <sip:b@h>')?.displayName, 'a,b;c<d>');
  assert.equal(parseNameAddr('"Zoë 日本"<sip:b@h>')?.displayName, 'Zoë 日本');
  assert.equal(parseNameAddr('  "x"   <sip:b@h>  ')?.displayName, 'x');
});

test('parseNameAddr: token display names, or none', () => {
  assert.equal(parseNameAddr('Bob <sip:bob@h>')?.displayName, 'Bob');
  assert.equal(parseNameAddr('Bob  Smith\t<sip:bob@h>')?.displayName, 'Bob  Smith');
  assert.equal(parseNameAddr('caller<sip:caller@h>')?.displayName, 'caller');
  const na = parseNameAddr('<sip:bob@h;transport=tcp>;Expires=60;q=0.5;+sip.instance="<urn:uuid:1>"');
  assert.equal(na?.displayName, undefined);
  assert.equal(na?.uri, 'sip:bob@h;transport=tcp', 'URI parameters stay in the URI');
  assert.deepEqual({ ...na?.params }, { expires: '60', q: '0.5', '+sip.instance': '"<urn:uuid:1>"' });
  assert.equal(parseNameAddr('<tel:+1234>')?.uri, 'tel:+1234');
  assert.equal(parseNameAddr('<sip:b@h?subject=x>')?.uri, 'sip:b@h?subject=x', 'headers are fine inside <>');
});

test('parseNameAddr: bare addr-spec; its parameters belong to the header (RFC 3261 §20)', () => {
  const na = parseNameAddr('sip:bob@example.com;tag=123;lr');
  assert.deepEqual([na?.uri, { ...na?.params }], ['sip:bob@example.com', { tag: '123', lr: null }]);
  const sp = parseNameAddr('sip:bob@example.com ;  tag = 1918181833n');
  assert.deepEqual([sp?.uri, sp?.params.tag], ['sip:bob@example.com', '1918181833n']);
  assert.equal(parseNameAddr('isbn:2983792873')?.uri, 'isbn:2983792873');
  assert.equal(parseNameAddr('sip:b@h?subject=x'), undefined, '"?" requires brackets');
  assert.equal(parseNameAddr('sip:b@h,sip:c@h'), undefined, '"," requires brackets');
});

test('parseNameAddr: malformed values', () => {
  for (const v of [
    '',
    '   ',
    '<>',
    '<sip:b@h',
    'sip:b@h>',
    '< sip:b@h >',
    '<sip:b @h>',
    '"Bob <sip:b@h>',
    '"Bob" sip:b@h',
    'Bob, Smith <sip:b@h>',
    'Bob "x" <sip:b@h>',
    '<sip:b@h>;tag=1;tag=2',
    '<sip:b@h>;TAG=1;tag=1',
    '<sip:b@h>;',
    '<sip:b@h>;tag=',
    '<sip:b@h>;tag="unterminated',
    '<sip:b@h> junk',
    '<sip:b@h>, <sip:c@h>',
    '<not a uri>',
    '<sip:b@h:99999>',
    'Bob',
  ]) {
    assert.equal(parseNameAddr(v), undefined, v);
  }
});

test('formatNameAddr: always bracketed, display name quoted, parameters kept', () => {
  const p = (o: Record<string, string | null>) =>
    Object.assign(Object.create(null) as Record<string, string | null>, o);
  assert.equal(
    formatNameAddr({ uri: 'sip:b@h;lr', params: p({ tag: 'x', lr: null }) }),
    '<sip:b@h;lr>;tag=x;lr',
  );
  assert.equal(
    formatNameAddr({ displayName: 'Bob "B" \\ S', uri: 'sip:b@h', params: p({}) }),
    '"Bob \\"B\\" \\\\ S" <sip:b@h>',
  );
  assert.equal(formatNameAddr({ displayName: '', uri: 'sip:b@h', params: p({}) }), '<sip:b@h>');
  assert.equal(
    formatNameAddr({ uri: 'sip:b@h', params: p({ x: 'has space', q: '"quoted ok"', r: '[::1]' }) }),
    '<sip:b@h>;x="has space";q="quoted ok";r=[::1]',
  );
  assert.equal(
    formatNameAddr({ displayName: 'a\r\nb', uri: 'sip:b@h', params: p({}) }),
    '"ab" <sip:b@h>',
    'CR/LF cannot be represented',
  );
  for (const v of [
    '"Bob \\"B\\"" <sip:b@h;lr>;tag=x;expires=60',
    'sip:b@h;tag=1',
    'Bob <sip:b@h?x=y>',
    '"Zoë" <tel:+1>;q=0.1',
  ]) {
    const na = parseNameAddr(v)!;
    const again = parseNameAddr(formatNameAddr(na))!;
    assert.deepEqual({ ...again, params: { ...again.params } }, { ...na, params: { ...na.params } }, v);
  }
});

test('formatParams: tokens and hosts as is, anything else quoted', () => {
  const p = Object.assign(Object.create(null) as Record<string, string | null>, {
    a: 'b',
    c: null,
    d: '',
    e: 'x"y',
    f: '2001:db8::1',
  });
  assert.equal(formatParams(p), ';a=b;c;d="";e="x\\"y";f=2001:db8::1');
});

// ---------------------------------------------------------------------------------------------- Via

test('parseVia: protocol, host, port, params', () => {
  const v = parseVia(
    'SIP/2.0/tls Client.Example.COM:5061;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=4000;alias',
  );
  assert.deepEqual(v && { ...v, params: { ...v.params } }, {
    protocol: 'TLS',
    host: 'client.example.com',
    port: 5061,
    params: { branch: 'z9hG4bK776asdhds', received: '192.0.2.1', rport: '4000', alias: null },
  });
  assert.equal(
    parseVia('SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKx;rport')?.params.rport,
    null,
    'valueless rport',
  );
  assert.equal(parseVia('SIP/2.0/UDP h')?.port, undefined);
  assert.equal(
    parseVia('SIP/2.0/TCP h;BRANCH=Z9hG4bKx')?.params.branch,
    'Z9hG4bKx',
    'names lower-cased, values as written',
  );
});

test('parseVia: IPv6 sent-by and received with or without brackets', () => {
  const v = parseVia('SIP/2.0/TLS [2001:DB8::9:1]:5061;received=2001:db8::9:255;branch=z9hG4bKas3');
  assert.deepEqual([v?.host, v?.port, v?.params.received], ['[2001:db8::9:1]', 5061, '2001:db8::9:255']);
  assert.equal(
    parseVia('SIP/2.0/TLS [::1];received=[2001:db8::9:255]')?.params.received,
    '[2001:db8::9:255]',
  );
  assert.equal(parseVia('SIP/2.0/TLS 2001:db8::1'), undefined, 'an IPv6 sent-by needs brackets');
});

test('parseVia: LWS around "/", ":", ";" and "=" (RFC 4475 §3.1.1.1)', () => {
  const v = parseVia('  SIP  /   2.0 /UDP    192.0.2.2  :  5060  ;  branch  =   z9hG4bK9ikj8  ;  rport  ');
  assert.deepEqual(
    [v?.protocol, v?.host, v?.port, v?.params.branch, v?.params.rport],
    ['UDP', '192.0.2.2', 5060, 'z9hG4bK9ikj8', null],
  );
});

test('parseVia: malformed values', () => {
  for (const s of [
    '',
    'SIP/2.0/UDP',
    'SIP/2.0/UDP ',
    'SIP/2.0 UDP h',
    'SIP/2.0/UDPh',
    'SIP/2.0/UDP/h',
    'SIP//UDP h',
    'SIP/2.0/UDP h:',
    'SIP/2.0/UDP h:99999',
    'SIP/2.0/UDP h;',
    'SIP/2.0/UDP h;;',
    'SIP/2.0/UDP h;branch=',
    'SIP/2.0/UDP h;branch=a;branch=b',
    'SIP/2.0/UDP h;branch=a b',
    'SIP/2.0/UDP h, SIP/2.0/UDP i',
    'SIP/2.0/UDP h x',
    'SIP/2.0/UDP [::1',
    'SIP/2.0/UDP 1.2.3.999',
  ]) {
    assert.equal(parseVia(s), undefined, s);
  }
});

test('formatVia: round trip', () => {
  for (const s of [
    'SIP/2.0/TLS client.example.com:5061;branch=z9hG4bK776asdhds;rport',
    'SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3',
    'SIP/2.0/WSS h.invalid;branch=z9hG4bK1;received=192.0.2.1;rport=5000;x="quoted value"',
    'SIP/2.0/TCP h',
  ]) {
    assert.equal(formatVia(parseVia(s)!), s);
  }
  assert.equal(formatVia(parseVia('SIP / 2.0 / tcp  H : 5060 ; Branch = x')!), 'SIP/2.0/TCP h:5060;branch=x');
});

// ---------------------------------------------------------------------------------------------- auth

test('parseAuthHeader: Digest credentials with quoted strings, tokens, escapes and commas in quotes', () => {
  const a = parseAuthHeader(
    'Digest username="bob \\"the\\" \\\\ builder", realm="biloxi.com",NONCE="dcd98b7102dd2f0e8b11d0f600bfb0c093, x",' +
      ' uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",' +
      ' algorithm=SHA-256 , opaque=""',
  );
  assert.equal(a?.scheme, 'Digest');
  assert.deepEqual(
    { ...a?.params },
    {
      username: 'bob "the" \\ builder',
      realm: 'biloxi.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093, x',
      uri: 'sip:bob@biloxi.com',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
      response: '6629fae49393a05397450978507c4ef1',
      algorithm: 'SHA-256',
      opaque: '',
    },
  );
  assert.deepEqual(
    { ...parseAuthHeader('Digest realm = "a" ,  qop="auth,auth-int"')?.params },
    { realm: 'a', qop: 'auth,auth-int' },
  );
});

test('parseAuthHeader: schemes alone or unknown, keys lower-cased', () => {
  const basic = parseAuthHeader('Basic');
  assert.deepEqual([basic?.scheme, { ...basic?.params }], ['Basic', {}]);
  assert.equal(parseAuthHeader('  digest  ')?.scheme, 'digest');
  const a = parseAuthHeader('NoOneKnowsThisScheme opaque-data=here');
  assert.deepEqual([a?.scheme, { ...a?.params }], ['NoOneKnowsThisScheme', { 'opaque-data': 'here' }]);
  assert.deepEqual({ ...parseAuthHeader('Digest REALM="x", Realm2=y')?.params }, { realm: 'x', realm2: 'y' });
});

test('parseAuthHeader: a repeated parameter (in any case) is rejected, as is anything malformed', () => {
  for (const v of [
    'Digest realm="a", realm="b"',
    'Digest realm="a", REALM="a"',
    'Digest username="a",username="a"',
    '',
    '"Digest"',
    'Digest,realm="a"',
    'Digest realm',
    'Digest realm=',
    'Digest realm="a" nonce="b"',
    'Digest realm="unterminated',
    'Digest realm=a b',
    'Digest realm=<a>',
    'Digest ="a"',
    'Digest realm="a"x',
  ]) {
    assert.equal(parseAuthHeader(v), undefined, v);
  }
});

test('formatAuthParams: challenge and credentials quote differently; output parses back', () => {
  const challenge = {
    realm: 'example.com',
    nonce: 'abc"def',
    algorithm: 'SHA-256',
    qop: 'auth',
    stale: 'true',
    opaque: 'x,y',
  };
  const c = formatAuthParams(challenge, 'challenge');
  assert.equal(
    c,
    'realm="example.com", nonce="abc\\"def", algorithm=SHA-256, qop="auth", stale=true, opaque="x,y"',
  );
  assert.deepEqual({ ...parseAuthHeader(`Digest ${c}`)?.params }, challenge);

  const credentials = {
    username: 'bob',
    realm: 'example.com',
    uri: 'sip:example.com',
    qop: 'auth',
    nc: '00000001',
    cnonce: 'c',
    response: 'r',
    algorithm: 'MD5',
  };
  const r = formatAuthParams(credentials, 'credentials');
  assert.equal(
    r,
    'username="bob", realm="example.com", uri="sip:example.com", qop=auth, nc=00000001, cnonce="c", response="r", algorithm=MD5',
  );
  assert.deepEqual({ ...parseAuthHeader(`Digest ${r}`)?.params }, credentials);
  // A "token" parameter whose value is not a token is quoted rather than emitted broken.
  assert.equal(
    formatAuthParams({ algorithm: 'a b', Stale: 'FALSE' }, 'challenge'),
    'algorithm="a b", Stale=FALSE',
  );
  assert.equal(formatAuthParams({ username: 'a\r\nb\\' }, 'credentials'), 'username="ab\\\\"');
});
