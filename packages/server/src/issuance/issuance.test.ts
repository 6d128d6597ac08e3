import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto, { X509Certificate, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { header } from '../sip/message.js';
import { startTestServer, testCertificateRequest, type TestServer } from '../testing/index.js';
import type { SipTestClient } from '../testing/index.js';
import { CERTIFICATE_EVENT, CHAIN_TYPE, PKCS10_TYPE } from '@tsunagu/protocol';

/** PUBLISH of a PKCS#10 request, as a terminal sends it. */
function publish(
  c: SipTestClient,
  body: Buffer | string,
  o: { event?: string; type?: string; uri?: string; authenticate?: boolean } = {},
) {
  return c.request('PUBLISH', o.uri ?? c.aor, {
    to: `<${o.uri ?? c.aor}>`,
    headers: [{ name: 'Event', value: o.event ?? CERTIFICATE_EVENT }],
    contentType: o.type ?? PKCS10_TYPE,
    body: typeof body === 'string' ? body : body.toString('base64'),
    ...(o.authenticate === false ? { authenticate: false } : {}),
  });
}

const instanceOf = (c: SipTestClient) => c.instance.slice(1, -1);

describe('certificate issuance over PUBLISH', () => {
  let t: TestServer;
  let dir: string;
  before(async () => {
    t = await startTestServer({ domain: 'example.test' });
    t.addUser('alice');
    t.addUser('bob');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-issue-'));
    fs.writeFileSync(path.join(dir, 'ca.pem'), t.ca);
  });
  after(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const issuedCount = () => t.admin.certificates.list().length;

  async function registered(user: string): Promise<SipTestClient> {
    const c = await t.client(user);
    assert.equal((await c.register()).status, 200);
    return c;
  }

  test('a registered device gets a certificate for its own key, naming its AOR, device and DNS name', async () => {
    const c = await registered('alice');
    const csr = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
    const res = await publish(c, csr.der);
    assert.equal(res.status, 200);
    assert.equal(header(res, 'Content-Type'), CHAIN_TYPE);
    const chain = res.body.toString('utf8');
    const leaf = new X509Certificate(chain);
    assert.ok(leaf.checkPrivateKey(csr.key), 'the certificate is for the requested key');
    assert.ok(leaf.verify(new X509Certificate(t.ca).publicKey));
    const device = t.admin.devices.findByInstance('alice', instanceOf(c))!;
    assert.match(leaf.subjectAltName!, new RegExp(`URI:${c.aor}`));
    assert.match(leaf.subjectAltName!, new RegExp(`URI:${instanceOf(c)}`));
    assert.ok(leaf.checkHost(`${device.id}.alice.example.test`), 'DNS name of the device');
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    assert.ok(days > 29.9 && days < 30.1, `30 days by default (got ${days})`);
    assert.equal(header(res, 'SIP-ETag')?.toLowerCase(), leaf.serialNumber.toLowerCase());
    // Stock OpenSSL agrees, for TLS client and server use.
    fs.writeFileSync(path.join(dir, 'leaf.pem'), leaf.toString());
    for (const purpose of ['sslclient', 'sslserver']) {
      execFileSync('openssl', [
        'verify',
        '-CAfile',
        path.join(dir, 'ca.pem'),
        '-purpose',
        purpose,
        path.join(dir, 'leaf.pem'),
      ]);
    }
    const [record] = t.admin.certificates.list('alice', device.id);
    assert.equal(record?.fingerprint, `sha256:${leaf.fingerprint256}`);
    assert.equal(record?.instance, instanceOf(c));
  });

  test('a request naming another user is refused with the reason, and nothing is issued', async () => {
    const c = await registered('alice');
    const before = issuedCount();
    const csr = testCertificateRequest({
      aor: 'sip:bob@example.test',
      instance: instanceOf(c),
      names: [
        { type: 6, value: 'sip:bob@example.test' },
        { type: 6, value: instanceOf(c) },
      ],
    });
    const res = await publish(c, csr.der);
    assert.equal(res.status, 403);
    assert.equal(res.reason, 'Request Names Another Identity');
    assert.match(header(res, 'Warning') ?? '', /^399 example\.test ".*bob@example\.test.*"$/);
    assert.equal(issuedCount(), before);
  });

  test('bad requests: tampered signature, garbage, oversized, weak key, wrong type or event', async () => {
    const c = await registered('alice');
    const before = issuedCount();
    const good = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
    const tampered = Buffer.from(good.der);
    tampered[tampered.length - 5]! ^= 0xff; // inside the signature
    const weak = testCertificateRequest({ aor: c.aor, instance: instanceOf(c), bits: 1024 });
    const cases: [string, Promise<{ status: number; reason: string }>, number, string][] = [
      ['tampered', publish(c, tampered), 400, 'Certificate Request Signature Invalid'],
      ['garbage', publish(c, 'bm90IGEgY3Ny'), 400, 'Bad Certificate Request'],
      ['oversized', publish(c, 'A'.repeat(9000)), 413, 'Certificate Request Too Large'],
      ['weak key', publish(c, weak.der), 403, 'Key Too Weak'],
      ['wrong type', publish(c, good.der, { type: 'text/plain' }), 415, 'Unsupported Media Type'],
      ['wrong event', publish(c, good.der, { event: 'presence' }), 489, 'Bad Event'],
      ['another AOR', publish(c, good.der, { uri: 'sip:bob@example.test' }), 403, 'Publish To Your Own AOR'],
    ];
    for (const [what, pending, status, reason] of cases) {
      const res = await pending;
      assert.equal(res.status, status, what);
      assert.equal(res.reason, reason, what);
    }
    assert.equal(issuedCount(), before, 'nothing issued');
  });

  test('PUBLISH before authentication is challenged, and nothing is issued', async () => {
    const c = await t.client('alice');
    const before = issuedCount();
    const csr = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
    const res = await publish(c, csr.der, { authenticate: false });
    assert.equal(res.status, 407);
    // Authenticated with the user's password but never registered: no device to issue to.
    const res2 = await publish(c, csr.der);
    assert.equal(res2.status, 403);
    assert.equal(res2.reason, 'Register This Device First');
    assert.equal(issuedCount(), before);
  });

  test('the issued certificate authenticates the connection: REGISTER needs no digest', async () => {
    const c = await registered('alice');
    const csr = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
    const res = await publish(c, csr.der);
    assert.equal(res.status, 200);
    const certPem = new X509Certificate(res.body.toString('utf8')).toString();
    const keyPem = csr.key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const tls = await t.client('alice', { cert: certPem, key: keyPem, password: '', instance: c.instance });
    const reg = await tls.register();
    assert.equal(reg.status, 200, 'no 401: the certificate proved who it is');
    // It speaks for alice only.
    const other = await t.client('bob', { cert: certPem, key: keyPem, password: '' });
    assert.equal((await other.register()).status, 403);
  });

  test('the key directory returns current keys under the policy: hidden looks like unknown', async () => {
    const a = await registered('alice');
    const csr = testCertificateRequest({ aor: a.aor, instance: instanceOf(a) });
    assert.equal((await publish(a, csr.der)).status, 200);
    const b = await registered('bob');
    const fetchKeys = async (user: string) => {
      const res = await b.request('SUBSCRIBE', `sip:${user}@example.test`, {
        headers: [
          { name: 'Event', value: 'tsunagu-keys' },
          { name: 'Expires', value: '0' },
        ],
      });
      return res;
    };
    // The fetch's one NOTIFY (bob holds no other subscription); the client answers it 200 itself.
    const notified = b.nextRequest('NOTIFY').then((req) => req.body.toString('utf8'));
    assert.equal((await fetchKeys('alice')).status, 200);
    const doc = JSON.parse(await notified) as {
      aor: string;
      keys: { fingerprint: string; publicKey: string }[];
    };
    assert.equal(doc.aor, 'sip:alice@example.test');
    const expected = createPublicKey(csr.key).export({ type: 'spki', format: 'pem' }).toString();
    assert.ok(
      doc.keys.some((k) => k.publicKey === expected),
      'alice’s newest key is listed',
    );

    t.admin.rules.add({ action: 'deny', src: 'bob', dst: 'alice' });
    await t.until(
      () => !t.server.context.policy().canReach('bob@example.test', 'alice@example.test'),
      'policy',
    );
    const hidden = await fetchKeys('alice');
    const unknown = await fetchKeys('nobody');
    assert.equal(hidden.status, 404);
    assert.equal(unknown.status, 404);
    assert.equal(hidden.reason, unknown.reason);
    assert.equal(hidden.body.length, unknown.body.length);
  });

  test('revocation: the device is cut off, every subscriber hears it, the CRL lists it, retries are refused', async () => {
    // An enrolled device (its own secret), with a certificate.
    const instance = `urn:uuid:${crypto.randomUUID()}`;
    const { device, secret } = t.admin.devices.enroll('alice', { name: 'Laptop R', instance });
    const creds = { username: `alice/${device.id}`, password: secret, instance: `<${instance}>` };
    const c = await t.client('alice', creds);
    assert.equal((await c.register()).status, 200);
    const csr = testCertificateRequest({ aor: c.aor, instance });
    const res = await publish(c, csr.der);
    assert.equal(res.status, 200);
    const leaf = new X509Certificate(res.body.toString('utf8'));
    const fingerprint = `sha256:${leaf.fingerprint256}`;

    // bob watches his contact list: the revocation list comes with it.
    const b = await registered('bob');
    const lists: { revoked: string[]; at: number }[] = [];
    b.onRequest = (req) => {
      if (req.method === 'NOTIFY')
        lists.push({ ...(JSON.parse(req.body.toString('utf8')) as { revoked: string[] }), at: Date.now() });
      return false; // and the client answers it 200
    };
    const sub = await b.request('SUBSCRIBE', b.aor, {
      headers: [{ name: 'Event', value: 'tsunagu-contacts' }],
    });
    assert.equal(sub.status, 200);
    await t.until(() => lists.length > 0, 'the first contact list');
    assert.ok(!lists.at(-1)!.revoked.includes(fingerprint));

    const started = Date.now();
    const { certificates } = t.admin.devices.revoke('alice', device.id);
    assert.equal(certificates, 1);
    await t.until(() => lists.some((l) => l.revoked.includes(fingerprint)), 'the revocation to reach bob');
    const heard = lists.find((l) => l.revoked.includes(fingerprint))!.at - started;
    console.log(`revocation reached a subscriber after ${heard} ms (reload interval 100 ms)`);
    await c.closed; // the server hung up on the revoked device

    // Retrying with its secret, or with its certificate, gets a clear refusal.
    const again = await t.client('alice', creds);
    const reg = await again.register();
    assert.equal(reg.status, 403);
    assert.equal(reg.reason, 'Device Revoked');
    const keyPem = csr.key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const withCert = await t.client('alice', { ...creds, cert: leaf.toString(), key: keyPem });
    const reg2 = await withCert.register();
    assert.equal(reg2.status, 403);
    assert.equal(reg2.reason, 'Certificate Revoked');
    const pub = await publish(withCert, testCertificateRequest({ aor: c.aor, instance }).der);
    assert.equal(pub.status, 403);
    assert.equal(t.admin.certificates.list('alice', device.id).length, 1, 'nothing new issued');

    // The CRL the server publishes lists it, signed by the CA (checked by OpenSSL).
    const crl = await new Promise<Buffer>((resolve, reject) => {
      https
        .get(
          { host: t.https.host, port: t.https.port, path: '/ca.crl', ca: t.ca, servername: 'localhost' },
          (r) => {
            const parts: Buffer[] = [];
            r.on('data', (d: Buffer) => parts.push(d));
            r.on('end', () => resolve(Buffer.concat(parts)));
          },
        )
        .on('error', reject);
    });
    fs.writeFileSync(path.join(dir, 'ca.crl'), crl);
    fs.writeFileSync(path.join(dir, 'revoked.pem'), leaf.toString());
    execFileSync(
      'openssl',
      [
        'crl',
        '-inform',
        'DER',
        '-in',
        path.join(dir, 'ca.crl'),
        '-noout',
        '-verify',
        '-CAfile',
        path.join(dir, 'ca.pem'),
      ],
      { stdio: 'pipe' },
    );
    execFileSync('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      path.join(dir, 'ca.crl'),
      '-out',
      path.join(dir, 'crl.pem'),
    ]);
    const verify = (() => {
      try {
        execFileSync(
          'openssl',
          [
            'verify',
            '-crl_check',
            '-CAfile',
            path.join(dir, 'ca.pem'),
            '-CRLfile',
            path.join(dir, 'crl.pem'),
            path.join(dir, 'revoked.pem'),
          ],
          { stdio: 'pipe' },
        );
        return 'ok';
      } catch (e) {
        return String((e as { stdout?: Buffer }).stdout) + String((e as { stderr?: Buffer }).stderr);
      }
    })();
    assert.match(verify, /certificate revoked/);
  });
});
