/**
 * - `missing`: there is no profile where one was expected (folder or profile.json absent).
 * - `corrupt`: a profile file cannot be read as what it should be.
 * - `unsupported-version`: written by a newer version of Tsunagu.
 * - `invalid`: a value given to the API is not acceptable (the profile is unchanged).
 */
export type ProfileErrorCode = 'missing' | 'corrupt' | 'unsupported-version' | 'invalid';

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  constructor(
    readonly code: ProfileErrorCode,
    message: string,
  ) {
    super(message);
  }
}
