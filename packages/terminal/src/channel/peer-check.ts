import { X509Certificate } from 'node:crypto';
import { CLOCK_SKEW_MS } from '@tsunagu/server/ca';
import { caIssuedProblem, isSelfSigned } from '../identity/certificate.js';

/**
 * An extra check of the peer's certificate, after its fingerprint matched the signalled one: returns
 * why it is unacceptable, or undefined. DESIGN.md: "when the certificate is CA-issued it must also
 * chain to the CA and name the peer's AOR" — caIssuedPeerCheck does that, and refuses a revoked one.
 */
export type PeerCertificateCheck = (cert: X509Certificate) => string | undefined;

/**
 * A CA-issued certificate must be signed by `caPem`, be within its validity, and name `peerAor` (the
 * identity the server asserted) as a URI SAN. A self-signed certificate passes unless
 * `requireCaIssued` (the fingerprint that came through the authenticated signalling pins it).
 */
export function caIssuedPeerCheck(options: {
  caPem: string;
  peerAor: string;
  requireCaIssued?: boolean;
  /** Whether the CA revoked the certificate with this fingerprint (RFC 8122 form, `AB:CD:…`). */
  isRevoked?: (fingerprint: string) => boolean;
  now?: () => Date;
}): PeerCertificateCheck {
  const ca = new X509Certificate(options.caPem);
  return (cert) => {
    if (options.isRevoked?.(cert.fingerprint256)) return 'the certificate has been revoked';
    if (isSelfSigned(cert))
      return options.requireCaIssued ? 'the certificate is not issued by the deployment CA' : undefined;
    // Clocks differ a little between machines: the tolerated skew applies at both ends of the validity.
    return caIssuedProblem(cert, ca, options.peerAor, (options.now ?? (() => new Date()))(), CLOCK_SKEW_MS);
  };
}
