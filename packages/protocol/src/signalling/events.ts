/**
 * The SIP event packages and body types Tsunagu's server and terminal agree on (docs/protocol.md).
 * One definition for both ends, so the two cannot drift apart.
 */

/** The contact list with presence and the revocation list: a subscription to one's own AOR. */
export const CONTACTS_EVENT = 'tsunagu-contacts';
export const CONTACTS_TYPE = 'application/vnd.tsunagu.contacts+json';

/** Certificate issuance: PUBLISH of a PKCS#10 request (base64 DER, RFC 7030 §4.2.1) to one's own AOR. */
export const CERTIFICATE_EVENT = 'tsunagu-certificate';
export const PKCS10_TYPE = 'application/pkcs10';
/** The 200 OK's body: the certificate, then the CA (RFC 8555 §9.1). */
export const CHAIN_TYPE = 'application/pem-certificate-chain';

/** The key directory: a fetch-only SUBSCRIBE (Expires: 0, RFC 6665 §4.4.3) to a member's AOR. */
export const KEYS_EVENT = 'tsunagu-keys';
export const KEYS_TYPE = 'application/vnd.tsunagu.keys+json';

/** One device's current certificate, as the key directory lists it. */
export interface KeyEntry {
  device: string;
  name: string;
  /** `sha256:AB:…` */
  fingerprint: string;
  notAfter: string;
  /** PEM */
  certificate: string;
  /** SubjectPublicKeyInfo, PEM: what the seed's terminal 12 encrypts to. */
  publicKey: string;
}

/** A member's keys: the `tsunagu-keys` body (with `version: 1`) and the API's `keys.get` answer. */
export interface KeysView {
  aor: string;
  keys: KeyEntry[];
  /**
   * For a member of a peer domain: that domain's CA (PEM), which our own server relays only when it is
   * the CA configured for the peer — the certificates above chain to it.
   */
  ca?: string;
}
