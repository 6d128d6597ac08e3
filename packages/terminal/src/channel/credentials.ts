import type { SecureContext } from 'node:tls';
import type { IdentityTlsOptions } from '../identity/identity.js';

/** What an end needs to take part in a channel: its TLS context and the fingerprint it signals. */
export interface ChannelCredentials {
  /** This device's key and certificate, TLS 1.3 only (see channelCredentials). */
  readonly secureContext: SecureContext;
  /** SHA-256 fingerprint of that certificate, RFC 8122 form: what our `a=fingerprint` says. */
  readonly fingerprint: string;
}

/** TLS 1.3 only, in both directions (DESIGN.md: the peer-to-peer channel is TLS 1.3). */
export const CHANNEL_TLS_OPTIONS: IdentityTlsOptions = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };

/** Credentials for channels from a device identity (profile.identity). Make once, reuse for every channel. */
export function channelCredentials(identity: {
  secureContext(options: IdentityTlsOptions): SecureContext;
  readonly fingerprint: string;
}): ChannelCredentials {
  return { secureContext: identity.secureContext(CHANNEL_TLS_OPTIONS), fingerprint: identity.fingerprint };
}
