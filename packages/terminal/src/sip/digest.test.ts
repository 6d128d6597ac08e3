import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core, URI } from 'sip.js';
import { digestResponse, Rfc8760Digest } from './digest.js';

// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
const rfc7616 = {
  username: 'Mufasa',
  realm: 'http-auth@example.org',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  nc: '00000001',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  qop: 'auth' as const,
};

test('digest responses match the RFC 7616 §3.9.1 examples', () => {
  assert.equal(
    digestResponse({ ...rfc7616, algorithm: 'SHA-256' }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
  assert.equal(digestResponse({ ...rfc7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  // SHA-512/256 (RFC 8760) is 64 hex digits too, and differs.
  assert.match(digestResponse({ ...rfc7616, algorithm: 'SHA-512-256' }), /^[0-9a-f]{64}$/);
});

function credentials(o: { allowMd5?: boolean } = {}) {
  const factory = new Core.LoggerFactory();
  factory.builtinEnabled = false;
  return new Rfc8760Digest(factory, { username: 'alice/d-1', password: 's3cret', ...o });
}

const register = () => {
  const uri = new URI('sip', '', 'example.test');
  const aor = new URI('sip', 'alice', 'example.test');
  return new Core.OutgoingRequestMessage('REGISTER', uri, aor, aor);
};

test('answers a SHA-256 challenge with an RFC 8760 Authorization value', () => {
  const d = credentials();
  const req = register();
  assert.equal(
    d.authenticate(req, {
      realm: 'example.test',
      nonce: 'n1',
      algorithm: 'SHA-256',
      qop: ['auth'],
      opaque: 'o',
    }),
    true,
  );
  const header = d.toString();
  assert.match(
    header,
    /^Digest username="alice\/d-1", realm="example.test", nonce="n1", uri="sip:example.test"/,
  );
  assert.match(
    header,
    /response="[0-9a-f]{64}", algorithm=SHA-256, cnonce="[0-9a-f]{32}", opaque="o", qop=auth, nc=00000001$/,
  );
  const cnonce = /cnonce="([0-9a-f]+)"/.exec(header)![1]!;
  const response = /response="([0-9a-f]+)"/.exec(header)![1]!;
  assert.equal(
    response,
    digestResponse({
      algorithm: 'SHA-256',
      username: 'alice/d-1',
      realm: 'example.test',
      password: 's3cret',
      method: 'REGISTER',
      uri: 'sip:example.test',
      nonce: 'n1',
      nc: '00000001',
      cnonce,
      qop: 'auth',
    }),
  );
  assert.equal(d.challengeRealm, 'example.test');
  // The same nonce again counts up; a new nonce starts over.
  d.authenticate(req, { realm: 'example.test', nonce: 'n1', algorithm: 'SHA-256', qop: ['auth'] });
  assert.match(d.toString(), /nc=00000002$/);
  d.authenticate(req, { realm: 'example.test', nonce: 'n2', algorithm: 'SHA-256', qop: ['auth'] });
  assert.match(d.toString(), /nc=00000001$/);
});

test('refuses MD5 unless allowed, unknown algorithms, and challenges without qop', () => {
  const req = register();
  const md5 = { realm: 'r', nonce: 'n', algorithm: 'MD5', qop: ['auth'] };
  assert.equal(credentials().authenticate(req, md5), false);
  assert.equal(
    credentials().authenticate(req, { realm: 'r', nonce: 'n', qop: ['auth'] }),
    false,
    'no algorithm = MD5',
  );
  assert.equal(credentials({ allowMd5: true }).authenticate(req, md5), true);
  assert.equal(
    credentials().authenticate(req, { realm: 'r', nonce: 'n', algorithm: 'SHA-1', qop: ['auth'] }),
    false,
  );
  assert.equal(credentials().authenticate(req, { realm: 'r', nonce: 'n', algorithm: 'SHA-256' }), false);
  assert.throws(() => credentials().toString(), /no digest credentials/);
});
