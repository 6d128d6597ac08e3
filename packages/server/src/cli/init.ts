import type { Command } from 'commander';
import { Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { createDeploymentCa, fingerprint, issueServerCertificate } from '../ca/ca.js';
import { writeKeyAndCertificate } from '../ca/files.js';
import { isHostname, normaliseHost } from '../config/address.js';
import { createConfig, serialiseConfig } from '../config/config.js';
import type { Config, PolicyDefault } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import { dataPaths, resolveDataDir } from '../config/paths.js';
import { openStore } from '../store/store.js';
import { CliError, PROGRAM, collect, out, portArg, printJson, withDataOption } from './common.js';
import type { DataOptions } from './common.js';

export const DEFAULT_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

export interface InitOptions {
  dataDir: string;
  domain: string;
  /** Names and addresses in the server certificate; the first is advertised in invite links. Default localhost, 127.0.0.1, ::1. */
  hosts?: readonly string[];
  policyDefault?: PolicyDefault;
  sipPort?: number;
  wssPort?: number;
}

export interface InitResult {
  dataDir: string;
  config: Config;
  caFingerprint: string;
}

/** Test seam: called after each step; a throw simulates a failure at that point. */
export type InitStep = 'folders' | 'ca' | 'server-certificate' | 'database' | 'config';

/**
 * Creates a data folder: CA (key 0600), server certificate, database (policy default seeded),
 * config.json — in that order, config.json last so that a folder with a config is complete. Refuses
 * a folder that exists and is not empty, touching nothing. If any step fails, everything it created
 * is removed.
 */
export function initDataDir(options: InitOptions, afterStep?: (step: InitStep) => void): InitResult {
  const paths = dataPaths(options.dataDir);
  if (!isHostname(options.domain)) {
    throw new ConfigError(`invalid domain '${options.domain}': expected a DNS name such as example.org`);
  }
  const hosts = [
    ...new Set(
      (options.hosts && options.hosts.length > 0 ? options.hosts : DEFAULT_HOSTS).map((h) =>
        normaliseHost(h, '--host'),
      ),
    ),
  ];
  // Validates domain, hosts and ports before anything is written.
  const config = createConfig({
    domain: options.domain,
    hosts,
    policyDefault: options.policyDefault ?? 'allow-all',
    ...(options.sipPort !== undefined ? { sipPort: options.sipPort } : {}),
    ...(options.wssPort !== undefined ? { wssPort: options.wssPort } : {}),
  });

  let existed = false;
  try {
    const st = fs.statSync(paths.root);
    if (!st.isDirectory()) throw new CliError(`${paths.root} exists and is not a folder`);
    if (fs.readdirSync(paths.root).length > 0) {
      throw new CliError(`${paths.root} exists and is not empty; choose a new folder (nothing was changed)`);
    }
    existed = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }

  let firstCreated: string | undefined;
  const cleanup = () => {
    if (existed) {
      for (const entry of fs.readdirSync(paths.root))
        fs.rmSync(path.join(paths.root, entry), { recursive: true, force: true });
    } else if (firstCreated !== undefined) {
      fs.rmSync(firstCreated, { recursive: true, force: true }); // the data folder and any parents we made
    }
  };

  try {
    if (existed) fs.chmodSync(paths.root, 0o700);
    else firstCreated = fs.mkdirSync(paths.root, { recursive: true, mode: 0o700 });
    fs.mkdirSync(paths.caDir, { mode: 0o700 });
    fs.mkdirSync(paths.tlsDir, { mode: 0o700 });
    afterStep?.('folders');

    const ca = createDeploymentCa({ domain: config.domain });
    writeKeyAndCertificate(paths.caKey, paths.caCert, ca);
    afterStep?.('ca');

    const server = issueServerCertificate({ ca, hosts: config.hosts, domain: config.domain });
    writeKeyAndCertificate(paths.serverKey, paths.serverCert, server);
    afterStep?.('server-certificate');

    const store = openStore(paths.db);
    try {
      store.settings.setPolicyDefault(config.policyDefault);
    } finally {
      store.close();
    }
    afterStep?.('database');

    fs.writeFileSync(paths.config, serialiseConfig(config), { mode: 0o644, flag: 'wx' });
    afterStep?.('config');
    return { dataDir: paths.root, config, caFingerprint: fingerprint(ca.certPem) };
  } catch (e) {
    cleanup();
    throw e;
  }
}

interface InitCliOptions extends DataOptions {
  domain: string;
  host?: string[];
  policy: PolicyDefault;
  sipPort?: number;
  wssPort?: number;
  json?: boolean;
}

export function registerInit(program: Command): void {
  withDataOption(
    program
      .command('init')
      .description('create a data folder: deployment CA, server certificate, database, config.json')
      .requiredOption('--domain <domain>', 'SIP domain of this server (users are user@DOMAIN)')
      .option(
        '--host <name-or-ip>',
        'name or IP address in the server certificate; repeat for more; the first is put in invite links (default: localhost, 127.0.0.1, ::1)',
        collect,
      )
      .addOption(
        new Option('--policy <default>', 'connection policy default')
          .choices(['allow-all', 'deny-all'])
          .default('allow-all'),
      )
      .option('--sip-port <port>', 'SIP over TLS port (default 5061)', portArg)
      .option('--wss-port <port>', 'secure WebSocket and enrolment port (default 5443)', portArg)
      .option('--json', 'print the result as JSON'),
  ).action((opts: InitCliOptions) => {
    const dataDir = resolveDataDir(opts.data);
    const r = initDataDir({
      dataDir,
      domain: opts.domain,
      ...(opts.host ? { hosts: opts.host } : {}),
      policyDefault: opts.policy,
      ...(opts.sipPort !== undefined ? { sipPort: opts.sipPort } : {}),
      ...(opts.wssPort !== undefined ? { wssPort: opts.wssPort } : {}),
    });
    if (opts.json) {
      printJson({
        dataDir: r.dataDir,
        domain: r.config.domain,
        hosts: r.config.hosts,
        policyDefault: r.config.policyDefault,
        caFingerprint: r.caFingerprint,
      });
      return;
    }
    const d = JSON.stringify(r.dataDir).slice(1, -1);
    const dataArg = /\s/.test(d) ? `--data "${d}"` : `--data ${d}`;
    out(`Created ${r.dataDir}`);
    out(`  domain          ${r.config.domain}`);
    out(`  hosts           ${r.config.hosts.join(', ')}  (invite links use ${r.config.hosts[0]})`);
    out(`  SIP over TLS    port ${r.config.sip.port}; WSS and enrolment port ${r.config.wss.port}`);
    out(`  policy default  ${r.config.policyDefault}`);
    out(`  CA fingerprint  ${r.caFingerprint}`);
    out('');
    const first = r.config.hosts[0] ?? '';
    if (first === 'localhost' || first.startsWith('127.') || first === '::1') {
      out(`Invite links point to ${first}: they work on this computer only. To invite other machines,`);
      out('create the folder with --host NAME-OR-IP (repeatable; the first one goes into invite links).');
      out('');
    }
    out('Keep ca/ca.key secret: it can impersonate this server. Next steps:');
    out(`  ${PROGRAM} start ${dataArg}`);
    out(`  ${PROGRAM} invite alice ${dataArg}      # prints a join link and QR code`);
    out(`  ${PROGRAM} user add bob --password-stdin ${dataArg}`);
  });
}
