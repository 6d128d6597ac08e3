import { createHash } from 'node:crypto';

const FINGERPRINT = /^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/;

/**
 * The short code two people can compare aloud (issue 3): six digits, the same on both ends, derived
 * from both certificates' SHA-256 fingerprints regardless of which end is which.
 *
 *   code = first 8 bytes of SHA-256("tsunagu-verification-code/1" 0x00 A 0x00 B) as a big-endian
 *          integer, mod 10^6, written "123 456"
 *
 * where A ≤ B are the two fingerprints in RFC 8122 form (upper-case hex with colons) sorted as ASCII.
 * The fingerprints already came through the authenticated signalling and were checked against the
 * certificates; the code is the human cross-check of that. Six digits (about 20 bits) catch an
 * interception by chance, not one that was ground against a known code; the fingerprint check is the
 * real defence.
 */
export function verificationCode(fingerprintA: string, fingerprintB: string): string {
  const a = fingerprintA.toUpperCase();
  const b = fingerprintB.toUpperCase();
  if (!FINGERPRINT.test(a) || !FINGERPRINT.test(b))
    throw new TypeError('verificationCode takes two SHA-256 fingerprints in RFC 8122 form (AB:CD:…)');
  const [lo, hi] = a <= b ? [a, b] : [b, a];
  const digest = createHash('sha256').update(`tsunagu-verification-code/1\0${lo}\0${hi}`).digest();
  const n = Number(digest.readBigUInt64BE(0) % 1_000_000n);
  const s = String(n).padStart(6, '0');
  return `${s.slice(0, 3)} ${s.slice(3)}`;
}
