/**
 * What a device needs to authenticate to its server from then on: the result of `enroll` (invite link)
 * or `login` (password account). The profile (identity/) stores it; `secret` is a credential and must be
 * kept like a private key (0600, never logged).
 */
export interface DeviceCredentials {
  /** `alice` */
  user: string;
  /** SIP domain, `example.org`. */
  domain: string;
  /** `sip:alice@example.org` */
  aor: string;
  /** Digest realm the server challenges with. */
  realm: string;
  /** Digest username: `alice/DEVICE` for an enrolled device, `alice` for a password account. */
  username: string;
  /** The device secret (enrolment) or the password (login). */
  secret: string;
  /** The enrolled device's id; absent for a password login. */
  device?: string;
  /** UUID this device registers with (`+sip.instance`). */
  instanceId: string;
  /** SIP over TLS, `host:port`. */
  server: string;
  /** Enrolment / WSS listener, `host:port`. */
  https: string;
  /** `sha256:AB:…`, the pinned CA fingerprint. */
  caFingerprint: string;
  /** The CA certificate (PEM), whose fingerprint was checked against the pin. */
  caPem: string;
}
