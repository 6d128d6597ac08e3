export * from './store.js';
export * from './errors.js';
export * from './names.js';
export { computeHa1, type DigestAlgorithm } from '../auth/digest.js';
export type { User, AddUserOptions, RemovedUser } from './users.js';
export type { Device, DeviceKind, EnrolledDevice } from './devices.js';
export type {
  Invite,
  InviteStatus,
  InviteFailure,
  InviteAttempt,
  CreatedInvite,
  RedeemOutcome,
} from './invites.js';
export type { Group } from './groups.js';
export type { CertificateRecord, RevokedCertificate, RevokeReason } from './certificates.js';
export type { RuleAction, RuleInput, StoredRule } from './rules.js';
export { normaliseCaFingerprint } from './peers.js';
export type { Peer, PeerInput, PeerTransport } from './peers.js';
export { MIGRATIONS, APPLICATION_ID } from './migrations.js';
export type { Migration } from './migrations.js';
