import { X509Certificate, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/**
 * X.509 helpers shared by the CA and the terminal: node-forge assembles the structures, Node's native
 * crypto signs them (`crypto.sign` over forge's to-be-signed DER: ≈0.5 ms where forge's JavaScript RSA
 * takes ≈18 ms). Private keys stay native KeyObjects and never enter forge.
 */

/** A failure of the CA, with a message meant for a person (never quoting key material). */
export class CaError extends Error {
  override readonly name = 'CaError';
}

/**
 * How far another machine's clock may run behind ours: certificates start this long before they are
 * made, and CRLs claim this much earlier, so that a peer slightly behind still accepts them.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

const DAY_MS = 86_400_000;
const MAX_VALIDITY_DAYS = 36_500;

export const SHA256_WITH_RSA_OID = forge.pki.oids['sha256WithRSAEncryption']!;

/** forge functions its type declarations leave out (node-forge 1.x `lib/x509.js`). */
interface ForgePkiInternals {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
}
const pkiInternals = forge.pki as unknown as ForgePkiInternals;

/** The DER inside a one-block PEM (a request, a CRL): its base64 body, decoded. */
export function derFromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** The DER of a forge ASN.1 object, as a Buffer. */
export function derOf(asn: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(asn).getBytes(), 'binary');
}

/** A random, positive, 128-bit serial number as lower-case hex (RFC 5280 §4.1.2.2: ≤ 20 octets, positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, and no leading zero octet to strip
  return b.toString('hex');
}

/**
 * The validity of a new certificate: from `now` minus {@link CLOCK_SKEW_MS} to `now` plus `days`,
 * never beyond `notAfterLimit` (the issuer's own expiry), in whole seconds as X.509 times are.
 */
export function validityWindow(
  now: Date,
  days: number,
  notAfterLimit?: Date,
): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
    throw new CaError(`validityDays must be an integer from 1 to ${MAX_VALIDITY_DAYS} (got ${days})`);
  }
  if (Number.isNaN(now.getTime())) throw new CaError('invalid date for the start of the validity');
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  let notAfter = new Date(now.getTime() + days * DAY_MS);
  if (notAfterLimit && notAfter > notAfterLimit) notAfter = new Date(notAfterLimit.getTime());
  notBefore.setUTCMilliseconds(0);
  notAfter.setUTCMilliseconds(0);
  if (notAfter <= notBefore) {
    throw new CaError(`the issuing CA certificate expired on ${notAfter.toISOString()}`);
  }
  return { notBefore, notAfter };
}

/** A native public key (or the public half of a private key) as a forge RSA public key. */
export function forgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'rsa') {
    throw new CaError(
      `expected an RSA key, got ${pub.asymmetricKeyType ?? 'a secret key'}: node-forge builds RSA certificates only`,
    );
  }
  const pem = pub.export({ type: 'spki', format: 'pem' }).toString();
  return forge.pki.publicKeyFromPem(pem) as forge.pki.rsa.PublicKey;
}

function assertRsaPrivate(key: KeyObject): void {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') {
    throw new CaError('signing needs an RSA private key');
  }
}

/**
 * Sets SHA-256 with RSA as the signature algorithm of a forge certificate or request, and signs the
 * to-be-signed part `toBeSigned` builds from it natively; returns that part, to be kept on the object.
 */
function signSha256Rsa<T extends forge.pki.Certificate | forge.pki.CertificateSigningRequest>(
  obj: T,
  key: KeyObject,
  toBeSigned: (obj: T) => forge.asn1.Asn1,
): forge.asn1.Asn1 {
  assertRsaPrivate(key);
  obj.siginfo.algorithmOid = SHA256_WITH_RSA_OID;
  obj.signatureOid = SHA256_WITH_RSA_OID;
  const tbs = toBeSigned(obj);
  obj.signature = sign('sha256', derOf(tbs), key).toString('binary');
  return tbs;
}

/** Signs a forge certificate with SHA-256 and RSA natively; returns its PEM (LF line ends). */
export function signCertificate(cert: forge.pki.Certificate, key: KeyObject): string {
  cert.tbsCertificate = signSha256Rsa(cert, key, pkiInternals.getTBSCertificate);
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** Signs a forge PKCS#10 request with SHA-256 and RSA natively; returns its PEM (LF line ends). */
export function signCertificationRequest(csr: forge.pki.CertificateSigningRequest, key: KeyObject): string {
  csr.certificationRequestInfo = signSha256Rsa(csr, key, pkiInternals.getCertificationRequestInfo);
  return forge.pki.certificationRequestToPem(csr).replace(/\r\n/g, '\n');
}

/** A subjectAltName entry as forge takes it: type 2 DNS name, 6 URI (`value`), 7 IP address (`ip`). */
export type AltName = { type: 2 | 6; value: string } | { type: 7; ip: string };

/**
 * The extensions of a TLS certificate that is not a CA (server, device, peer-to-peer): basicConstraints
 * CA:false and keyUsage digitalSignature + keyEncipherment (both critical), extKeyUsage serverAuth and,
 * unless `clientAuth` is false, clientAuth; `altNames`; subjectKeyIdentifier; and, for a certificate a
 * CA issues, authorityKeyIdentifier.
 */
export function leafExtensions(
  altNames: readonly AltName[],
  o: { authorityKeyIdentifier?: string; clientAuth?: boolean } = {},
): Record<string, unknown>[] {
  return [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, ...(o.clientAuth === false ? {} : { clientAuth: true }) },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    ...(o.authorityKeyIdentifier !== undefined
      ? [{ name: 'authorityKeyIdentifier', keyIdentifier: o.authorityKeyIdentifier }]
      : []),
  ];
}

