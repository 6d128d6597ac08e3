import type { X509Certificate } from 'node:crypto';
import type { Identity } from '../transport/connection.js';

/** What the CA's register says about a certificate (see store.certificates). */
export interface CertificateStanding {
  user: string;
  device: string;
  instance: string;
  /** The certificate, its device or its user was revoked (or removed). */
  revoked: boolean;
}

/**
 * The seed's "ID/password or X.509" authentication, X.509 half: a client certificate that chains to the
 * deployment CA (checked by OpenSSL during the handshake) and that the CA's register knows proves the
 * connection's identity, so REGISTER needs no digest round trip. A revoked one makes the connection
 * refuse everything with a reason; an unknown one (say, another CA's server) proves nothing, and digest
 * applies as without a certificate.
 */
export function certificateIdentity(
  cert: X509Certificate,
  domain: string,
  lookup: (fingerprint: string) => CertificateStanding | undefined,
): { identity: Identity } | { refusal: string } | undefined {
  const fingerprint = `sha256:${cert.fingerprint256}`;
  const standing = lookup(fingerprint);
  if (!standing) return undefined;
  if (standing.revoked) return { refusal: 'Certificate Revoked' };
  return {
    identity: {
      user: standing.user,
      aor: `sip:${standing.user}@${domain}`,
      deviceId: standing.device,
      instance: standing.instance,
      certificate: fingerprint,
    },
  };
}
