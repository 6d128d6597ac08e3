import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log object. Code should not log these at all;
 * this is the second line of defence.
 */
export const REDACT_PATHS = [
  'password',
  'secret',
  'token',
  'nonce',
  'response',
  'ha1',
  'key',
  'privateKey',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.response',
  '*.ha1',
  '*.key',
  '*.privateKey',
  '*.authorization',
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
