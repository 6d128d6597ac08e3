import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Keys whose values are secrets: credentials, invite tokens and links, keys and the CA key's passphrase,
 * SIP/HTTP credentials headers.
 */
const SECRET_KEYS = [
  'password',
  'passphrase',
  'caPassphrase',
  'secret',
  'token',
  'link',
  'response',
  'ha1',
  'key',
  'privateKey',
  'keyPem',
  'authorization',
  'Authorization',
  '["proxy-authorization"]',
  '["Proxy-Authorization"]',
];

/**
 * Paths pino blanks out wherever they appear in a log object: the keys above at the top level and one
 * level down, and the Authorization header of a logged HTTP request. Code should not log these at all;
 * this is the second line of defence.
 */
const REDACT_PATHS = [
  'nonce',
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => (k.startsWith('[') ? `*${k}` : `*.${k}`)),
  '*.headers.authorization',
];

/** One structured logger per process, passed down; modules take child loggers with a `module` field. */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'tsunagu-server' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination as never) : pino(options, pino.destination(2));
}
