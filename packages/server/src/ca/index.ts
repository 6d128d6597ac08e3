export * from './ca.js';
export * from './files.js';
export * from './device.js';
export * from './crl.js';
export * from './authority.js';
export {
  CLOCK_SKEW_MS,
  forgePublicKey,
  randomSerial,
  signCertificate,
  signCertificationRequest,
  validityWindow,
} from './x509.js';
