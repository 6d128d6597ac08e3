/** The device's identity and profile folder (issue 3, "Identity and enrolment"). */
export { ProfileError } from './errors.js';
export type { ProfileErrorCode } from './errors.js';
export { DeviceIdentity, CERT_FILE, KEY_FILE, RSA_BITS } from './identity.js';
export type { IdentityTlsOptions } from './identity.js';
export { CA_FILE, PROFILE_FILE, PROFILE_VERSION, Profile, SECRET_FILE, openProfile } from './profile.js';
export type {
  DigestAccount,
  InboundPolicy,
  OpenProfileOptions,
  ProfileData,
  ProfileSettings,
  ProfileUpdate,
  ProfileUser,
  ServerAddress,
} from './profile.js';
export type { Log } from './log.js';
