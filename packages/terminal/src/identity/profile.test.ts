import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createServer as createNetServer } from 'node:net';
import { TLSSocket, connect } from 'node:tls';
import { inspect } from 'node:util';
import forge from 'node-forge';
import { pino } from 'pino';
import { ProfileError, openProfile } from './index.js';

const posix = process.platform !== 'win32';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tsunagu-profile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A pino logger at the most verbose level, and everything it wrote. */
function capturedLog(): { log: pino.Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { log: pino({ level: 'trace' }, stream), text: () => chunks.join('') };
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<ProfileError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProfileError, `expected a ProfileError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return e;
  }
  assert.fail('expected a ProfileError');
}

test('first use creates the profile: key pair, self-signed certificate, instance id; private modes', async (t) => {
  const dir = join(await tempDir(t), 'profile');
  const profile = await openProfile(dir, { create: true });
  assert.match(profile.data.instanceId, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.equal(profile.data.version, 1);
  const names = (await readdir(dir)).sort();
  assert.deepEqual(names, ['cert.pem', 'key.pem', 'profile.json'], 'and no temporary files left');
  if (posix) {
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const f of names) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
  }
  const keyPem = await readFile(join(dir, 'key.pem'), 'utf8');
  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/, 'PKCS#8');
  const key = createPrivateKey(keyPem);
  assert.equal(key.asymmetricKeyType, 'rsa');
  assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);

  const id = profile.identity;
  assert.match(id.fingerprint, /^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'RFC 8122 form');
  const cert = new X509Certificate(await readFile(join(dir, 'cert.pem')));
  assert.equal(id.fingerprint, cert.fingerprint256);
  assert.ok(cert.checkPrivateKey(key));
  assert.ok(id.selfSigned);
  assert.match(cert.subjectAltName ?? '', new RegExp(`URI:${profile.data.instanceId}`));
  assert.equal(id.aor, undefined);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  assert.ok(days > 364 && days < 366, `valid for a year (${days} days)`);
  // serverAuth + clientAuth; not a CA.
  assert.deepEqual(cert.toLegacyObject().ext_key_usage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(cert.ca, false);
});

test('reopening gives the same identity; a missing profile is a clear error', async (t) => {
  const base = await tempDir(t);
  const dir = join(base, 'p');
  await rejectsWith(
    openProfile(dir),
    'missing',
    /no Tsunagu profile at .*folder does not exist.*tsunagu enroll/,
  );
  const first = await openProfile(dir, { create: true });
  const keyBefore = await readFile(join(dir, 'key.pem'));
  const again = await openProfile(dir);
  assert.equal(again.data.instanceId, first.data.instanceId);
  assert.equal(again.identity.fingerprint, first.identity.fingerprint);
  assert.equal(again.identity.certificatePem, first.identity.certificatePem);
  assert.deepEqual(await readFile(join(dir, 'key.pem')), keyBefore, 'the key is never rewritten');
  await rm(join(dir, 'profile.json'));
  await rejectsWith(openProfile(dir), 'missing', /profile\.json is missing/);
});

test('two processes creating the same profile at once end up with one key and one instance id', async (t) => {
  const dir = join(await tempDir(t), 'p');
  const [a, b, c] = await Promise.all([
    openProfile(dir, { create: true }),
    openProfile(dir, { create: true }),
    openProfile(dir, { create: true }),
  ]);
  const reopened = await openProfile(dir);
  for (const p of [a!, b!, c!]) {
    assert.equal(p.data.instanceId, reopened.data.instanceId);
    assert.ok(
      reopened.identity.certificate.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'key.pem')))),
    );
  }
  assert.deepEqual((await readdir(dir)).sort(), ['cert.pem', 'key.pem', 'profile.json']);
});

test('a corrupt profile is a clear error that names the file and the field', async (t) => {
  const dir = await tempDir(t);
  const profile = await openProfile(dir, { create: true });
  const file = join(dir, 'profile.json');
  await writeFile(file, '{"version": 1, "instanceId": ');
  await rejectsWith(
    openProfile(dir),
    'corrupt',
    /profile\.json is not valid JSON .*Restore it from a backup/,
  );
  const good = { ...profile.data };
  await writeFile(file, JSON.stringify({ ...good, caFingerprint: 'sha1:AB' }));
  await rejectsWith(openProfile(dir), 'corrupt', /profile\.json: caFingerprint must be sha256:/);
  await writeFile(file, JSON.stringify({ ...good, server: { sip: 'example.org' } }));
  await rejectsWith(openProfile(dir), 'corrupt', /server\.sip must be HOST:PORT/);
  await writeFile(file, JSON.stringify({ ...good, settings: { inbound: 'sometimes' } }));
  await rejectsWith(openProfile(dir), 'corrupt', /settings\.inbound must be auto, never or reachable/);
  await writeFile(file, JSON.stringify({ ...good, digest: { username: 'alice/laptop', secret: 'x' } }));
  await rejectsWith(openProfile(dir), 'corrupt', /must not hold the secret/);
  await writeFile(file, JSON.stringify({ ...good, version: 2 }));
  await rejectsWith(openProfile(dir), 'unsupported-version', /newer Tsunagu .*version 2/);
  await writeFile(file, '[]');
  await rejectsWith(openProfile(dir), 'corrupt', /must be a JSON object/);
});

test('a corrupt key is an error that does not quote the file', async (t) => {
  const dir = await tempDir(t);
  await openProfile(dir, { create: true });
  const garbage =
    '-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\n-----END PRIVATE KEY-----\n';
  await writeFile(join(dir, 'key.pem'), garbage, { mode: 0o600 });
  const e = await rejectsWith(openProfile(dir), 'corrupt', /key\.pem is not a valid private key/);
  assert.ok(!e.message.includes('TUlJRXZR'));
});

test('the private key appears in no string the API returns and in no log line', async (t) => {
  const dir = await tempDir(t);
  const { log, text } = capturedLog();
  const profile = await openProfile(dir, { create: true, log });
  await profile.update({ user: { aor: 'sip:alice@example.org', device: 'laptop' } });
  await profile.writeDigestSecret('s3cret-value');
  const reopened = await openProfile(dir, { log });
  const id = reopened.identity;
  const keyPem = await readFile(join(dir, 'key.pem'), 'utf8');
  // Needles: the private parts only (the key file also holds the public modulus, which certificates
  // and requests rightly contain): each secret component in hex, base64 at every byte alignment and
  // base64url, and the PEM lines of the key file that lie within them.
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const jwk = createPrivateKey(keyPem).export({ format: 'jwk' });
  const needles: string[] = [];
  let firstSecret = der.length;
  for (const part of [jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi]) {
    const bytes = Buffer.from(String(part), 'base64url');
    firstSecret = Math.min(firstSecret, der.indexOf(bytes));
    needles.push(bytes.toString('hex').slice(0, 40), String(part).slice(0, 40));
    for (const k of [0, 1, 2]) needles.push(bytes.subarray(k).toString('base64').slice(4, 44));
  }
  const pemLines = keyPem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{64}$/.test(l));
  pemLines.forEach((l, i) => i * 48 >= firstSecret && needles.push(l));
  const flat = keyPem.replace(/\s/g, '');
  assert.ok(needles.filter((n) => flat.includes(n)).length >= 6 + 10, 'the needles do find the key itself');
  const csr = id.createCertificateRequest('sip:alice@example.org');
  const strings = [
    JSON.stringify(reopened),
    JSON.stringify(id),
    inspect(reopened, { depth: Infinity, showHidden: true }),
    inspect(id, { depth: Infinity, showHidden: true }),
    inspect(id.secureContext(), { depth: Infinity, showHidden: true }),
    String(id),
    Object.keys(id).join(),
    id.certificatePem,
    id.fingerprint,
    csr,
    JSON.stringify(reopened.data),
    await readFile(join(dir, 'profile.json'), 'utf8'),
    text(),
  ];
  assert.ok(text().includes('device key pair generated'), 'the log was captured');
  for (const s of strings)
    for (const n of needles) assert.ok(!s.includes(n), `key material found in: ${s.slice(0, 80)}`);
  assert.ok(!text().includes('s3cret-value'), 'nor the digest secret in the log');
  assert.ok(!JSON.stringify(reopened).includes('s3cret-value'));
});

test('update: validated, atomic, merges settings, re-issues the certificate for the AOR', async (t) => {
  const dir = await tempDir(t);
  const profile = await openProfile(dir, { create: true });
  const before = profile.identity.fingerprint;
  const publicBefore = profile.identity.certificate.publicKey.export({ type: 'spki', format: 'der' });
  await profile.update({
    server: { sip: '[2001:db8::1]:5061', https: 'tsunagu.example.org:5443' },
    caFingerprint: `sha256:${Array(32).fill('AB').join(':')}`,
    user: { aor: 'sip:alice@example.org', device: 'laptop' },
    digest: { username: 'alice/laptop', realm: 'example.org' },
    settings: { inbound: 'never', acceptFrom: ['sip:bob@example.org'] },
  });
  assert.equal(profile.identity.aor, 'sip:alice@example.org');
  assert.notEqual(profile.identity.fingerprint, before, 'a new certificate …');
  assert.deepEqual(
    profile.identity.certificate.publicKey.export({ type: 'spki', format: 'der' }),
    publicBefore,
    '… for the same key',
  );
  assert.match(profile.identity.certificate.subject, /CN=alice@example\.org/);
  assert.match(profile.identity.certificate.subjectAltName ?? '', /URI:sip:alice@example\.org/);

  await profile.update((cur) => ({
    settings: { channelPort: 50123, inbound: undefined },
    digest: cur.digest,
  }));
  const reopened = await openProfile(dir);
  assert.deepEqual(reopened.data.settings, { acceptFrom: ['sip:bob@example.org'], channelPort: 50123 });
  assert.equal(reopened.data.server?.sip, '[2001:db8::1]:5061');
  assert.equal(reopened.identity.fingerprint, profile.identity.fingerprint);

  const on = await readFile(join(dir, 'profile.json'), 'utf8');
  await rejectsWith(
    profile.update({ settings: { channelPort: 70000 } }),
    'invalid',
    /channelPort must be a port number/,
  );
  await rejectsWith(profile.update({ user: { aor: 'alice' } }), 'invalid', /user\.aor must be an AOR/);
  assert.equal(await readFile(join(dir, 'profile.json'), 'utf8'), on, 'unchanged after a refused update');
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.endsWith('.tmp')),
    [],
  );
  assert.throws(() => {
    (profile.data as { instanceId: string }).instanceId = 'x';
  }, TypeError);
});

test('digest secret: 0600 file of its own, read back, corrupt is a clear error', async (t) => {
  const dir = await tempDir(t);
  const profile = await openProfile(dir, { create: true });
  assert.equal(await profile.readDigestSecret(), undefined);
  await profile.writeDigestSecret('pa55:word with spaces');
  assert.equal(await profile.readDigestSecret(), 'pa55:word with spaces');
  if (posix) assert.equal((await stat(join(dir, 'secret.json'))).mode & 0o777, 0o600);
  assert.ok(!(await readFile(join(dir, 'profile.json'), 'utf8')).includes('pa55'));
  await rejectsWith(profile.writeDigestSecret(''), 'invalid', /digest secret/);
  await writeFile(join(dir, 'secret.json'), 'nope');
  await rejectsWith(profile.readDigestSecret(), 'corrupt', /secret\.json is not valid JSON/);
});

test('files made readable by others are set back to 0600 with a warning', { skip: !posix }, async (t) => {
  const dir = await tempDir(t);
  await openProfile(dir, { create: true });
  await chmod(join(dir, 'key.pem'), 0o644);
  await chmod(join(dir, 'profile.json'), 0o664);
  const { log, text } = capturedLog();
  await openProfile(dir, { log });
  assert.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'profile.json'))).mode & 0o777, 0o600);
  assert.match(text(), /private key file was readable by other users/);
});

test('the self-signed certificate is renewed at two thirds of its life, with the same key', async (t) => {
  const dir = await tempDir(t);
  const first = await openProfile(dir, { create: true });
  const later = await openProfile(dir, { now: () => new Date(Date.now() + 200 * 86_400_000) });
  assert.equal(later.identity.fingerprint, first.identity.fingerprint, 'not yet at 200 days');
  const renewed = await openProfile(dir, { now: () => new Date(Date.now() + 250 * 86_400_000) });
  assert.notEqual(renewed.identity.fingerprint, first.identity.fingerprint);
  assert.ok(renewed.identity.notAfter.getTime() > Date.now() + 600 * 86_400_000);
  assert.ok(
    renewed.identity.certificate.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'key.pem')))),
  );
  // A certificate that does not belong to the key (e.g. copied from another device) is replaced.
  const other = await openProfile(join(dir, 'other'), { create: true });
  await writeFile(join(dir, 'cert.pem'), other.identity.certificatePem);
  const fixed = await openProfile(dir);
  assert.notEqual(fixed.identity.fingerprint, other.identity.fingerprint);
  assert.ok(
    fixed.identity.certificate.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'key.pem')))),
  );
});

test('certificate request for the CA, and installing an issued certificate', async (t) => {
  const dir = await tempDir(t);
  const profile = await openProfile(dir, { create: true });
  const id = profile.identity;
  const csr = forge.pki.certificationRequestFromPem(id.createCertificateRequest('sip:alice@example.org'));
  assert.ok(csr.verify());
  const spki = createPublicKey(forge.pki.publicKeyToPem(csr.publicKey!)).export({
    type: 'spki',
    format: 'der',
  });
  assert.deepEqual(spki, id.certificate.publicKey.export({ type: 'spki', format: 'der' }));
  const ext = csr.getAttribute({ name: 'extensionRequest' }) as unknown as {
    extensions: { name: string; altNames: { value: string }[] }[];
  };
  assert.deepEqual(
    ext.extensions[0]!.altNames.map((a) => a.value),
    ['sip:alice@example.org', profile.data.instanceId],
  );
  // A certificate for another key is refused; one for ours is stored.
  const other = await openProfile(join(dir, 'other'), { create: true });
  await rejectsWith(
    id.installCertificate(other.identity.certificatePem),
    'invalid',
    /not for this device's key/,
  );
  const before = id.fingerprint;
  await id.installCertificate(id.certificatePem);
  assert.equal(id.fingerprint, before);
});

test("the identity's TLS context does mutual TLS 1.3 and presents the certificate", async (t) => {
  const a = await openProfile(join(await tempDir(t), 'a'), { create: true });
  const b = await openProfile(join(await tempDir(t), 'b'), { create: true });
  // tls.createServer builds its own context, so the server side wraps accepted sockets, as the channel does.
  const seen = await new Promise<{ client: string; server: string; protocol: string | null }>(
    (resolve, reject) => {
      const srv = createNetServer((raw) => {
        const s = new TLSSocket(raw, {
          isServer: true,
          secureContext: a.identity.secureContext({ minVersion: 'TLSv1.3' }),
          requestCert: true,
          rejectUnauthorized: false,
        });
        s.on('secure', () => {
          const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
          s.end(fp);
        });
        s.on('error', reject);
      });
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        const c = connect({
          host: '127.0.0.1',
          port,
          secureContext: b.identity.secureContext({ minVersion: 'TLSv1.3' }),
          rejectUnauthorized: false,
        });
        let data = '';
        c.on('data', (d: Buffer) => (data += d.toString()));
        c.on('end', () => {
          srv.close();
          resolve({
            client: data,
            server: c.getPeerX509Certificate()?.fingerprint256 ?? '',
            protocol: c.getProtocol(),
          });
        });
        c.on('error', reject);
      });
    },
  );
  assert.equal(seen.protocol, 'TLSv1.3');
  assert.equal(seen.client, b.identity.fingerprint, 'the server saw the client certificate');
  assert.equal(seen.server, a.identity.fingerprint);
});

test('the CA certificate is stored only if it is the pinned one, and checked on every read', async (t) => {
  const dir = await tempDir(t);
  const profile = await openProfile(dir, { create: true });
  // Any certificate will do as a stand-in for the deployment CA here.
  const ca = (await openProfile(join(dir, 'ca'), { create: true })).identity;
  const other = (await openProfile(join(dir, 'other'), { create: true })).identity;
  await rejectsWith(profile.saveCaCertificate(ca.certificatePem), 'invalid', /pin the CA fingerprint/);
  await profile.update({ caFingerprint: `sha256:${ca.fingerprint}` });
  await rejectsWith(profile.saveCaCertificate(other.certificatePem), 'invalid', /not the pinned one/);
  await rejectsWith(profile.saveCaCertificate('junk'), 'invalid', /not a valid X\.509/);
  assert.equal(await profile.readCaCertificate(), undefined);
  await profile.saveCaCertificate(ca.certificatePem);
  assert.equal(new X509Certificate((await profile.readCaCertificate())!).fingerprint256, ca.fingerprint);
  if (posix) assert.equal((await stat(join(dir, 'ca.pem'))).mode & 0o777, 0o600);
  await writeFile(join(dir, 'ca.pem'), other.certificatePem);
  await rejectsWith(profile.readCaCertificate(), 'corrupt', /not the pinned CA .*replaced/);
});
