import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalAuthority, createDeploymentCa, type IssuedCertificate } from '@tsunagu/server/ca';
import { caIssuedPeerCheck } from '../channel/peer-check.js';
import { openProfile, type Profile } from './index.js';

/** Clocks differ between machines: a few minutes either way must not break issuance or channels. */

const AOR = 'sip:alice@example.test';
const MINUTE = 60_000;
let dir: string;
let profile: Profile;
let authority: LocalAuthority;
let issued: IssuedCertificate;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-skew-'));
  profile = await openProfile(join(dir, 'alice'), { create: true });
  const ca = createDeploymentCa({ domain: 'example.test' });
  authority = new LocalAuthority(createPrivateKey(ca.keyPem), ca.certPem);
  issued = await authority.issue({
    csr: profile.identity.createCertificateRequest(AOR),
    subject: { user: 'alice', deviceId: 'laptop', instance: profile.data.instanceId, domain: 'example.test' },
    validityDays: 30,
  });
});
after(async () => {
  await authority.close();
  await rm(dir, { recursive: true, force: true });
});

test('a terminal whose clock is a few minutes behind the CA still installs its new certificate', async () => {
  const notBefore = issued.notBefore.getTime();
  // The CA backdates notBefore by 5 minutes; a clock 3 minutes behind even that is tolerated.
  await profile.identity.installChain(
    issued.chainPem,
    authority.caCertPem,
    AOR,
    new Date(notBefore - 3 * MINUTE),
  );
  assert.equal(profile.identity.fingerprint, new X509Certificate(issued.certPem).fingerprint256);
  await assert.rejects(
    profile.identity.installChain(
      issued.chainPem,
      authority.caCertPem,
      AOR,
      new Date(notBefore - 10 * MINUTE),
    ),
    /not valid now .*check this computer's clock/,
  );
});

test("a peer's check tolerates a few minutes of skew at both ends of the validity, not more", () => {
  const cert = new X509Certificate(issued.certPem);
  const at = (t: number) =>
    caIssuedPeerCheck({
      caPem: authority.caCertPem,
      peerAor: AOR,
      requireCaIssued: true,
      now: () => new Date(t),
    })(cert);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  assert.equal(at(from - 4 * MINUTE), undefined);
  assert.equal(at(to + 4 * MINUTE), undefined);
  assert.equal(at(from - 6 * MINUTE), 'the certificate has expired or is not yet valid');
  assert.equal(at(to + 6 * MINUTE), 'the certificate has expired or is not yet valid');
});

test("a peer's check refuses a revoked certificate, and one naming someone else", () => {
  const cert = new X509Certificate(issued.certPem);
  const revoked = caIssuedPeerCheck({
    caPem: authority.caCertPem,
    peerAor: AOR,
    requireCaIssued: true,
    isRevoked: (f) => f === cert.fingerprint256,
  });
  assert.equal(revoked(cert), 'the certificate has been revoked');
  const other = caIssuedPeerCheck({ caPem: authority.caCertPem, peerAor: 'sip:mallory@example.test' });
  assert.equal(other(cert), 'the certificate does not name sip:mallory@example.test');
});
