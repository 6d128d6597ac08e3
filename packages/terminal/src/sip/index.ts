/** SIP signalling for the terminal: sip.js over a pinned TLS transport, with SHA-256 digest. */
export {
  Signalling,
  SignallingError,
  backoffDelay,
  type InsecureCall,
  type SignallingErrorCode,
  type SignallingEvents,
  type SignallingLogger,
  type SignallingOptions,
  type SignallingStatus,
} from './signalling.js';
export {
  CallError,
  IncomingCall,
  OutgoingCall,
  type AnswerProvider,
  type CallAccepted,
  type CallDeclined,
  type CallEnded,
  type CallErrorCode,
  type CallerRoute,
  type IncomingCallEvents,
  type Negotiator,
  type OfferProvider,
  type OutgoingCallEvents,
} from './calls.js';
export { parseContactDocument, type ContactDocument, type Contact, type ContactDevice } from './contacts.js';
export { CertificateRequestError } from './certificate-request.js';
export { KeysError, parseKeys } from './keys.js';
export { parseAssertedIdentity, type AssertedIdentity } from './identity.js';
export { ROUTE_NOT_SECURE, calleePath, offerAddresses, refusedPath } from './route-security.js';
export {
  Rfc8760Digest,
  digestResponse,
  useRfc8760Digest,
  type DigestAlgorithm,
  type DigestCredentials,
} from './digest.js';
export { TlsTransport, type KeepAliveOptions, type TlsTransportOptions } from './transport.js';
export {
  ServerCertificateError,
  certificateFingerprint,
  checkPinnedCa,
  connectPinned,
  normalizeFingerprint,
  type PinnedTlsOptions,
} from './pinned-tls.js';
export type { RegistrationInfo } from './registration.js';
export type { NetworkInterfacesFn } from './network.js';
