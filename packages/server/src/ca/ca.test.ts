import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { KeyAndCertificate } from './ca.js';
import { CaError, createDeploymentCa, fingerprint, issueServerCertificate } from './ca.js';
import { readKeyAndCertificate, writeKeyAndCertificate, writePrivateKeyFile } from './files.js';

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
