/**
 * OpenSSL's verification error codes (as Node reports them on a TLS error), sorted by what they mean
 * for someone checking a peer against the deployment CA. Shared by every client that pins the CA: the
 * terminal's signalling connection and the session server's connection to a separate CA process.
 */

/** The chain does not lead to the trusted CA: another CA's certificate, or an interception. */
export const UNTRUSTED_CHAIN_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
]);

/** The certificate is from the right CA but outside its validity: often a wrong clock. */
export const OUT_OF_VALIDITY_CODES: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
