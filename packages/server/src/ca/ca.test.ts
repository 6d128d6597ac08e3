import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { KeyAndCertificate } from './ca.js';
import { CaError, createDeploymentCa, fingerprint, issueServerCertificate } from './ca.js';
import forge from 'node-forge';
import {
  readKeyAndCertificate,
  readPassphrase,
  readPrivateKey,
  readPrivateKeyFile,
  writeKeyAndCertificate,
  writePrivateKeyFile,
} from './files.js';
import {
  CLOCK_SKEW_MS,
  forgePublicKey,
  randomSerial,
  signCertificate,
  signCertificationRequest,
  validityWindow,
} from './x509.js';

let ca: KeyAndCertificate;
let server: KeyAndCertificate;
let dir: string;

function ipv6Available(): boolean {
  return Object.values(os.networkInterfaces()).some((list) =>
    list?.some((i) => i.family === 'IPv6' && i.internal),
  );
}

/** Starts a real TLS server with the certificate and connects to `host` trusting only the CA. */
async function handshake(
  cert: KeyAndCertificate,
  listenHost: string,
  connect: { host: string; servername?: string },
  trust: string,
): Promise<{ ok: true; peerSubject: string } | { ok: false; error: string }> {
  const srv = tls.createServer({ key: cert.keyPem, cert: cert.certPem }, (s) => s.end('hello'));
  await new Promise<void>((resolve) => srv.listen(0, listenHost, resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise((resolve) => {
      const sock = tls.connect({
        host: connect.host,
        port,
        ca: trust,
        ...(connect.servername ? { servername: connect.servername } : {}),
      });
      sock.once('secureConnect', () => {
        const subject = sock.getPeerCertificate().subject.CN ?? '';
        sock.destroy();
        resolve({ ok: true, peerSubject: String(subject) });
      });
      sock.once('error', (e) =>
        resolve({ ok: false, error: (e as NodeJS.ErrnoException).code ?? e.message }),
      );
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-ca-'));
  ca = createDeploymentCa({ domain: 'example.org' });
  server = issueServerCertificate({ ca, hosts: ['localhost', '127.0.0.1', '::1'], domain: 'example.org' });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('createDeploymentCa', () => {
  it('makes a CA certificate with the right constraints', () => {
    const x = new X509Certificate(ca.certPem);
    assert.equal(x.ca, true);
    assert.equal(x.subject, 'CN=Tsunagu CA example.org\nO=Tsunagu');
    assert.equal(x.issuer, x.subject);
    assert.ok(x.verify(x.publicKey), 'self-signed');
    assert.ok(x.checkPrivateKey(createPrivateKey(ca.keyPem)));
    const serial = BigInt(`0x${x.serialNumber}`);
    assert.ok(serial > 2n ** 120n && serial < 2n ** 127n, `128-bit positive serial, got ${x.serialNumber}`);
    const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 3649 && days <= 3650, `~3650 days, got ${days}`);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: ca.certPem,
      encoding: 'utf8',
    });
    assert.match(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(text, /Subject Key Identifier/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
  });
  it('gives each CA a different serial', () => {
    const other = createDeploymentCa({ domain: 'example.org', validityDays: 30 });
    assert.notEqual(
      new X509Certificate(other.certPem).serialNumber,
      new X509Certificate(ca.certPem).serialNumber,
    );
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });
  it('rejects a bad domain or validity', () => {
    assert.throws(() => createDeploymentCa({ domain: 'not a domain' }), CaError);
    assert.throws(
      () => createDeploymentCa({ domain: 'example.org', validityDays: 0 }),
      /validityDays must be an integer/,
    );
  });
});

describe('issueServerCertificate', () => {
  it('chains to the CA with the right SANs and usages', () => {
    const x = new X509Certificate(server.certPem);
    const caX = new X509Certificate(ca.certPem);
    assert.equal(x.ca, false);
    assert.ok(x.checkIssued(caX));
    assert.ok(x.verify(caX.publicKey));
    assert.equal(
      x.subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:sip:example.org',
    );
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 396 && days <= 397);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: server.certPem,
      encoding: 'utf8',
    });
    assert.match(text, /Authority Key Identifier/);
    const caText = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: ca.certPem,
      encoding: 'utf8',
    });
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    assert.ok(ski);
    assert.ok(text.includes(ski), 'AKI of the server cert = SKI of the CA');
    // openssl verify with the CA as the only trust anchor
    fs.writeFileSync(path.join(dir, 'verify-ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'verify-srv.pem'), server.certPem);
    const out = execFileSync(
      'openssl',
      [
        'verify',
        '-purpose',
        'sslserver',
        '-CAfile',
        path.join(dir, 'verify-ca.pem'),
        path.join(dir, 'verify-srv.pem'),
      ],
      {
        encoding: 'utf8',
      },
    );
    assert.match(out, /: OK/);
  });
  it('never outlives the CA', () => {
    const shortCa = createDeploymentCa({ domain: 'example.org', validityDays: 10 });
    const s = issueServerCertificate({ ca: shortCa, hosts: ['localhost'], domain: 'example.org' });
    assert.equal(new X509Certificate(s.certPem).validTo, new X509Certificate(shortCa.certPem).validTo);
  });
  it('refuses a key that is not the CA’s, bad hosts and no hosts', () => {
    const other = createDeploymentCa({ domain: 'example.org' });
    assert.throws(
      () =>
        issueServerCertificate({
          ca: { keyPem: other.keyPem, certPem: ca.certPem },
          hosts: ['localhost'],
          domain: 'example.org',
        }),
      /the CA key does not belong to the CA certificate/,
    );
    assert.throws(
      () => issueServerCertificate({ ca, hosts: [], domain: 'example.org' }),
      /at least one host/,
    );
    assert.throws(
      () => issueServerCertificate({ ca, hosts: ['bad host'], domain: 'example.org' }),
      /invalid host 'bad host'/,
    );
  });
  it('is accepted by Node TLS for localhost and 127.0.0.1 with default identity checks', async () => {
    const byName = await handshake(
      server,
      '127.0.0.1',
      { host: '127.0.0.1', servername: 'localhost' },
      ca.certPem,
    );
    assert.deepEqual(byName, { ok: true, peerSubject: 'localhost' });
    const byIp = await handshake(server, '127.0.0.1', { host: '127.0.0.1' }, ca.certPem);
    assert.equal(byIp.ok, true);
  });
  it('is accepted over IPv6 for ::1', { skip: !ipv6Available() && 'no IPv6 loopback here' }, async () => {
    const r = await handshake(server, '::1', { host: '::1' }, ca.certPem);
    assert.equal(r.ok, true, JSON.stringify(r));
  });
  it('is refused for a name not in its SANs, and by a client trusting another CA', async () => {
    const wrongName = await handshake(
      server,
      '127.0.0.1',
      { host: '127.0.0.1', servername: 'evil.example' },
      ca.certPem,
    );
    assert.deepEqual(wrongName, { ok: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    const other = createDeploymentCa({ domain: 'example.org' });
    const wrongCa = await handshake(
      server,
      '127.0.0.1',
      { host: '127.0.0.1', servername: 'localhost' },
      other.certPem,
    );
    assert.equal(wrongCa.ok, false);
  });
});

describe('fingerprint', () => {
  it('matches openssl x509 -fingerprint -sha256', () => {
    const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], {
      input: ca.certPem,
      encoding: 'utf8',
    });
    const hex = /Fingerprint=([0-9A-F:]+)/i.exec(out)?.[1];
    assert.ok(hex);
    assert.equal(fingerprint(ca.certPem), `sha256:${hex.toUpperCase()}`);
    assert.match(fingerprint(ca.certPem), /^sha256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
  it('rejects what is not a certificate', () => {
    assert.throws(() => fingerprint('nope'), CaError);
  });
});

describe('key and certificate files', () => {
  it('writes keys 0600 and certificates 0644, never over an existing file', () => {
    const key = path.join(dir, 'k.key');
    const crt = path.join(dir, 'k.pem');
    writeKeyAndCertificate(key, crt, server);
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    assert.equal(fs.statSync(crt).mode & 0o777, 0o644 & ~process.umask());
    assert.throws(() => writePrivateKeyFile(key, 'x'), /already exists/);
    assert.deepEqual(readKeyAndCertificate(key, crt), server);
    // atomic replacement keeps the mode
    writeKeyAndCertificate(key, crt, ca, { overwrite: true });
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(key, 'utf8'), ca.keyPem);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });
  it('refuses to read a key others can read', () => {
    const key = path.join(dir, 'open.key');
    const crt = path.join(dir, 'open.pem');
    writeKeyAndCertificate(key, crt, server);
    fs.chmodSync(key, 0o644);
    assert.throws(() => readKeyAndCertificate(key, crt), /readable by others \(mode 0644\): run chmod 600/);
    assert.throws(() => readKeyAndCertificate(path.join(dir, 'missing.key'), crt), /is missing/);
  });
});

describe('native signing helpers (x509.ts)', () => {
  it('randomSerial: 128-bit, positive, never the same', () => {
    const serials = new Set(Array.from({ length: 1000 }, () => randomSerial()));
    assert.equal(serials.size, 1000);
    for (const s of serials) {
      assert.match(s, /^[4-7][0-9a-f]{31}$/, 'top bit clear, second set: 16 octets without stripping');
    }
  });
  it('validityWindow: from five minutes ago in whole seconds, capped, and checked', () => {
    const now = new Date('2030-01-01T12:00:00.999Z');
    assert.equal(CLOCK_SKEW_MS, 300_000);
    assert.deepEqual(validityWindow(now, 2), {
      notBefore: new Date('2030-01-01T11:55:00Z'),
      notAfter: new Date('2030-01-03T12:00:00Z'),
    });
    const limit = new Date('2030-01-02T00:00:00.500Z');
    assert.deepEqual(validityWindow(now, 30, limit).notAfter, new Date('2030-01-02T00:00:00Z'));
    for (const days of [0, -1, 1.5, 36501, Number.NaN]) {
      assert.throws(
        () => validityWindow(now, days),
        (e: unknown) =>
          e instanceof CaError && /validityDays must be an integer from 1 to 36500/.test(e.message),
      );
    }
    assert.equal(validityWindow(now, 36500).notAfter.getUTCFullYear(), 2129);
    assert.throws(() => validityWindow(now, 1, new Date('2029-01-01T00:00:00Z')), /expired/);
  });
  it('signCertificate and signCertificationRequest sign natively; openssl agrees', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forgePublicKey(privateKey); // the public half of a private key works too
    cert.serialNumber = randomSerial();
    const v = validityWindow(new Date(), 1);
    cert.validity.notBefore = v.notBefore;
    cert.validity.notAfter = v.notAfter;
    cert.setSubject([{ name: 'commonName', value: 'test' }]);
    cert.setIssuer([{ name: 'commonName', value: 'test' }]);
    const pem = signCertificate(cert, privateKey);
    assert.doesNotMatch(pem, /\r/);
    assert.ok(new X509Certificate(pem).verify(publicKey));
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forgePublicKey(publicKey);
    csr.setSubject([{ name: 'commonName', value: 'test' }]);
    const req = signCertificationRequest(csr, privateKey);
    const out = execFileSync('openssl', ['req', '-noout', '-verify'], {
      input: req,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    assert.equal(out, '');
    assert.ok(forge.pki.certificationRequestFromPem(req).verify());
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => forgePublicKey(ec.publicKey), /expected an RSA key, got ec: node-forge builds RSA/);
    assert.throws(() => signCertificate(cert, ec.privateKey), /signing needs an RSA private key/);
    assert.throws(() => signCertificate(cert, publicKey), /signing needs an RSA private key/);
  });
});

describe('passphrase-protected CA key', () => {
  const passphrase = 'Canary-Passphrase-3c91 with spaces';
  it('writes encrypted PKCS#8, 0600, that openssl reads with the passphrase', () => {
    const key = path.join(dir, 'enc.key');
    writePrivateKeyFile(key, ca.keyPem, { passphrase });
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    const text = fs.readFileSync(key, 'utf8');
    assert.match(text, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    assert.ok(!text.includes(ca.keyPem.split('\n')[1]!), 'no clear key bytes');
    const modulus = (args: string[], input?: string) =>
      execFileSync('openssl', ['rsa', '-noout', '-modulus', ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
        ...(input ? { input } : {}),
      });
    const decrypted = execFileSync('openssl', ['pkey', '-in', key, '-passin', `pass:${passphrase}`], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    assert.match(decrypted, /BEGIN PRIVATE KEY/);
    assert.equal(modulus([], decrypted), modulus([], ca.keyPem));
    const wrong = spawnSync('openssl', ['pkey', '-in', key, '-passin', 'pass:wrong'], { encoding: 'utf8' });
    assert.notEqual(wrong.status, 0);
    // the same key comes back as a KeyObject
    const k = readPrivateKey(key, passphrase);
    assert.ok(new X509Certificate(ca.certPem).checkPrivateKey(k));
    assert.throws(
      () => writePrivateKeyFile(path.join(dir, 'empty-pass.key'), ca.keyPem, { passphrase: '' }),
      /empty/,
    );
  });
  it('says clearly when the passphrase is missing or wrong, never echoing it or the key', () => {
    const key = path.join(dir, 'enc2.key');
    writeKeyAndCertificate(key, path.join(dir, 'enc2.pem'), ca, { passphrase });
    assert.equal(
      fs.readFileSync(path.join(dir, 'enc2.pem'), 'utf8'),
      ca.certPem,
      'the certificate is not encrypted',
    );
    const check = (fn: () => unknown, message: string) =>
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof CaError, String(e));
        assert.equal(e.message, message);
        assert.ok(!e.message.includes(passphrase) && !e.message.includes('PRIVATE KEY'));
        return true;
      });
    check(
      () => readPrivateKey(key),
      `the CA key ${key} is encrypted: give its passphrase (TSUNAGU_CA_PASSPHRASE or --ca-passphrase-file)`,
    );
    check(
      () => readPrivateKey(key, ''),
      `the CA key ${key} is encrypted: give its passphrase (TSUNAGU_CA_PASSPHRASE or --ca-passphrase-file)`,
    );
    check(() => readPrivateKey(key, `${passphrase}x`), `wrong passphrase for ${key}`);
    fs.chmodSync(key, 0o640);
    check(
      () => readPrivateKey(key, passphrase),
      `${key} is readable by others (mode 0640): run chmod 600 ${key}`,
    );
    check(() => readPrivateKey(path.join(dir, 'none.key')), `${path.join(dir, 'none.key')} is missing`);
    const junk = path.join(dir, 'junk.key');
    fs.writeFileSync(junk, 'not a key', { mode: 0o600 });
    check(() => readPrivateKey(junk), `${junk} is not a private key in PEM`);
    // an unencrypted key reads with or without a passphrase
    const clear = path.join(dir, 'clear.key');
    writePrivateKeyFile(clear, ca.keyPem);
    assert.equal(readPrivateKey(clear).asymmetricKeyType, 'rsa');
    assert.equal(readPrivateKey(clear, 'ignored').asymmetricKeyType, 'rsa');
    assert.equal(readPrivateKeyFile(clear, 'ignored').encrypted, false);
  });
  it('readPrivateKeyFile tells an encrypted key, PKCS#8 or traditional PEM, from a clear one', () => {
    const pkcs8 = path.join(dir, 'enc-pkcs8.key');
    writePrivateKeyFile(pkcs8, ca.keyPem, { passphrase });
    const traditional = path.join(dir, 'enc-pkcs1.key');
    const pkcs1 = createPrivateKey(ca.keyPem)
      .export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase })
      .toString();
    assert.match(pkcs1, /Proc-Type: 4,ENCRYPTED/);
    fs.writeFileSync(traditional, pkcs1, { mode: 0o600 });
    for (const file of [pkcs8, traditional]) {
      const r = readPrivateKeyFile(file, passphrase);
      assert.equal(r.encrypted, true, file);
      assert.ok(new X509Certificate(ca.certPem).checkPrivateKey(r.key));
      assert.throws(() => readPrivateKeyFile(file), /is encrypted: give its passphrase/);
    }
  });
  it('readPassphrase: the first line of a private file, else TSUNAGU_CA_PASSPHRASE', () => {
    const file = path.join(dir, 'pass.txt');
    fs.writeFileSync(file, `${passphrase}\r\nsecond line\n`, { mode: 0o600 });
    assert.equal(readPassphrase({ file, env: {} }), passphrase);
    assert.equal(
      readPassphrase({ file, env: { TSUNAGU_CA_PASSPHRASE: 'from-env' } }),
      passphrase,
      'the file wins',
    );
    assert.equal(readPassphrase({ env: { TSUNAGU_CA_PASSPHRASE: 'from-env' } }), 'from-env');
    assert.equal(readPassphrase({ env: {} }), undefined);
    assert.equal(readPassphrase({ env: { TSUNAGU_CA_PASSPHRASE: '' } }), undefined);
    fs.chmodSync(file, 0o644);
    assert.throws(
      () => readPassphrase({ file, env: {} }),
      /pass\.txt is readable by others \(mode 0644\): run chmod 600/,
    );
    const empty = path.join(dir, 'empty-pass.txt');
    fs.writeFileSync(empty, '\nsecret on line two\n', { mode: 0o600 });
    assert.throws(
      () => readPassphrase({ file: empty, env: {} }),
      /is empty: write the passphrase on its first line/,
    );
    assert.throws(() => readPassphrase({ file: path.join(dir, 'no-such.txt') }), /no-such\.txt is missing/);
  });
});
