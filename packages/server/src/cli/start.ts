import type { Command } from 'commander';
import { Option } from 'commander';
import fs from 'node:fs';
import { fingerprint } from '../ca/ca.js';
import type { HostPort } from '../config/address.js';
import { loadConfig } from '../config/config.js';
import { dataPaths, resolveDataDir } from '../config/paths.js';
import { CliError, hostPortArg, withDataOption } from './common.js';
import type { DataOptions } from './common.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface StartOptions extends DataOptions {
  sip?: HostPort;
  wss?: HostPort;
  admin?: HostPort;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** How long close() may take after SIGTERM/SIGINT before the process gives up and exits 1. */
const CLOSE_TIMEOUT_MS = 10_000;

export function registerStart(program: Command): void {
  withDataOption(
    program
      .command('start')
      .description(
        'run the session server (logs go to standard error as JSON; one "listening" line goes to standard output)',
      )
      .option(
        '--sip <host:port>',
        'SIP over TLS listener (default from config.json: sip.listen:sip.port); IPv6 as [::1]:5061',
        hostPortArg,
      )
      .option(
        '--wss <host:port>',
        'secure WebSocket and enrolment listener (default wss.listen:wss.port)',
        hostPortArg,
      )
      .option(
        '--admin <host:port>',
        'admin/metrics HTTP listener (default admin.listen:admin.port)',
        hostPortArg,
      )
      .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info')),
  ).action(async (opts: StartOptions) => {
    const dataDir = resolveDataDir(opts.data);
    const paths = dataPaths(dataDir);
    const config = loadConfig(dataDir); // precise config errors before anything starts
    let caFingerprint: string;
    try {
      caFingerprint = fingerprint(fs.readFileSync(paths.caCert, 'utf8'));
    } catch (e) {
      throw new CliError(`cannot read the CA certificate ${paths.caCert}: ${(e as Error).message}`);
    }
    const { startServer } = await import('../server.js');
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        dataDir,
        sip: opts.sip ?? { host: config.sip.listen, port: config.sip.port },
        wss: opts.wss ?? { host: config.wss.listen, port: config.wss.port },
        admin: opts.admin ?? { host: config.admin.listen, port: config.admin.port },
        logLevel: opts.logLevel,
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        throw new CliError(`cannot listen: ${err.message}`);
      }
      throw e;
    }
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', sip: server.addresses.sip, wss: server.addresses.wss, admin: server.addresses.admin, caFingerprint })}\n`,
    );

    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`tsunagu-server: ${signal} again, exiting without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      const timer = setTimeout(() => {
        process.stderr.write('tsunagu-server: shutdown timed out\n');
        process.exit(1);
      }, CLOSE_TIMEOUT_MS);
      timer.unref();
      server.close().then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`tsunagu-server: error while stopping: ${(e as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
