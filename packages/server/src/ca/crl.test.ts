import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import type { KeyAndCertificate } from './ca.js';
import { CaError, createDeploymentCa } from './ca.js';
import { createCrl } from './crl.js';
import { issueDeviceCertificate, parseCertificateRequest, type IssuedCertificate } from './device.js';
import { forgePublicKey, signCertificationRequest } from './x509.js';

let dir: string;
let ca: KeyAndCertificate;
let caKey: KeyObject;
let caFile: string;
let revoked: IssuedCertificate;
let kept: IssuedCertificate;
let revokedFile: string;
let keptFile: string;

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function crlText(file: string): string {
  return execFileSync('openssl', ['crl', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-crl-'));
  ca = createDeploymentCa({ domain: 'example.org' });
  caKey = createPrivateKey(ca.keyPem);
  caFile = write('ca.pem', ca.certPem);
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const req = forge.pki.createCertificationRequest();
  req.publicKey = forgePublicKey(key.publicKey);
  const csr = parseCertificateRequest(signCertificationRequest(req, key.privateKey));
  const issue = (deviceId: string) =>
    issueDeviceCertificate({
      caKey,
      caCertPem: ca.certPem,
      csr,
      subject: { user: 'alice', deviceId, instance: `urn:uuid:${deviceId}`, domain: 'example.org' },
      validityDays: 30,
    });
  revoked = issue('laptop');
  kept = issue('phone');
  revokedFile = write('revoked.pem', revoked.certPem);
  keptFile = write('kept.pem', kept.certPem);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('createCrl', () => {
  it('makes a v2 CRL that openssl verifies and uses to refuse a revoked certificate', () => {
    const now = new Date('2030-06-01T12:00:00.750Z');
    const crl = createCrl({
      caKey,
      caCertPem: ca.certPem,
      revoked: [{ serial: revoked.serial, revokedAt: new Date('2030-06-01T11:00:00Z') }],
      crlNumber: 7,
      now: new Date(),
    });
    assert.match(crl, /^-----BEGIN X509 CRL-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END X509 CRL-----\n$/);
    const file = write('one.crl', crl);
    const check = openssl(['crl', '-in', file, '-noout', '-verify', '-CAfile', caFile]);
    assert.equal(check.status, 0, check.out);
    assert.match(check.out, /verify OK/);
    const r = openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', file, revokedFile]);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /certificate revoked/);
    const ok = openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', file, keptFile]);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /kept\.pem: OK/);

    // the fields, with a fixed clock
    const fixed = write(
      'fixed.crl',
      createCrl({
        caKey,
        caCertPem: ca.certPem,
        revoked: [{ serial: revoked.serial, revokedAt: new Date('2030-06-01T11:00:00Z') }],
        crlNumber: 7,
        now,
      }),
    );
    const text = crlText(fixed);
    assert.match(text, /Version 2 \(0x1\)/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Issuer: CN = Tsunagu CA example\.org, O = Tsunagu/);
    assert.match(text, /Last Update: Jun {2}1 11:55:00 2030 GMT/, 'now minus the clock skew, whole seconds');
    assert.match(text, /Next Update: Jun {2}2 12:00:00 2030 GMT/, 'a day later by default');
    assert.match(text, /X509v3 CRL Number: \n\s+7\n/);
    assert.match(
      text,
      new RegExp(
        `Serial Number: ${revoked.serial.toUpperCase()}\\n\\s+Revocation Date: Jun {2}1 11:00:00 2030 GMT`,
      ),
    );
    const caText = execFileSync('openssl', ['x509', '-noout', '-text'], {
      input: ca.certPem,
      encoding: 'utf8',
    });
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    assert.ok(ski);
    assert.match(text, new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${ski}`));
    const asn = execFileSync('openssl', ['asn1parse', '-in', fixed], { encoding: 'utf8' });
    assert.match(asn, /UTCTIME +:300601115500Z/);
    assert.doesNotMatch(asn, /GENERALIZEDTIME/);
  });
  it('makes an empty CRL without the revokedCertificates field, which verifies too', () => {
    const file = write('empty.crl', createCrl({ caKey, caCertPem: ca.certPem, revoked: [], crlNumber: 1 }));
    const check = openssl(['crl', '-in', file, '-noout', '-verify', '-CAfile', caFile]);
    assert.equal(check.status, 0, check.out);
    assert.match(crlText(file), /No Revoked Certificates\./);
    const ok = openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', file, revokedFile]);
    assert.equal(ok.status, 0, ok.out);
    // no empty SEQUENCE where the list would be
    const asn = execFileSync('openssl', ['asn1parse', '-in', file], { encoding: 'utf8' });
    assert.match(
      asn,
      /d=2 .*UTCTIME .*\n.*d=2 .*UTCTIME .*\n.*d=2 .*cont \[ 0 \]/,
      'the extensions follow nextUpdate directly',
    );
  });
  it('uses GeneralizedTime from 2050 on, and honours nextUpdateHours', () => {
    const file = write(
      'late.crl',
      createCrl({
        caKey,
        caCertPem: ca.certPem,
        revoked: [
          { serial: revoked.serial, revokedAt: new Date('2049-12-31T23:59:59Z') },
          { serial: kept.serial, revokedAt: new Date('2050-01-01T00:00:00Z') },
        ],
        crlNumber: 2 ** 40,
        now: new Date('2049-12-31T23:00:00Z'),
        nextUpdateHours: 2,
      }),
    );
    const asn = execFileSync('openssl', ['asn1parse', '-in', file], { encoding: 'utf8' });
    assert.match(asn, /UTCTIME +:491231225500Z/, 'thisUpdate');
    assert.match(asn, /GENERALIZEDTIME +:20500101010000Z/, 'nextUpdate');
    assert.match(asn, /UTCTIME +:491231235959Z/);
    assert.match(asn, /GENERALIZEDTIME +:20500101000000Z/);
    const check = openssl(['crl', '-in', file, '-noout', '-verify', '-CAfile', caFile]);
    assert.equal(check.status, 0, check.out);
    assert.match(crlText(file), /CRL Number: \n\s+1099511627776\n/);
  });
  it('encodes serials as positive integers, whatever their case or separators, each once', () => {
    const file = write(
      'serials.crl',
      createCrl({
        caKey,
        caCertPem: ca.certPem,
        revoked: [
          { serial: 'ff01', revokedAt: new Date() },
          { serial: 'FF:01', revokedAt: new Date() },
          { serial: '0001', revokedAt: new Date() },
          { serial: revoked.serial.toUpperCase(), revokedAt: new Date() },
        ],
        crlNumber: 3,
      }),
    );
    const text = crlText(file);
    assert.equal(text.match(/Serial Number:/g)?.length, 3);
    assert.match(text, /Serial Number: FF01\n/);
    assert.match(text, /Serial Number: 01\n/);
    const r = openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', file, revokedFile]);
    assert.match(r.out, /certificate revoked/);
  });
  it('refuses bad input with a CaError', () => {
    const base = { caKey, caCertPem: ca.certPem, revoked: [], crlNumber: 1 };
    assert.throws(() => createCrl({ ...base, crlNumber: -1 }), /crlNumber must be a non-negative integer/);
    assert.throws(() => createCrl({ ...base, crlNumber: 1.5 }), CaError);
    assert.throws(() => createCrl({ ...base, nextUpdateHours: 0 }), /nextUpdateHours must be more than 0/);
    assert.throws(
      () => createCrl({ ...base, revoked: [{ serial: 'xyz', revokedAt: new Date() }] }),
      /invalid serial number 'xyz': expected up to 40 hex digits/,
    );
    assert.throws(
      () => createCrl({ ...base, revoked: [{ serial: 'a'.repeat(41), revokedAt: new Date() }] }),
      /invalid serial number/,
    );
    const other = createDeploymentCa({ domain: 'example.org', validityDays: 2 });
    assert.throws(
      () => createCrl({ ...base, caKey: createPrivateKey(other.keyPem) }),
      /the CA key does not belong to the CA certificate/,
    );
    assert.throws(() => createCrl({ ...base, caCertPem: 'nope' }), /cannot read the CA certificate/);
  });
});
