import { createHash, type X509Certificate } from 'node:crypto';
import type { ChannelFingerprint } from '@tsunagu/protocol';

/**
 * RFC 8122 §5 fingerprints this end can compute and will trust: SHA-256 (mandatory) and the longer
 * SHA-2 hashes. SHA-1, MD5 and MD2 are parsed but never trusted.
 */
const NODE_HASH: Readonly<Record<string, string>> = {
  'sha-256': 'sha256',
  'sha-384': 'sha384',
  'sha-512': 'sha512',
};

export function usableFingerprints(fps: readonly ChannelFingerprint[]): ChannelFingerprint[] {
  return fps.filter((f) => NODE_HASH[f.algorithm] !== undefined);
}

/** RFC 8122 form of a digest: upper-case hex pairs separated by colons. */
function colonHex(buf: Buffer): string {
  return (buf.toString('hex').toUpperCase().match(/../g) ?? []).join(':');
}

/**
 * Whether `cert` is one of the signalled certificates: it must match at least one fingerprint with a
 * hash this end supports (RFC 8122 §5: several fingerprints may be listed, e.g. during renewal).
 */
export function certificateMatches(cert: X509Certificate, fps: readonly ChannelFingerprint[]): boolean {
  for (const f of usableFingerprints(fps)) {
    const actual =
      f.algorithm === 'sha-256'
        ? cert.fingerprint256
        : colonHex(createHash(NODE_HASH[f.algorithm]!).update(cert.raw).digest());
    if (actual === f.value.toUpperCase()) return true;
  }
  return false;
}

/** `a=fingerprint` entries for a local certificate's SHA-256 fingerprint. */
export function sha256Fingerprint(value: string): ChannelFingerprint {
  return { algorithm: 'sha-256', value: value.toUpperCase() };
}
