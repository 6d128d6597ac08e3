import { X509Certificate } from 'node:crypto';
import { isSelfSigned, uriSans } from '../identity/certificate.js';

/**
 * An extra check of the peer's certificate, after its fingerprint matched the signalled one: returns
 * why it is unacceptable, or undefined. DESIGN.md: "when the certificate is CA-issued it must also
 * chain to the CA and name the peer's AOR" — caIssuedPeerCheck does that; revocation can be added the
 * same way.
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
  now?: () => Date;
}): PeerCertificateCheck {
  const ca = new X509Certificate(options.caPem);
  const aor = options.peerAor.toLowerCase();
  return (cert) => {
    if (isSelfSigned(cert))
      return options.requireCaIssued ? 'the certificate is not issued by the deployment CA' : undefined;
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      return 'the certificate is not issued by the deployment CA';
    const now = (options.now ?? (() => new Date()))();
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
      return 'the certificate has expired or is not yet valid';
    if (!uriSans(cert).some((u) => u.toLowerCase() === aor))
      return `the certificate does not name ${options.peerAor}`;
    return undefined;
  };
}
