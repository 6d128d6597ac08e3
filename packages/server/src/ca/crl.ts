import { sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import {
  CaError,
  CLOCK_SKEW_MS,
  SHA256_WITH_RSA_OID,
  certificateSubjectDer,
  derOf,
  issuerOf,
} from './x509.js';

/**
 * Certificate revocation lists (RFC 5280 §5): X.509 v2 CRLs signed by the deployment CA, so that a host
 * holding only `ca.pem` checks a device certificate with stock tools (`openssl verify -crl_check`).
 * node-forge has no CRL builder: the structure is assembled with `forge.asn1` and signed natively.
 */

const { asn1 } = forge;
const U = asn1.Class.UNIVERSAL;

const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
const OID_CRL_NUMBER = '2.5.29.20';

/** The largest nextUpdate interval accepted: a year. */
const MAX_NEXT_UPDATE_HOURS = 366 * 24;

export interface RevokedCertificate {
  /** The serial number in hex, as `IssuedCertificate.serial` (case and `:` separators ignored). */
  serial: string;
  revokedAt: Date;
}

export interface CreateCrlOptions {
  caKey: KeyObject;
  caCertPem: string;
  /** Empty for a CRL that revokes nothing (the field is then omitted, as RFC 5280 requires). */
  revoked: readonly RevokedCertificate[];
  /** The cRLNumber: grows with every CRL the CA issues (0 to 2^53 − 1 here). */
  crlNumber: number;
  now?: Date;
  /** Hours from now to nextUpdate; default 24. */
  nextUpdateHours?: number;
}

/** Unsigned big-endian bytes → the content octets of a positive DER INTEGER (minimal, sign-padded). */
function integerContent(bytes: Buffer): string {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b.length === 0) b = Buffer.from([0]);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return b.toString('binary');
}

function integer(bytes: Buffer): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.INTEGER, false, integerContent(bytes));
}

function serialBytes(serial: string): Buffer {
  const hex = serial.replace(/:/g, '');
  if (!/^[0-9a-f]{1,40}$/i.test(hex)) {
    throw new CaError(`invalid serial number '${serial.slice(0, 60)}': expected up to 40 hex digits`);
  }
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

function numberBytes(n: number): Buffer {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §5.1.2.4), in whole seconds. */
function time(date: Date): forge.asn1.Asn1 {
  const d = new Date(date.getTime());
  d.setUTCMilliseconds(0);
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? asn1.create(U, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(U, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function oid(id: string): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
}

function extension(id: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.SEQUENCE, true, [
    oid(id),
    asn1.create(U, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * An X.509 v2 CRL in PEM: sha256WithRSAEncryption, issuer = the CA's subject (its exact DER),
 * thisUpdate (now minus {@link CLOCK_SKEW_MS}, so that a verifier whose clock is a little behind does
 * not find it "not yet valid"), nextUpdate (now plus `nextUpdateHours`), the revoked serials (each
 * once), and the extensions authorityKeyIdentifier (the CA's subjectKeyIdentifier) and cRLNumber.
 */
export function createCrl(o: CreateCrlOptions): string {
  if (!Number.isSafeInteger(o.crlNumber) || o.crlNumber < 0) {
    throw new CaError(`crlNumber must be a non-negative integer (got ${o.crlNumber})`);
  }
  const hours = o.nextUpdateHours ?? 24;
  if (!Number.isFinite(hours) || hours <= 0 || hours > MAX_NEXT_UPDATE_HOURS) {
    throw new CaError(
      `nextUpdateHours must be more than 0 and at most ${MAX_NEXT_UPDATE_HOURS} (got ${hours})`,
    );
  }
  const now = o.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new CaError('invalid date for the CRL');

  const ca = issuerOf(o.caCertPem);
  let issuer: Buffer;
  try {
    issuer = certificateSubjectDer(ca.x509.raw);
  } catch (e) {
    throw new CaError(`cannot read the CA certificate: ${(e as Error).message}`);
  }
  if (
    o.caKey.type !== 'private' ||
    o.caKey.asymmetricKeyType !== 'rsa' ||
    !ca.x509.checkPrivateKey(o.caKey)
  ) {
    throw new CaError('the CA key does not belong to the CA certificate');
  }

  const seen = new Set<string>();
  const entries: forge.asn1.Asn1[] = [];
  for (const r of o.revoked) {
    const serial = serialBytes(r.serial);
    const key = integerContent(serial);
    if (Number.isNaN(r.revokedAt.getTime())) throw new CaError(`invalid revocation date for ${r.serial}`);
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push(asn1.create(U, asn1.Type.SEQUENCE, true, [integer(serial), time(r.revokedAt)]));
  }

  const sha256WithRsa = asn1.create(U, asn1.Type.SEQUENCE, true, [
    oid(SHA256_WITH_RSA_OID),
    asn1.create(U, asn1.Type.NULL, false, ''),
  ]);
  const tbs = asn1.create(U, asn1.Type.SEQUENCE, true, [
    integer(Buffer.from([1])), // v2
    sha256WithRsa,
    asn1.fromDer(issuer.toString('binary')),
    time(new Date(now.getTime() - CLOCK_SKEW_MS)),
    time(new Date(now.getTime() + hours * 3_600_000)),
    ...(entries.length > 0 ? [asn1.create(U, asn1.Type.SEQUENCE, true, entries)] : []),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(U, asn1.Type.SEQUENCE, true, [
        extension(
          OID_AUTHORITY_KEY_IDENTIFIER,
          asn1.create(U, asn1.Type.SEQUENCE, true, [
            asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ca.keyIdentifier),
          ]),
        ),
        extension(OID_CRL_NUMBER, integer(numberBytes(o.crlNumber))),
      ]),
    ]),
  ]);
  const tbsDer = derOf(tbs);
  const signature = sign('sha256', tbsDer, o.caKey);
  const crl = asn1.create(U, asn1.Type.SEQUENCE, true, [
    tbs,
    sha256WithRsa,
    asn1.create(U, asn1.Type.BITSTRING, false, `\x00${signature.toString('binary')}`),
  ]);
  return pem('X509 CRL', derOf(crl));
}
