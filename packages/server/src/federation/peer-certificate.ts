import type { X509Certificate } from 'node:crypto';
import { CLOCK_SKEW_MS, dnsNames, uriSans } from '../ca/x509.js';

/**
 * Judges the certificate chain a peer server presented against what the admin configured for its
 * domain (`peer add DOMAIN --ca-fingerprint …`): the CA with that fingerprint must be in the chain and
 * have signed the leaf, both must be valid now (within the tolerated clock skew), and the leaf must
 * name the domain — as the URI SAN `sip:DOMAIN` (RFC 5922 §7.1) or a DNS SAN. Returns what is wrong.
 */
export function peerCertificateProblem(
  chain: readonly X509Certificate[],
  peer: { domain: string; caFingerprint: string },
  now = new Date(),
): string | undefined {
  const [leaf, ...rest] = chain;
  if (!leaf) return 'it presented no certificate';
  const wanted = peer.caFingerprint.replace(/^sha256:/i, '').toUpperCase();
  const ca = rest.find((c) => c.fingerprint256 === wanted);
  if (!ca) return `its certificate chain does not contain the CA configured for ${peer.domain}`;
  if (!ca.ca || !ca.checkIssued(ca) || !ca.verify(ca.publicKey))
    return 'the configured CA certificate is not a self-signed CA';
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey))
    return `its certificate is not signed by the CA configured for ${peer.domain}`;
  for (const c of [leaf, ca]) {
    if (now.getTime() + CLOCK_SKEW_MS < Date.parse(c.validFrom)) return 'a certificate is not valid yet';
    if (now.getTime() - CLOCK_SKEW_MS > Date.parse(c.validTo)) return 'a certificate has expired';
  }
  if (!namesDomain(leaf, peer.domain)) return `its certificate does not name ${peer.domain}`;
  return undefined;
}

/** RFC 5922 §7.1: the URI SAN `sip:DOMAIN`, else a DNS SAN equal to it; never the Common Name. */
function namesDomain(cert: X509Certificate, domain: string): boolean {
  const want = domain.toLowerCase();
  const uris = uriSans(cert).map((u) => u.toLowerCase());
  return uris.includes(`sip:${want}`) || uris.includes(`sips:${want}`) || dnsNames(cert).includes(want);
}
