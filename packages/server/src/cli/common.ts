import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import fs from 'node:fs';
import { CaError } from '../ca/ca.js';
import { parseHostPort } from '../config/address.js';
import type { HostPort } from '../config/address.js';
import { loadConfig } from '../config/config.js';
import type { Config } from '../config/config.js';
import { parseDuration } from '../config/duration.js';
import { ConfigError } from '../config/errors.js';
import { dataPaths, resolveDataDir } from '../config/paths.js';
import type { DataPaths } from '../config/paths.js';
import { PolicyError } from '../policy/errors.js';
import { StoreError } from '../store/errors.js';
import { openStore } from '../store/store.js';
import type { Store } from '../store/store.js';

export const PROGRAM = 'tsunagu-server';

/** A failure to report as `tsunagu-server: <message>` and exit with `exitCode` (1; 2 for usage). */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Wrong use of the command line: exit code 2. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** Errors whose message is meant for a person; anything else is an internal error. */
export function isExpectedError(e: unknown): e is Error {
  return (
    e instanceof CliError ||
    e instanceof ConfigError ||
    e instanceof StoreError ||
    e instanceof PolicyError ||
    e instanceof CaError
  );
}

export interface DataOptions {
  data?: string;
}

/** Adds the `--data DIR` option every command takes. */
export function withDataOption(cmd: Command): Command {
  return cmd.option('--data <dir>', 'data folder (default: $TSUNAGU_DATA, else ./tsunagu-data)');
}

export interface DataContext {
  dataDir: string;
  paths: DataPaths;
  config: Config;
  store: Store;
}

/** Loads config.json and opens the existing database for the duration of `fn`. */
export async function withData<T>(opts: DataOptions, fn: (ctx: DataContext) => T | Promise<T>): Promise<T> {
  const dataDir = resolveDataDir(opts.data);
  const paths = dataPaths(dataDir);
  const config = loadConfig(dataDir);
  let store: Store;
  try {
    store = openStore(paths.db, { create: false });
  } catch (e) {
    if (e instanceof StoreError && e.code === 'not-found') {
      throw new CliError(`${paths.db} is missing: the data folder ${dataDir} is incomplete`);
    }
    throw e;
  }
  try {
    return await fn({ dataDir, paths, config, store });
  } finally {
    store.close();
  }
}

/** Standard output, one line at a time. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** A note for the person on standard error (never part of --json output). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `2026-01-01 10:00:00Z`, or `-` for null. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Left-aligned columns separated by two spaces. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

// ---- argument parsers for commander (they turn bad input into usage errors, exit 2) ----

export function portArg(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError('expected a port number from 1 to 65535.');
  }
  return Number(value);
}

export function hostPortArg(value: string): HostPort {
  try {
    return parseHostPort(value);
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
}

/** `HOST:PORT` of something to connect to (`--ca-listen`, `peer add --address`): a real port, never 0. */
export function remoteHostPortArg(value: string): HostPort {
  try {
    return parseHostPort(value, { allowPortZero: false });
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
}

export function durationArg(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
  if (ms < 60_000 || ms > 365 * 86_400_000)
    throw new InvalidArgumentError('expected a duration from 1m to 365d.');
  return ms;
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

// ---- passwords ----

const MAX_STDIN = 64 * 1024;

/**
 * Reads a password: from a terminal, hidden and asked twice; otherwise the first line of standard
 * input (`printf '%s\n' "$PW" | tsunagu-server user add alice --password-stdin`). Never from argv,
 * where other users of the machine could read it.
 */
export async function readPassword(user: string): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await readHidden(`Password for ${user}: `);
    if (password !== '' && (await readHidden('Again: ')) !== password)
      throw new CliError('the passwords do not match');
  } else {
    let data = '';
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin as AsyncIterable<string>) {
      data += chunk;
      if (data.includes('\n') || data.length > MAX_STDIN) break;
    }
    password = (data.split('\n', 1)[0] ?? '').replace(/\r$/, '');
  }
  if (password === '') throw new CliError('empty password: write the password as one line on standard input');
  return password;
}

function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let buf = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(buf);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new CliError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Reads a whole text file for a command, with a one-line error. */
export function readTextFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`${file}: no such file`);
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}
