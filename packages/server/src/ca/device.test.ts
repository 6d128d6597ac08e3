import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import { LocalAuthority } from './authority.js';
import type { KeyAndCertificate } from './ca.js';
import { CaError, createDeploymentCa, fingerprint } from './ca.js';
import {
  CsrError,
  MAX_CSR_BYTES,
  checkRequestedIdentity,
  deviceNames,
  issueDeviceCertificate,
  parseCertificateRequest,
  type CsrErrorCode,
  type DeviceSubject,
} from './device.js';
import { writeKeyAndCertificate } from './files.js';
import { forgePublicKey, signCertificationRequest } from './x509.js';

const INSTANCE = 'urn:uuid:0d8f5e1a-1111-4222-8333-444455556666';
const alice: DeviceSubject = { user: 'alice', deviceId: 'laptop', instance: INSTANCE, domain: 'example.org' };

let dir: string;
let ca: KeyAndCertificate;
let caKey: KeyObject;
let caFile: string;
let rsa: { privateKey: KeyObject; publicKey: KeyObject };

interface AltName {
  type: number;
  value?: string;
  ip?: string;
}

/** A PKCS#10 request built with forge and signed natively, as the terminal does. */
function buildCsr(
  o: {
    key?: { privateKey: KeyObject; publicKey: KeyObject };
    cn?: string;
    sans?: AltName[];
    extensions?: Record<string, unknown>[];
  } = {},
): string {
  const key = o.key ?? rsa;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(key.publicKey);
  if (o.cn !== undefined) csr.setSubject([{ name: 'commonName', value: o.cn }]);
  const extensions: Record<string, unknown>[] = [...(o.extensions ?? [])];
  if (o.sans) extensions.push({ name: 'subjectAltName', altNames: o.sans });
  if (extensions.length > 0) csr.setAttributes([{ name: 'extensionRequest', extensions }]);
  return signCertificationRequest(csr, key.privateKey);
}

function aliceCsr(): string {
  return buildCsr({
    cn: 'alice@example.org',
    sans: [
      { type: 6, value: 'sip:alice@example.org' },
      { type: 6, value: INSTANCE },
    ],
  });
}

function derOfPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Asserts a CsrError with this code whose message matches, and that it quotes no base64 run (key bytes). */
function assertCsrError(fn: () => unknown, code: CsrErrorCode, message: RegExp | string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CsrError, `expected a CsrError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.doesNotMatch(e.message, /[A-Za-z0-9+/]{32,}/, 'no key material in the message');
    return true;
  });
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-device-'));
  ca = createDeploymentCa({ domain: 'example.org' });
  caKey = createPrivateKey(ca.keyPem);
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('deviceNames', () => {
  it('gives the AOR, the instance and a DNS name', () => {
    assert.deepEqual(deviceNames(alice), {
      aor: 'sip:alice@example.org',
      instance: INSTANCE,
      dns: 'laptop.alice.example.org',
    });
  });
  it('has more labels for a user with dots, and none for a user with _ or a bad label', () => {
    assert.equal(deviceNames({ ...alice, user: 'alice.smith' }).dns, 'laptop.alice.smith.example.org');
    assert.equal(deviceNames({ ...alice, user: 'alice_smith' }).dns, undefined);
    assert.equal(deviceNames({ ...alice, user: 'alice..smith' }).dns, undefined, 'empty label');
    assert.equal(deviceNames({ ...alice, user: '-alice' }).dns, undefined, 'leading hyphen');
    assert.equal(deviceNames({ ...alice, deviceId: 'phone-' }).dns, undefined, 'trailing hyphen');
    assert.equal(deviceNames({ ...alice, deviceId: 'a.b' }).dns, undefined, 'a dot would make it ambiguous');
    assert.equal(deviceNames({ ...alice, user: 'a'.repeat(63) }).dns?.split('.')[1], 'a'.repeat(63));
    assert.equal(deviceNames({ ...alice, user: 'a'.repeat(64) }).dns, undefined, 'label over 63');
    const long = Array.from({ length: 4 }, () => 'b'.repeat(60)).join('.');
    assert.equal(deviceNames({ ...alice, user: long }).dns, undefined, 'name over 253');
    assert.equal(
      deviceNames({ ...alice, deviceId: 'Laptop', domain: 'Example.ORG' }).dns,
      'laptop.alice.example.org',
    );
  });
});

describe('parseCertificateRequest', () => {
  it('accepts PEM, base64 of the DER with whitespace, and DER bytes', () => {
    const pem = aliceCsr();
    const der = derOfPem(pem);
    const b64 = der
      .toString('base64')
      .replace(/.{1,60}/g, '$&\r\n')
      .trimEnd();
    for (const body of [pem, Buffer.from(pem), b64, Buffer.from(`  ${b64}\n`), der]) {
      const csr = parseCertificateRequest(body);
      assert.equal(csr.subject.getField('CN').value, 'alice@example.org');
    }
    // the terminal's own request
    assert.ok(parseCertificateRequest(pem).publicKey);
  });
  it('refuses an oversized body before reading it', () => {
    assertCsrError(
      () => parseCertificateRequest('A'.repeat(MAX_CSR_BYTES + 1)),
      'too-large',
      `the certificate request is ${MAX_CSR_BYTES + 1} bytes; at most ${MAX_CSR_BYTES} are accepted`,
    );
    assertCsrError(() => parseCertificateRequest(Buffer.alloc(100_000, 0x30)), 'too-large', /100000 bytes/);
  });
  it('refuses garbage with a clear error', () => {
    assertCsrError(
      () => parseCertificateRequest('hello, world!'),
      'malformed',
      /is not a certificate request/,
    );
    assertCsrError(() => parseCertificateRequest(''), 'malformed', /is empty/);
    assertCsrError(
      () => parseCertificateRequest(Buffer.from('not base64 at all').toString('base64')),
      'malformed',
      /not a PKCS#10 certificate request/,
    );
    assertCsrError(
      () => parseCertificateRequest(ca.certPem),
      'malformed',
      /holds no CERTIFICATE REQUEST block/,
    );
    const der = derOfPem(aliceCsr());
    assertCsrError(
      () => parseCertificateRequest(der.subarray(0, der.length - 10)),
      'malformed',
      /cannot read its DER/,
    );
    assertCsrError(
      () => parseCertificateRequest(Buffer.concat([der, Buffer.from([0])])),
      'malformed',
      /cannot read its DER/,
    );
    // a certificate is a SEQUENCE of three too, but not a request
    assertCsrError(() => parseCertificateRequest(derOfPem(ca.certPem)), 'malformed', /not a PKCS#10/);
  });
  it('refuses a request whose signature bytes or signed content were altered', () => {
    const der = derOfPem(aliceCsr());
    const sig = Buffer.from(der);
    sig[sig.length - 1]! ^= 0x01;
    assertCsrError(
      () => parseCertificateRequest(sig),
      'bad-signature',
      'the certificate request’s signature does not verify: it was altered, or not signed by the key it carries',
    );
    const content = Buffer.from(der);
    const at = content.indexOf('alice@example.org');
    content.write('mallory', at, 'latin1');
    assertCsrError(
      () => parseCertificateRequest(content.toString('base64')),
      'bad-signature',
      /does not verify/,
    );
  });
  it('refuses a request signed with SHA-1', () => {
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forgePublicKey(rsa.publicKey);
    csr.setSubject([{ name: 'commonName', value: 'alice@example.org' }]);
    const sha1 = forge.pki.oids['sha1WithRSAEncryption']!;
    csr.siginfo.algorithmOid = sha1;
    csr.signatureOid = sha1;
    const internals = forge.pki as unknown as {
      getCertificationRequestInfo(c: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
    };
    const cri = internals.getCertificationRequestInfo(csr);
    csr.certificationRequestInfo = cri;
    const criDer = Buffer.from(forge.asn1.toDer(cri).getBytes(), 'binary');
    csr.signature = sign('sha1', criDer, rsa.privateKey).toString('binary');
    assertCsrError(
      () => parseCertificateRequest(forge.pki.certificationRequestToPem(csr)),
      'bad-signature',
      /signed with SHA-1, which is no longer safe: sign it with SHA-256/,
    );
  });
  it('refuses an RSA key under 2048 bits, naming its size', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assertCsrError(
      () => parseCertificateRequest(buildCsr({ key: weak, cn: 'alice@example.org' })),
      'weak-key',
      'the request’s RSA key has 1024 bits; at least 2048 are required',
    );
  });
  it('refuses an EC key made by openssl, saying why', () => {
    const keyFile = path.join(dir, 'ec.key');
    const pem = execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyFile,
        '-subj',
        '/CN=alice@example.org',
        '-addext',
        'subjectAltName=URI:sip:alice@example.org',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    assert.match(pem, /BEGIN CERTIFICATE REQUEST/);
    assertCsrError(
      () => parseCertificateRequest(pem),
      'unsupported-key',
      /^the request carries an EC key \(prime256v1\): this CA issues certificates for RSA keys only, because node-forge, which builds them, cannot encode other keys; make an RSA key of 2048 bits or more$/,
    );
    // and an Ed25519 one
    const ed = execFileSync(
      'openssl',
      ['req', '-new', '-newkey', 'ed25519', '-nodes', '-keyout', keyFile, '-subj', '/CN=alice@example.org'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    assertCsrError(() => parseCertificateRequest(ed), 'unsupported-key', /an Ed25519 key/);
  });
  it('accepts a request openssl made with an RSA key', () => {
    const pem = execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        path.join(dir, 'rsa.key'),
        '-subj',
        '/CN=alice@example.org',
        '-addext',
        `subjectAltName=URI:sip:alice@example.org,URI:${INSTANCE},DNS:laptop.alice.example.org`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const csr = parseCertificateRequest(pem);
    checkRequestedIdentity(csr, alice);
  });
});

describe('checkRequestedIdentity', () => {
  const parse = (o: Parameters<typeof buildCsr>[0]) => parseCertificateRequest(buildCsr(o));
  it('accepts the device’s own names in any case, or none', () => {
    checkRequestedIdentity(parseCertificateRequest(aliceCsr()), alice);
    checkRequestedIdentity(parse({}), alice);
    checkRequestedIdentity(parse({ cn: INSTANCE.toUpperCase() }), alice);
    checkRequestedIdentity(
      parse({
        cn: 'Alice@Example.org',
        sans: [
          { type: 6, value: 'SIP:ALICE@EXAMPLE.ORG' },
          { type: 2, value: 'Laptop.Alice.Example.org' },
        ],
      }),
      alice,
    );
  });
  const wrong = (o: Parameters<typeof buildCsr>[0], message: string, subject = alice) =>
    assertCsrError(() => checkRequestedIdentity(parse(o), subject), 'wrong-identity', message);
  it('refuses another user', () => {
    wrong(
      { sans: [{ type: 6, value: 'sip:bob@example.org' }] },
      'the request names sip:bob@example.org but this device is sip:alice@example.org',
    );
    wrong(
      { cn: 'bob@example.org' },
      'the request names bob@example.org as its subject but this device is sip:alice@example.org',
    );
    wrong(
      {
        cn: 'alice@example.org',
        sans: [{ type: 6, value: 'urn:uuid:00000000-0000-4000-8000-000000000000' }],
      },
      'the request names urn:uuid:00000000-0000-4000-8000-000000000000 but this device is sip:alice@example.org',
    );
  });
  it('refuses another domain', () => {
    wrong(
      { sans: [{ type: 6, value: 'sip:alice@evil.example' }] },
      'the request names sip:alice@evil.example but this device is sip:alice@example.org',
    );
    wrong(
      { cn: 'alice@evil.example' },
      'the request names alice@evil.example as its subject but this device is sip:alice@example.org',
    );
  });
  it('refuses an extra DNS name, an IP address, an email address', () => {
    wrong(
      {
        sans: [
          { type: 6, value: 'sip:alice@example.org' },
          { type: 2, value: 'www.example.org' },
        ],
      },
      'the request names the DNS name www.example.org but this device is sip:alice@example.org',
    );
    wrong(
      { sans: [{ type: 7, ip: '10.0.0.1' }] },
      'the request names the IP address 10.0.0.1 but this device is sip:alice@example.org',
    );
    wrong(
      { sans: [{ type: 1, value: 'alice@example.org' }] },
      'the request names the email address alice@example.org but this device is sip:alice@example.org',
    );
    // a user whose name cannot be a DNS label has no DNS name at all
    wrong(
      { sans: [{ type: 2, value: 'laptop.al_ice.example.org' }] },
      'the request names the DNS name laptop.al_ice.example.org but this device is sip:al_ice@example.org',
      { ...alice, user: 'al_ice' },
    );
  });
  it('shows what a request names without control characters', () => {
    wrong(
      { sans: [{ type: 6, value: 'sip:bob@example.org\r\nX-Evil: 1' }] },
      'the request names sip:bob@example.org??X-Evil: 1 but this device is sip:alice@example.org',
    );
  });
});

describe('issueDeviceCertificate', () => {
  const now = new Date();
  let issued: ReturnType<typeof issueDeviceCertificate>;
  before(() => {
    // The request asks for a CA certificate and for bob: none of that is copied.
    const csr = parseCertificateRequest(
      buildCsr({
        cn: 'bob@example.org',
        sans: [{ type: 6, value: 'sip:bob@example.org' }],
        extensions: [{ name: 'basicConstraints', cA: true, critical: true }],
      }),
    );
    issued = issueDeviceCertificate({
      caKey,
      caCertPem: ca.certPem,
      csr,
      subject: alice,
      validityDays: 30,
      now,
    });
  });

  it('builds the certificate from the subject, with the request’s key only', () => {
    const x = new X509Certificate(issued.certPem);
    const caX = new X509Certificate(ca.certPem);
    assert.equal(x.subject, 'CN=alice@example.org\nO=Tsunagu');
    assert.equal(x.issuer, caX.subject);
    assert.equal(x.ca, false);
    assert.equal(
      x.subjectAltName,
      `URI:sip:alice@example.org, URI:${INSTANCE}, DNS:laptop.alice.example.org`,
    );
    assert.equal(x.checkHost('laptop.alice.example.org'), 'laptop.alice.example.org');
    assert.equal(x.checkHost('LAPTOP.alice.example.org'), 'laptop.alice.example.org', 'case-insensitive');
    assert.equal(x.checkHost('phone.alice.example.org'), undefined);
    assert.equal(x.checkHost('laptop.bob.example.org'), undefined);
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.ok(x.checkIssued(caX));
    assert.ok(x.verify(caX.publicKey));
    assert.ok(x.checkPrivateKey(rsa.privateKey), 'the request’s key');
    assert.equal(issued.serial.toUpperCase(), x.serialNumber);
    assert.match(issued.serial, /^[0-9a-f]{32}$/);
    assert.equal(issued.fingerprint, fingerprint(issued.certPem));
    assert.equal(issued.notBefore.getTime(), Math.floor((now.getTime() - 5 * 60_000) / 1000) * 1000);
    assert.equal(issued.notAfter.getTime(), Math.floor((now.getTime() + 30 * 86_400_000) / 1000) * 1000);
    assert.equal(Date.parse(x.validFrom), issued.notBefore.getTime());
    assert.equal(Date.parse(x.validTo), issued.notAfter.getTime());
  });
  it('has the chain leaf first, then the CA', () => {
    const blocks = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g);
    assert.equal(blocks?.length, 2);
    assert.equal(blocks[0], issued.certPem);
    assert.equal(
      new X509Certificate(blocks[1]!).fingerprint256,
      new X509Certificate(ca.certPem).fingerprint256,
    );
    assert.equal(issued.chainPem, blocks.join(''));
  });
  it('is accepted by openssl as a TLS client and server certificate, with the right extensions', () => {
    const file = path.join(dir, 'alice.pem');
    fs.writeFileSync(file, issued.certPem);
    for (const purpose of ['sslclient', 'sslserver']) {
      const r = openssl(['verify', '-CAfile', caFile, '-purpose', purpose, file]);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /: OK/);
    }
    const text = execFileSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /Subject Key Identifier/);
    const caText = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: ca.certPem,
      encoding: 'utf8',
    });
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    assert.ok(ski);
    assert.match(text, new RegExp(`Authority Key Identifier:\\s+(keyid:)?${ski}`));
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    // another CA does not vouch for it
    const other = createDeploymentCa({ domain: 'example.org', validityDays: 2 });
    const otherFile = path.join(dir, 'other-ca.pem');
    fs.writeFileSync(otherFile, other.certPem);
    assert.notEqual(openssl(['verify', '-CAfile', otherFile, file]).status, 0);
  });
  it('leaves out the DNS name when the user cannot have one', () => {
    const csr = parseCertificateRequest(buildCsr({}));
    const r = issueDeviceCertificate({
      caKey,
      caCertPem: ca.certPem,
      csr,
      subject: { ...alice, user: 'al_ice' },
      validityDays: 1,
    });
    assert.equal(
      new X509Certificate(r.certPem).subjectAltName,
      `URI:sip:al_ice@example.org, URI:${INSTANCE}`,
    );
  });
  it('never outlives the CA, and refuses an expired CA, a CA key that is not the CA’s, a bad subject', () => {
    const csr = parseCertificateRequest(buildCsr({}));
    const shortCa = createDeploymentCa({ domain: 'example.org', validityDays: 10 });
    const shortKey = createPrivateKey(shortCa.keyPem);
    const r = issueDeviceCertificate({
      caKey: shortKey,
      caCertPem: shortCa.certPem,
      csr,
      subject: alice,
      validityDays: 30,
    });
    assert.equal(new X509Certificate(r.certPem).validTo, new X509Certificate(shortCa.certPem).validTo);
    assert.throws(
      () =>
        issueDeviceCertificate({
          caKey: shortKey,
          caCertPem: shortCa.certPem,
          csr,
          subject: alice,
          validityDays: 30,
          now: new Date(Date.now() + 20 * 86_400_000),
        }),
      (e: unknown) => e instanceof CaError && /the issuing CA certificate expired on /.test(e.message),
    );
    assert.throws(
      () =>
        issueDeviceCertificate({
          caKey: shortKey,
          caCertPem: ca.certPem,
          csr,
          subject: alice,
          validityDays: 30,
        }),
      /the CA key does not belong to the CA certificate/,
    );
    assert.throws(
      () => issueDeviceCertificate({ caKey, caCertPem: ca.certPem, csr, subject: alice, validityDays: 0 }),
      /validityDays must be an integer from 1 to 36500/,
    );
    assert.throws(
      () =>
        issueDeviceCertificate({
          caKey,
          caCertPem: ca.certPem,
          csr,
          subject: { ...alice, domain: 'not a domain' },
          validityDays: 1,
        }),
      CaError,
    );
    assert.throws(
      () =>
        issueDeviceCertificate({
          caKey,
          caCertPem: ca.certPem,
          csr,
          subject: { ...alice, instance: 'not a urn' },
          validityDays: 1,
        }),
      /invalid device instance/,
    );
    // a leaf certificate cannot be a CA
    assert.throws(
      () => issueDeviceCertificate({ caKey, caCertPem: r.certPem, csr, subject: alice, validityDays: 1 }),
      /is not a CA certificate/,
    );
  });
  // (Speed is measured in bench/ca.ts, not asserted here.)
  it('gives every certificate its own serial (200 issuances)', () => {
    const csr = parseCertificateRequest(aliceCsr());
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) {
      serials.add(
        issueDeviceCertificate({ caKey, caCertPem: ca.certPem, csr, subject: alice, validityDays: 30 })
          .serial,
      );
    }
    assert.equal(serials.size, 200, 'every serial differs');
  });
});

describe('LocalAuthority', () => {
  it('parses, checks and issues; makes CRLs; refuses everything once closed', async () => {
    const authority = new LocalAuthority(caKey, ca.certPem);
    const issued = await authority.issue({ csr: aliceCsr(), subject: alice, validityDays: 30 });
    assert.ok(new X509Certificate(issued.certPem).checkIssued(new X509Certificate(ca.certPem)));
    await assert.rejects(
      authority.issue({
        csr: buildCsr({ sans: [{ type: 6, value: 'sip:bob@example.org' }] }),
        subject: alice,
        validityDays: 30,
      }),
      (e: unknown) => e instanceof CsrError && e.code === 'wrong-identity',
    );
    await assert.rejects(
      authority.issue({ csr: 'garbage!', subject: alice, validityDays: 30 }),
      (e: unknown) => e instanceof CsrError && e.code === 'malformed',
    );
    const crl = await authority.crl([{ serial: issued.serial, revokedAt: new Date() }], 1);
    assert.match(crl, /^-----BEGIN X509 CRL-----\n/);
    assert.doesNotMatch(JSON.stringify(authority), /PRIVATE KEY/);
    await authority.close();
    await assert.rejects(authority.issue({ csr: aliceCsr(), subject: alice, validityDays: 30 }), /closed/);
    await assert.rejects(authority.crl([], 2), /the certificate authority is closed/);
  });
  it('opens the files of a data folder, encrypted or not, and refuses a key that is not the CA’s', async () => {
    const keyFile = path.join(dir, 'auth-ca.key');
    const certFile = path.join(dir, 'auth-ca.pem');
    writeKeyAndCertificate(keyFile, certFile, ca, { passphrase: 'correct horse' });
    const authority = LocalAuthority.open({ caKey: keyFile, caCert: certFile }, 'correct horse');
    assert.equal(authority.caCertPem, ca.certPem);
    await authority.issue({ csr: aliceCsr(), subject: alice, validityDays: 1 });
    assert.throws(
      () => LocalAuthority.open({ caKey: keyFile, caCert: certFile }),
      /the CA key .*auth-ca\.key is encrypted: give its passphrase/,
    );
    const other = createDeploymentCa({ domain: 'example.org', validityDays: 2 });
    const otherKey = path.join(dir, 'other.key');
    writeKeyAndCertificate(otherKey, path.join(dir, 'other.pem'), other);
    assert.throws(
      () => LocalAuthority.open({ caKey: otherKey, caCert: certFile }),
      (e: unknown) =>
        e instanceof CaError &&
        e.message === `the CA key ${otherKey} does not belong to the CA certificate ${certFile}`,
    );
    assert.throws(
      () => LocalAuthority.open({ caKey: otherKey, caCert: path.join(dir, 'nope.pem') }),
      /nope\.pem is missing/,
    );
    assert.throws(() => new LocalAuthority(createPrivateKey(other.keyPem), ca.certPem), /does not belong/);
  });
});