/** What issuing under a CA certificate needs of it, parsed once (see {@link issuerOf}). */
export interface Issuer {
  x509: X509Certificate;
  /** Its subject, for the issuer field of what it signs. */
  subject: forge.pki.CertificateField[];
  /** Its subjectKeyIdentifier (else the one forge derives from its key), raw bytes as a binary string. */
  keyIdentifier: string;
  notAfter: Date;
  /** Its PEM as Node writes it (one certificate, LF line ends). */
  pem: string;
}

/** Parsed CA certificates by PEM: parsing with forge costs more than signing, so do it once. */
const issuers = new Map<string, Issuer>();

/** The CA certificate `caCertPem`, parsed (and cached); CaError when it cannot be read. */
export function issuerOf(caCertPem: string): Issuer {
  const cached = issuers.get(caCertPem);
  if (cached) return cached;
  let x509: X509Certificate;
  let cert: forge.pki.Certificate;
  try {
    x509 = new X509Certificate(caCertPem);
    cert = forge.pki.certificateFromPem(caCertPem);
  } catch (e) {
    throw new CaError(`cannot read the CA certificate: ${(e as Error).message}`);
  }
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  const issuer: Issuer = {
    x509,
    subject: cert.subject.attributes,
    keyIdentifier: ski?.subjectKeyIdentifier
      ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
      : cert.generateSubjectKeyIdentifier().getBytes(),
    notAfter: cert.validity.notAfter,
    pem: x509.toString(),
  };
  if (issuers.size >= 8) issuers.delete(issuers.keys().next().value!);
  issuers.set(caCertPem, issuer);
  return issuer;
}

// ---- a minimal DER reader: the exact bytes a signature covers, without re-encoding ----

/**
 * The children of the DER element that makes up all of `der` (a SEQUENCE, SET or other constructed
 * element), each as the exact bytes of its encoding. Throws on anything that is not definite-length
 * DER, or on bytes left over.
 */
export function derChildren(der: Buffer): Buffer[] {
  const outer = readTlv(der, 0);
  if (outer.end !== der.length) throw new Error('bytes after the DER element');
  if ((der[0]! & 0x20) === 0) throw new Error('not a constructed DER element');
  const children: Buffer[] = [];
  let offset = outer.contentStart;
  while (offset < outer.end) {
    const child = readTlv(der, offset, outer.end);
    children.push(der.subarray(offset, child.end));
    offset = child.end;
  }
  return children;
}

/** The content octets of a DER element that makes up all of `der`. */
export function derContent(der: Buffer): Buffer {
  const tlv = readTlv(der, 0);
  if (tlv.end !== der.length) throw new Error('bytes after the DER element');
  return der.subarray(tlv.contentStart, tlv.end);
}

function readTlv(der: Buffer, offset: number, limit = der.length): { contentStart: number; end: number } {
  if (offset + 2 > limit) throw new Error('truncated DER');
  if ((der[offset]! & 0x1f) === 0x1f) throw new Error('unsupported DER tag');
  const first = der[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    if (offset + 2 + n > limit) throw new Error('truncated DER');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[offset + 2 + i]!;
    contentStart = offset + 2 + n;
  }
  const end = contentStart + length;
  if (end > limit) throw new Error('truncated DER');
  return { contentStart, end };
}

/** The exact DER of a certificate's subject Name (so that an issuer field matches it byte for byte). */
export function certificateSubjectDer(certDer: Buffer): Buffer {
  const [tbs] = derChildren(certDer);
  if (!tbs) throw new Error('not a certificate');
  const fields = derChildren(tbs);
  // [0] version is optional (absent for v1); then serial, signature, issuer, validity, subject.
  const skip = fields[0]?.[0] === 0xa0 ? 1 : 0;
  const subject = fields[skip + 4];
  if (!subject) throw new Error('not a certificate');
  return subject;
}

/** The URI subject alternative names of a certificate. */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  return [...san.matchAll(/(?:^|, )URI:([^,]+)/g)].map((m) => m[1]!);
}

/** The DNS names a certificate can be reached and verified by (wildcards left out: no URL names them). */
export function dnsNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  return [...san.matchAll(/(?:^|, )DNS:([A-Za-z0-9.-]+)(?=,|$)/g)].map((m) => m[1]!.toLowerCase());
}
