/** Joining a deployment: invite links (`tsunagu://join?…`) and password logins. */
export {
  enroll,
  login,
  EnrollError,
  type EnrollErrorCode,
  type EnrollOptions,
  type EnrollProfile,
  type LoginOptions,
} from './enroll.js';
export type { DeviceCredentials } from './credentials.js';
