import { X509Certificate, createPublicKey, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { isHostname } from '../config/address.js';
import {
  CaError,
  derChildren,
  derContent,
  issuerOf,
  leafExtensions,
  randomSerial,
  signCertificate,
  validityWindow,
  type AltName,
} from './x509.js';

/**
 * Device certificates (DESIGN.md "Certificate authority"): a terminal PUBLISHes a PKCS#10 request, the
 * CA checks it and returns a certificate for the identity the server authenticated — never for what
 * the request asks. Only the request's public key (RSA, 2048 bits or more) goes into the certificate.
 */

/** The largest request body accepted, in bytes (a 4096-bit RSA request in PEM is about 1.7 KiB). */
export const MAX_CSR_BYTES = 8192;

/** The largest RSA modulus accepted: the largest OpenSSL verifies (OPENSSL_RSA_MAX_MODULUS_BITS). */
const MAX_RSA_BITS = 16384;
const MIN_RSA_BITS = 2048;

export type CsrErrorCode =
  'too-large' | 'malformed' | 'bad-signature' | 'weak-key' | 'unsupported-key' | 'wrong-identity';

/** A certificate request refused; the message is for a person and never quotes key material. */
export class CsrError extends Error {
  override readonly name = 'CsrError';
  constructor(
    readonly code: CsrErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Who a certificate is for, as the server knows it (from the authenticated connection and the store). */
export interface DeviceSubject {
  /** The user name (`alice`). */
  user: string;
  /** The device id (`laptop`, `d-k3v9q2xa`): letters, digits and hyphens, never a dot. */
  deviceId: string;
  /** The device's `+sip.instance`, `urn:uuid:…`. */
  instance: string;
  /** The SIP domain (`example.org`). */
  domain: string;
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The names a device certificate carries: the AOR `sip:user@domain`, the instance URN, and a DNS name
 * `deviceId.user.domain` for stock TLS tools (DESIGN.md "Outside TLS hosts"), when it is one: every
 * label letters, digits and hyphens (no leading or trailing hyphen, at most 63) and the whole at most
 * 253. A user name with dots gives more labels (`d.a.b.example.org` for `a.b`); one with `_` gives
 * none.
 *
 * Within a domain the DNS mapping is injective: device ids never contain dots (checked here too), so
 * the first label is the device id, the domain is the known suffix, and the user is what lies between.
 */
export function deviceNames(s: DeviceSubject): { aor: string; instance: string; dns: string | undefined } {
  const aor = `sip:${s.user}@${s.domain}`;
  let dns: string | undefined;
  if (!s.deviceId.includes('.')) {
    const name = `${s.deviceId}.${s.user}.${s.domain}`.toLowerCase();
    if (name.length <= 253 && name.split('.').every((l) => LDH_LABEL.test(l))) dns = name;
  }
  return { aor, instance: s.instance, dns };
}

// ---- parsing ----

const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  dsa: '1.2.840.10040.4.1',
  sha1WithRsa: '1.2.840.113549.1.1.5',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
} as const;

const SIGNATURE_HASHES: Record<string, string> = {
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};

/** The other keys a request may carry, as a refusal names them. */
const OTHER_KEYS: Record<string, string> = {
  [OID.rsassaPss]: 'an RSA-PSS key',
  [OID.ed25519]: 'an Ed25519 key',
  [OID.ed448]: 'an Ed448 key',
  [OID.dsa]: 'a DSA key',
};

const FORGE_ONLY_RSA =
  'this CA issues certificates for RSA keys only, because node-forge, which builds them, cannot encode other keys';

/** An OID from the DER of an AlgorithmIdentifier (SEQUENCE { OID, parameters }). */
function algorithmOid(algorithmIdentifierDer: Buffer): string {
  const [oid] = derChildren(algorithmIdentifierDer);
  if (!oid || oid[0] !== 0x06) throw new Error('not an AlgorithmIdentifier');
  return forge.asn1.derToOid(derContent(oid).toString('binary'));
}

function decodeBody(body: string | Buffer): Buffer {
  // Binary DER (RFC 5967 application/pkcs10): a SEQUENCE tag, which is not a base64 or PEM character.
  if (Buffer.isBuffer(body) && body[0] === 0x30) return body;
  const text = Buffer.isBuffer(body) ? body.toString('latin1') : body;
  if (text.includes('-----BEGIN')) {
    const m =
      /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]*)-----END \1CERTIFICATE REQUEST-----/.exec(
        text,
      );
    if (!m) {
      throw new CsrError(
        'malformed',
        'the body is PEM but holds no CERTIFICATE REQUEST block (expected "-----BEGIN CERTIFICATE REQUEST-----")',
      );
    }
    return strictBase64(m[2]!, 'the PEM CERTIFICATE REQUEST block');
  }
  return strictBase64(text, 'the body');
}

function strictBase64(text: string, what: string): Buffer {
  const b64 = text.replace(/\s+/g, '');
  if (b64 === '') throw new CsrError('malformed', `${what} is empty: expected a PKCS#10 certificate request`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1) {
    throw new CsrError(
      'malformed',
      `${what} is not a certificate request: expected base64 of a PKCS#10 DER request, or PEM`,
    );
  }
  return Buffer.from(b64, 'base64');
}

/**
 * Parses a PKCS#10 request body: the base64 of the DER (RFC 7030 style, whitespace allowed), a PEM
 * `CERTIFICATE REQUEST`, or (as a Buffer) the DER itself. Checks, in order and each with its own
 * CsrError: size (at most {@link MAX_CSR_BYTES}), structure, key type (RSA only), key size (2048 bits
 * or more), and the signature (verified natively over the exact CertificationRequestInfo bytes, with
 * SHA-256, -384 or -512; proof that the requester holds the private key).
 */
export function parseCertificateRequest(body: string | Buffer): forge.pki.CertificateSigningRequest {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (size > MAX_CSR_BYTES) {
    throw new CsrError(
      'too-large',
      `the certificate request is ${size} bytes; at most ${MAX_CSR_BYTES} are accepted`,
    );
  }
  const der = decodeBody(body);

  let cri: Buffer, signatureAlgorithm: Buffer, signatureBits: Buffer, spki: Buffer;
  try {
    const top = derChildren(der);
    if (top.length !== 3 || der[0] !== 0x30) throw new Error('not a CertificationRequest');
    [cri, signatureAlgorithm, signatureBits] = top as [Buffer, Buffer, Buffer];
    const info = derChildren(cri);
    if (info.length < 3 || cri[0] !== 0x30 || signatureBits[0] !== 0x03) throw new Error('not a request');
    if (!info[0]!.equals(Buffer.from([0x02, 0x01, 0x00]))) throw new Error('not a version 1 request');
    spki = info[2]!;
  } catch {
    throw new CsrError('malformed', 'the body is not a PKCS#10 certificate request (cannot read its DER)');
  }

  let publicKey: KeyObject;
  try {
    const [keyAlgorithm] = derChildren(spki);
    const keyOid = algorithmOid(keyAlgorithm!);
    if (keyOid === OID.ecPublicKey) {
      let curve = '';
      try {
        const ec = createPublicKey({ key: spki, format: 'der', type: 'spki' });
        curve = ec.asymmetricKeyDetails?.namedCurve ? ` (${ec.asymmetricKeyDetails.namedCurve})` : '';
      } catch {
        // the curve is only for the message
      }
      throw new CsrError(
        'unsupported-key',
        `the request carries an EC key${curve}: ${FORGE_ONLY_RSA}; make an RSA key of ${MIN_RSA_BITS} bits or more`,
      );
    }
    if (keyOid !== OID.rsaEncryption) {
      const kind = OTHER_KEYS[keyOid] ?? `a key of an unknown type (${keyOid})`;
      throw new CsrError(
        'unsupported-key',
        `the request carries ${kind}: ${FORGE_ONLY_RSA}; make an RSA key of ${MIN_RSA_BITS} bits or more`,
      );
    }
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    if (e instanceof CsrError) throw e;
    throw new CsrError('malformed', 'the certificate request’s public key cannot be read');
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new CsrError(
      'weak-key',
      `the request’s RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`,
    );
  }
  if (bits > MAX_RSA_BITS) {
    throw new CsrError(
      'unsupported-key',
      `the request’s RSA key has ${bits} bits; at most ${MAX_RSA_BITS} are accepted`,
    );
  }

  let sigOid: string;
  let signature: Buffer;
  try {
    sigOid = algorithmOid(signatureAlgorithm);
    const bitString = derContent(signatureBits);
    if (bitString[0] !== 0) throw new Error('a signature has no unused bits');
    signature = bitString.subarray(1);
  } catch {
    throw new CsrError('malformed', 'the certificate request’s signature cannot be read');
  }
  const hash = SIGNATURE_HASHES[sigOid];
  if (hash === undefined) {
    throw new CsrError(
      'bad-signature',
      sigOid === OID.sha1WithRsa
        ? 'the request is signed with SHA-1, which is no longer safe: sign it with SHA-256 (sha256WithRSAEncryption)'
        : `the request is signed with an algorithm this CA does not accept (${sigOid}): use sha256WithRSAEncryption`,
    );
  }
  if (!verify(hash, cri, publicKey, signature)) {
    throw new CsrError(
      'bad-signature',
      'the certificate request’s signature does not verify: it was altered, or not signed by the key it carries',
    );
  }

  try {
    // No hash for forge's own verify(): the signature was checked natively above.
    return forge.pki.certificationRequestFromAsn1(forge.asn1.fromDer(der.toString('binary')), false);
  } catch {
    throw new CsrError('malformed', 'the certificate request’s subject or attributes cannot be read');
  }
}

// ---- identity ----

interface ForgeAltName {
  type: number;
  value: unknown;
  ip?: string;
}
interface ForgeExtension {
  id?: string;
  name?: string;
  altNames?: ForgeAltName[];
}

/** A value from a request, safe to put in a one-line message: printable ASCII, at most 100 characters. */
function shown(value: string): string {
  const s = value.replace(/[^\x20-\x7e]/g, '?');
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

function describeAltName(n: ForgeAltName): string {
  const text = typeof n.value === 'string' ? shown(n.value) : '';
  switch (n.type) {
    case 1:
      return `the email address ${text}`;
    case 2:
      return `the DNS name ${text}`;
    case 6:
      return text;
    case 7:
      return `the IP address ${n.ip ?? '?'}`;
    default:
      return `a subject alternative name of type ${n.type}`;
  }
}

/**
 * Checks that a request asks only for this device's own identity (CsrError 'wrong-identity'
 * otherwise): its subject CN, if any, is the AOR without scheme or the instance; every subject
 * alternative name it requests is the AOR (URI), the instance (URI) or the device's DNS name.
 * Comparisons ignore case. The certificate is built from `subject` anyway; this refuses a request that
 * shows a terminal confused about who it is, or someone trying to be someone else.
 */
export function checkRequestedIdentity(
  csr: forge.pki.CertificateSigningRequest,
  subject: DeviceSubject,
): void {
  const names = deviceNames(subject);
  const refuse = (what: string): never => {
    throw new CsrError('wrong-identity', `the request names ${what} but this device is ${names.aor}`);
  };
  const aor = names.aor.toLowerCase();
  const instance = names.instance.toLowerCase();
  // The alternative names first: they are what a relying party checks, and name the scheme.
  for (const attr of csr.attributes) {
    if (attr.name !== 'extensionRequest') continue;
    for (const ext of (attr.extensions ?? []) as ForgeExtension[]) {
      if (ext.id !== OID.subjectAltName) continue;
      for (const n of ext.altNames ?? []) {
        const value = typeof n.value === 'string' ? n.value.toLowerCase() : undefined;
        const ok =
          (n.type === 6 && (value === aor || value === instance)) ||
          (n.type === 2 && names.dns !== undefined && value === names.dns);
        if (!ok) refuse(describeAltName(n));
      }
    }
  }
  const cnAllowed = [aor.slice('sip:'.length), instance];
  for (const attr of csr.subject.attributes) {
    if (attr.type !== OID.commonName) continue;
    const value = typeof attr.value === 'string' ? attr.value : '';
    if (!cnAllowed.includes(value.toLowerCase())) {
      refuse(`${value === '' ? 'an empty or unreadable name' : shown(value)} as its subject`);
    }
  }
}

// ---- issuing ----

export interface IssuedCertificate {
  /** The device certificate, PEM. */
  certPem: string;
  /** The certificate followed by the CA certificate, PEM (RFC 8555 `application/pem-certificate-chain`). */
  chainPem: string;
  /** The serial number, lower-case hex (the form `createCrl` takes). */
  serial: string;
  /** `sha256:AB:CD:…`, as `fingerprint()`. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssueDeviceCertificateOptions {
  caKey: KeyObject;
  caCertPem: string;
  /** A request from {@link parseCertificateRequest}: only its public key is used. */
  csr: forge.pki.CertificateSigningRequest;
  subject: DeviceSubject;
  /** 1 to 36500; never beyond the CA's own expiry. */
  validityDays: number;
  now?: Date;
}

const PRINTABLE = /^[\x21-\x7e]+$/;

/**
 * Issues a device certificate, signed natively with the CA key. Built from `subject`, not from the
 * request (whose public key alone is used): subject CN = `user@domain`, O = Tsunagu; SANs URI AOR,
 * URI instance and, when there is one, the DNS name of {@link deviceNames}; basicConstraints CA:false
 * and keyUsage digitalSignature + keyEncipherment (both critical); extKeyUsage serverAuth +
 * clientAuth; subject and authority key identifiers; valid from five minutes ago for `validityDays`,
 * never beyond the CA's own expiry. The result is checked against the CA's public key before it is
 * returned, so a CA key that does not belong to the CA certificate is a CaError.
 */
export function issueDeviceCertificate(o: IssueDeviceCertificateOptions): IssuedCertificate {
  const { user, deviceId, instance, domain } = o.subject;
  if (!PRINTABLE.test(user) || user.includes('@') || !PRINTABLE.test(deviceId)) {
    throw new CaError(`invalid user or device id for a certificate: '${shown(user)}/${shown(deviceId)}'`);
  }
  if (!isHostname(domain)) throw new CaError(`invalid domain '${shown(domain)}'`);
  if (!PRINTABLE.test(instance) || !/^urn:/i.test(instance)) {
    throw new CaError(`invalid device instance '${shown(instance)}': expected a URN such as urn:uuid:…`);
  }
  const publicKey = o.csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!publicKey || typeof publicKey.n?.bitLength !== 'function') {
    throw new CsrError('unsupported-key', `the request carries no RSA key: ${FORGE_ONLY_RSA}`);
  }
  if (publicKey.n.bitLength() < MIN_RSA_BITS) {
    throw new CsrError(
      'weak-key',
      `the request’s RSA key has ${publicKey.n.bitLength()} bits; at least ${MIN_RSA_BITS} are required`,
    );
  }
  const ca = issuerOf(o.caCertPem);
  if (!ca.x509.ca)
    throw new CaError('the CA certificate is not a CA certificate (basicConstraints CA:false)');
  const names = deviceNames(o.subject);
  const { notBefore, notAfter } = validityWindow(o.now ?? new Date(), o.validityDays, ca.notAfter);

  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const cn = names.aor.slice('sip:'.length);
  // ub-common-name is 64 (RFC 5280); the SANs carry the full identity. forge's typings give
  // `valueTagClass` the type of a tag class; it takes a universal type (UTF8String).
  cert.setSubject([
    { name: 'commonName', value: cn.slice(0, 64), valueTagClass: forge.asn1.Type.UTF8 },
    { name: 'organizationName', value: 'Tsunagu' },
  ] as unknown as forge.pki.CertificateField[]);
  cert.setIssuer(ca.subject);
  const altNames: AltName[] = [
    { type: 6, value: names.aor },
    { type: 6, value: names.instance },
  ];
  if (names.dns !== undefined) altNames.push({ type: 2, value: names.dns });
  cert.setExtensions(leafExtensions(altNames, { authorityKeyIdentifier: ca.keyIdentifier }));
  const certPem = signCertificate(cert, o.caKey);
  const x = new X509Certificate(certPem);
  if (!x.verify(ca.x509.publicKey)) throw new CaError('the CA key does not belong to the CA certificate');
  return {
    certPem,
    chainPem: `${certPem}${ca.pem}`,
    serial: cert.serialNumber,
    fingerprint: `sha256:${x.fingerprint256}`,
    notBefore,
    notAfter,
  };
}
