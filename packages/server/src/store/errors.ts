export type StoreErrorCode =
  | 'invalid-name'
  | 'invalid-argument'
  | 'user-exists'
  | 'no-such-user'
  | 'no-such-device'
  | 'device-revoked'
  | 'no-such-group'
  | 'no-such-rule'
  | 'group-in-use'
  | 'peer-exists'
  | 'not-found'
  | 'not-tsunagu'
  | 'schema-too-new'
  | 'migration-failed';

/** A refusal a person can act on; `message` is one line, safe to show (never contains secrets). */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}
