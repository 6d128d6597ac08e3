import { createHash } from 'node:crypto';

/** The digest algorithms a stored credential can serve (RFC 7616 / RFC 8760). */
export type DigestAlgorithm = 'SHA-256' | 'MD5';

/**
 * HA1 = H(username ":" realm ":" password), lower-case hex (RFC 7616 §3.4.2). This is what the store
 * keeps instead of the password. An HA1 is still password-equivalent *for that realm and algorithm*,
 * which is why the database file is 0600 and MD5 HA1s exist only for users an admin opted in.
 */
export function computeHa1(
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  password: string,
): string {
  const h = createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5');
  h.update(`${username}:${realm}:`, 'utf8');
  h.update(password, 'utf8');
  return h.digest('hex');
}
