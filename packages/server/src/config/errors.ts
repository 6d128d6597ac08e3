/** A problem with the data folder's configuration or with an address/duration given by a person. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
