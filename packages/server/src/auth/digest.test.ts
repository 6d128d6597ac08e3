import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  algorithmsFor,
  computeHa1,
  computeResponse,
  DigestAuthenticator,
  type DigestAlgorithm,
  type DigestCredentials,
  type DigestParams,
} from './digest.js';

const realm = 'example.org';
const creds = (alg: DigestAlgorithm[] = ['SHA-256']) => ({
  credentials: {
    user: 'alice',
    ha1: {
      'SHA-256': computeHa1('SHA-256', 'alice', realm, 'secret'),
      ...(alg.includes('MD5') ? { MD5: computeHa1('MD5', 'alice', realm, 'secret') } : {}),
    },
  },
  allowMd5: alg.includes('MD5'),
});

function answer(
  nonce: string,
  o: { alg?: DigestAlgorithm; password?: string; nc?: string } = {},
): DigestParams {
  const alg = o.alg ?? 'SHA-256';
  const nc = o.nc ?? '00000001';
  const ha1 = computeHa1(alg, 'alice', realm, o.password ?? 'secret');
  const uri = 'sip:example.org';
  const response = computeResponse(alg, ha1, {
    method: 'REGISTER',
    uri,
    nonce,
    nc,
    cnonce: 'c1',
    qop: 'auth',
  });
  return { username: 'alice', realm, nonce, uri, response, algorithm: alg, qop: 'auth', nc, cnonce: 'c1' };
}

const nonceOf = (challenge: string) => /nonce="([^"]+)"/.exec(challenge)![1]!;

test('RFC 7616 §3.9.1 SHA-256 example response', () => {
  // The RFC's own worked example (HTTP, but the digest arithmetic is the same).
  const ha1 = computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  const r = computeResponse('SHA-256', ha1, {
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    qop: 'auth',
  });
  assert.equal(r, '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

test('offers SHA-256 first, MD5 only when allowed, MD5 alone only for a legacy client', () => {
  const d = new DigestAuthenticator(realm, 60_000);
  const algs = (c: DigestCredentials | undefined) =>
    d.challenges(algorithmsFor(c)).map((x) => /algorithm=([\w-]+)/.exec(x)![1]);
  assert.deepEqual(algs(undefined), ['SHA-256']);
  assert.deepEqual(algs(creds().credentials), ['SHA-256']);
  assert.deepEqual(algs(creds(['SHA-256', 'MD5']).credentials), ['SHA-256', 'MD5']);
  assert.deepEqual(algs({ ...creds(['SHA-256', 'MD5']).credentials, md5Only: true }), ['MD5']);
  assert.deepEqual(algs({ ...creds().credentials, md5Only: true }), ['SHA-256'], 'no MD5 HA1, no MD5');
  assert.match(d.challenges(['SHA-256'], true)[0]!, /stale=true/);
});

test('accepts the right password and refuses a wrong one', () => {
  const d = new DigestAuthenticator(realm, 60_000);
  const nonce = nonceOf(d.challenges(['SHA-256'])[0]!);
  assert.deepEqual(
    d.verify('REGISTER', answer(nonce), () => creds()),
    { ok: true, credentials: creds().credentials },
  );
  const wrong = d.verify('REGISTER', answer(nonce, { password: 'guess', nc: '00000002' }), () => creds());
  assert.deepEqual(wrong, { ok: false, reason: 'wrong-credentials' });
  assert.deepEqual(
    d.verify('REGISTER', answer(nonce, { nc: '00000003' }), () => undefined),
    {
      ok: false,
      reason: 'wrong-credentials',
    },
  );
});

test('MD5 is refused unless the user allows it', () => {
  const d = new DigestAuthenticator(realm, 60_000);
  const nonce = nonceOf(d.challenges(['SHA-256', 'MD5'])[0]!);
  assert.equal(d.verify('REGISTER', answer(nonce, { alg: 'MD5' }), () => creds()).ok, false);
  assert.equal(
    d.verify('REGISTER', answer(nonce, { alg: 'MD5', nc: '00000002' }), () => creds(['SHA-256', 'MD5'])).ok,
    true,
  );
});

test('a replayed nonce-count is refused', () => {
  const d = new DigestAuthenticator(realm, 60_000);
  const nonce = nonceOf(d.challenges(['SHA-256'])[0]!);
  assert.equal(d.verify('REGISTER', answer(nonce), () => creds()).ok, true);
  assert.deepEqual(
    d.verify('REGISTER', answer(nonce), () => creds()),
    { ok: false, reason: 'replay' },
  );
  assert.equal(d.verify('REGISTER', answer(nonce, { nc: '00000002' }), () => creds()).ok, true);
});

test('an expired nonce is stale, a forged or foreign one too, but only with the right password', () => {
  let now = 1_000_000;
  const d = new DigestAuthenticator(realm, 1000, () => now);
  const nonce = nonceOf(d.challenges(['SHA-256'])[0]!);
  now += 1001;
  assert.deepEqual(
    d.verify('REGISTER', answer(nonce), () => creds()),
    { ok: false, reason: 'stale' },
  );
  const other = new DigestAuthenticator(realm, 1000, () => now);
  const foreign = nonceOf(other.challenges(['SHA-256'])[0]!);
  assert.deepEqual(
    d.verify('REGISTER', answer(foreign), () => creds()),
    { ok: false, reason: 'stale' },
  );
  assert.deepEqual(
    d.verify('REGISTER', answer(foreign, { password: 'x' }), () => creds()),
    {
      ok: false,
      reason: 'wrong-credentials',
    },
  );
});

test('malformed answers: no qop, bad nc, other realm, unknown algorithm', () => {
  const d = new DigestAuthenticator(realm, 60_000);
  const nonce = nonceOf(d.challenges(['SHA-256'])[0]!);
  const good = answer(nonce);
  const noQop: DigestParams = { ...good };
  delete noQop.qop;
  assert.deepEqual(
    d.verify('REGISTER', noQop, () => creds()),
    { ok: false, reason: 'malformed' },
  );
  assert.deepEqual(
    d.verify('REGISTER', { ...good, nc: 'zz' }, () => creds()),
    { ok: false, reason: 'malformed' },
  );
  assert.deepEqual(
    d.verify('REGISTER', { ...good, realm: 'evil' }, () => creds()),
    { ok: false, reason: 'malformed' },
  );
  assert.deepEqual(
    d.verify('REGISTER', { ...good, algorithm: 'SHA-512' }, () => creds()),
    {
      ok: false,
      reason: 'algorithm',
    },
  );
});
