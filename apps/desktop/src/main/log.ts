/**
 * The main process's pino logger: JSON lines to a file in the user data folder and to stderr. Code
 * logs public facts only (never invite links, tokens or keys); redaction is the second line of defence.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger, type LoggerOptions } from 'pino';

const SECRET_FIELDS = ['password', 'secret', 'token', 'link', 'key', 'privateKey', 'authorization'];

export const LOG_OPTIONS: LoggerOptions = {
  level: process.env.TSUNAGU_LOG_LEVEL ?? 'info',
  base: { service: 'tsunagu-desktop' },
  redact: { paths: SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]), censor: '[redacted]' },
};

export function createMainLogger(file: string): Logger {
  mkdirSync(dirname(file), { recursive: true });
  return pino(
    LOG_OPTIONS,
    pino.multistream([{ stream: pino.destination({ dest: file, sync: false }) }, { stream: process.stderr }]),
  );
}
