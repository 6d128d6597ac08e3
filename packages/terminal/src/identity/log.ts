/**
 * The logging this module does, as a pino logger (or a child of one) provides it. Messages carry
 * public facts only: file paths, fingerprints, timings — never key material or secrets.
 */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const noop = (): void => undefined;
export const silentLog: Log = { debug: noop, info: noop, warn: noop };
