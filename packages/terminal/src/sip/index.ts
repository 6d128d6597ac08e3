/** SIP signalling for the terminal: sip.js over a pinned TLS transport, with SHA-256 digest. */
export {
  Signalling,
  SignallingError,
  backoffDelay,
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
  type IncomingCallEvents,
  type Negotiator,
  type OfferProvider,
  type OutgoingCallEvents,
} from './calls.js';
export {
  parseContactDocument,
  type ContactDocument,
  CONTACTS_EVENT,
  CONTACTS_TYPE,
  type Contact,
  type ContactDevice,
} from './contacts.js';
export {
  CertificateRequestError,
  CERTIFICATE_EVENT,
  CHAIN_TYPE,
  PKCS10_TYPE,
} from './certificate-request.js';
export { KeysError, KEYS_EVENT, parseKeys, type DirectoryEntry, type DirectoryKey } from './keys.js';
export { parseAssertedIdentity, type AssertedIdentity } from './identity.js';
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
