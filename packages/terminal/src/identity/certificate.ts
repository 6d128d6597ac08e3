import {
  CLOCK_SKEW_MS,
  forgePublicKey,
  leafExtensions,
  randomSerial,
  signCertificate,
  signCertificationRequest,
  uriSans,
  validityWindow,
  type AltName,
} from '@tsunagu/server/ca';
import { X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/**
 * X.509 structures for the device's key, built with node-forge and signed with Node's native crypto
 * through the server's shared helpers (`@tsunagu/server/ca`): forge assembles the to-be-signed DER,
 * `crypto.sign` signs it (≈0.5 ms where forge's JavaScript RSA takes ≈18 ms), so the private key stays
 * a native KeyObject and never enters forge.
 */

const SELF_SIGNED_VALIDITY_DAYS = 365;

/** forge's typings give `valueTagClass` the type of a tag class; it takes a universal type (UTF8String). */
function fields(
  list: { name: string; value: string; valueTagClass?: forge.asn1.Type }[],
): forge.pki.CertificateField[] {
  return list as unknown as forge.pki.CertificateField[];
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
  const { notBefore, notAfter } = validityWindow(
    options.now,
    options.validityDays ?? SELF_SIGNED_VALIDITY_DAYS,
  );
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const cn = options.aor ? options.aor.replace(/^sips?:/, '') : 'Tsunagu device';
  const subject = [
    { name: 'commonName', value: cn.slice(0, 64), valueTagClass: forge.asn1.Type.UTF8 },
    { name: 'organizationName', value: 'Tsunagu' },
  ];
  cert.setSubject(fields(subject));
  cert.setIssuer(fields(subject));
  const altNames: AltName[] = [];
  if (options.aor) altNames.push({ type: 6, value: options.aor });
  altNames.push({ type: 6, value: options.instanceId });
  cert.setExtensions(leafExtensions(altNames));
  const pem = signCertificate(cert, privateKey);
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
  const pem = signCertificationRequest(csr, privateKey);
  if (!forge.pki.certificationRequestFromPem(pem).verify())
    throw new Error('certificate request does not verify');
  return pem;
}

export { uriSans };

/** Whether a certificate is self-signed (issuer = subject and its own key verifies it). */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.issuer === cert.subject && cert.verify(cert.publicKey);
}

/**
 * Why `cert` is not one `ca` issued for `aor` and valid at `now` (undefined when it is). The notBefore
 * end tolerates the clock skew always; `lateMs` is how long past notAfter it still counts (a peer's
 * clock may run behind ours, but our own certificate is due at its end).
 */
export function caIssuedProblem(
  cert: X509Certificate,
  ca: X509Certificate,
  aor: string,
  now: Date,
  lateMs = 0,
): string | undefined {
  if (isSelfSigned(cert) || !cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    return 'the certificate is not issued by the deployment CA';
  const t = now.getTime();
  if (t < Date.parse(cert.validFrom) - CLOCK_SKEW_MS || t >= Date.parse(cert.validTo) + lateMs)
    return 'the certificate has expired or is not yet valid';
  if (!uriSans(cert).some((u) => u.toLowerCase() === aor.toLowerCase()))
    return `the certificate does not name ${aor}`;
  return undefined;
}
