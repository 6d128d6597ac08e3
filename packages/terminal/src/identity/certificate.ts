import { X509Certificate, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/**
 * X.509 structures for the device's key, built with node-forge and signed with Node's native crypto:
 * forge assembles the to-be-signed DER, `crypto.sign` signs it (≈0.5 ms where forge's JavaScript RSA
 * takes ≈18 ms), so the private key stays a native KeyObject and never enters forge.
 */

const DAY_MS = 86_400_000;
/** Peers whose clocks run a little behind still accept a certificate made just now. */
const BACKDATE_MS = 5 * 60_000;
const SELF_SIGNED_VALIDITY_DAYS = 365;

/** forge functions its type declarations leave out (node-forge 1.x `lib/x509.js`). */
interface ForgePkiInternals {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
}
const pkiInternals = forge.pki as unknown as ForgePkiInternals;
const SHA256_WITH_RSA = forge.pki.oids['sha256WithRSAEncryption']!;

function derOf(asn: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(asn).getBytes(), 'binary');
}

/** A random, positive, 128-bit serial number as hex (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

/** forge's typings give `valueTagClass` the type of a tag class; it takes a universal type (UTF8String). */
function fields(
  list: { name: string; value: string; valueTagClass?: forge.asn1.Type }[],
): forge.pki.CertificateField[] {
  return list as unknown as forge.pki.CertificateField[];
}

function forgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  const pem = key.export({ type: 'spki', format: 'pem' }).toString();
  return forge.pki.publicKeyFromPem(pem) as forge.pki.rsa.PublicKey;
}

export interface SelfSignedOptions {
  /** `urn:uuid:…`, always named as a URI SAN. */
  instanceId: string;
  /** The user's AOR (`sip:alice@example.org`) when known: the CN and a URI SAN. */
  aor?: string;
  now: Date;
  validityDays?: number;
}

/**
 * A self-signed certificate for the peer-to-peer TLS channel: CN = the AOR (else "Tsunagu device"),
 * URI SANs = the AOR and the device instance id, extKeyUsage serverAuth + clientAuth (each end is TLS
 * server or client depending on `a=setup`), keyUsage digitalSignature + keyEncipherment, CA:false,
 * SHA-256 with RSA, valid `validityDays` (default 365) from five minutes ago.
 */
export function createSelfSignedCertificate(
  privateKey: KeyObject,
  publicKey: KeyObject,
  options: SelfSignedOptions,
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(publicKey);
  cert.serialNumber = randomSerial();
  const notBefore = new Date(options.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(
    options.now.getTime() + (options.validityDays ?? SELF_SIGNED_VALIDITY_DAYS) * DAY_MS,
  );
  notBefore.setUTCMilliseconds(0);
  notAfter.setUTCMilliseconds(0);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const cn = options.aor ? options.aor.replace(/^sips?:/, '') : 'Tsunagu device';
  const subject = [
    { name: 'commonName', value: cn.slice(0, 64), valueTagClass: forge.asn1.Type.UTF8 },
    { name: 'organizationName', value: 'Tsunagu' },
  ];
  cert.setSubject(fields(subject));
  cert.setIssuer(fields(subject));
  const altNames: { type: number; value: string }[] = [];
  if (options.aor) altNames.push({ type: 6, value: options.aor });
  altNames.push({ type: 6, value: options.instanceId });
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.siginfo.algorithmOid = SHA256_WITH_RSA;
  cert.signatureOid = SHA256_WITH_RSA;
  const tbs = pkiInternals.getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  cert.signature = sign('sha256', derOf(tbs), privateKey).toString('binary');
  const pem = forge.pki.certificateToPem(cert);
  // Checked by the other implementation before it is used anywhere.
  if (!new X509Certificate(pem).verify(publicKey)) throw new Error('self-signed certificate does not verify');
  return pem;
}

/**
 * A PKCS#10 certificate request for the CA (DESIGN.md "Certificate authority": PUBLISH with a PKCS#10
 * body): subject CN = the AOR without scheme, a SAN extension request naming the AOR and the device
 * instance id, SHA-256 with RSA.
 */
export function createCertificateRequest(
  privateKey: KeyObject,
  publicKey: KeyObject,
  options: { aor: string; instanceId: string },
): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(publicKey);
  csr.setSubject(
    fields([
      {
        name: 'commonName',
        value: options.aor.replace(/^sips?:/, '').slice(0, 64),
        valueTagClass: forge.asn1.Type.UTF8,
      },
    ]),
  );
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 6, value: options.aor },
            { type: 6, value: options.instanceId },
          ],
        },
      ],
    },
  ]);
  csr.siginfo.algorithmOid = SHA256_WITH_RSA;
  csr.signatureOid = SHA256_WITH_RSA;
  const cri = pkiInternals.getCertificationRequestInfo(csr);
  csr.certificationRequestInfo = cri;
  csr.signature = sign('sha256', derOf(cri), privateKey).toString('binary');
  const pem = forge.pki.certificationRequestToPem(csr);
  if (!forge.pki.certificationRequestFromPem(pem).verify())
    throw new Error('certificate request does not verify');
  return pem;
}

/** Whether a certificate is self-signed (issuer = subject and its own key verifies it). */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.issuer === cert.subject && cert.verify(cert.publicKey);
}

/** The URI subject alternative names of a certificate. */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  return [...san.matchAll(/(?:^|, )URI:([^,]+)/g)].map((m) => m[1]!);
}
