export * from './ca.js';
export * from './files.js';
export * from './device.js';
export * from './crl.js';
export * from './authority.js';
export {
  CLOCK_SKEW_MS,
  derFromPem,
  dnsNames,
  forgePublicKey,
  leafExtensions,
  randomSerial,
  signCertificate,
  signCertificationRequest,
  uriSans,
  validityWindow,
  type AltName,
} from './x509.js';
export * from './verify-codes.js';
