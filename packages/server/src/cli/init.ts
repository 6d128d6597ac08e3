import type { Command } from 'commander';
import { Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { createDeploymentCa, fingerprint, issueServerCertificate } from '../ca/ca.js';
import {
  CA_PASSPHRASE_ENV,
  newPrivateFolder,
  readPassphrase,
  writeCertificateFile,
  writeKeyAndCertificate,
} from '../ca/files.js';
import {
  DEFAULT_CA_SERVICE_HOST,
  DEFAULT_CA_SERVICE_PORT,
  assertCaFolderApart,
  createCaFolder,
} from '../ca/service.js';
import { formatHostPort, isHostname, normaliseHost } from '../config/address.js';
import type { HostPort } from '../config/address.js';
import { createConfig, serialiseConfig } from '../config/config.js';
import type { Config, PolicyDefault } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import { dataPaths, resolveDataDir } from '../config/paths.js';
import { openStore } from '../store/store.js';
import {
  CliError,
  PROGRAM,
  collect,
  out,
  portArg,
  printJson,
  remoteHostPortArg,
  withDataOption,
} from './common.js';
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
  /** Encrypt the CA key with this passphrase (PKCS#8, AES-256-CBC); without one it is written in clear, 0600. */
  caPassphrase?: string;
  /**
   * Split mode: create the CA in this separate CA folder (`ca/ca.key`, `ca/ca.pem`, the CA service's
   * TLS certificate in `tls/`, `ca.json`) and give the data folder only `ca/ca.pem` and `ca.remote`.
   * The admin then runs two processes, typically on two machines or under two accounts:
   * `tsunagu-server ca --data CADIR` (the only holder of the CA key) and `tsunagu-server start --data
   * DATA`, which asks the CA process for certificates over mutual TLS.
   */
  caDataDir?: string;
  /** Where the CA process listens and the session server connects; default 127.0.0.1:9462. */
  caListen?: HostPort;
}

export interface InitResult {
  dataDir: string;
  config: Config;
  caFingerprint: string;
  /** Whether ca/ca.key is encrypted with a passphrase. */
  caKeyEncrypted: boolean;
  /** Split mode: the CA folder, which alone holds ca/ca.key. */
  caDataDir?: string;
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

  let caFolder: { root: string; listen: HostPort } | undefined;
  if (options.caDataDir !== undefined) {
    const root = path.resolve(options.caDataDir);
    assertCaFolderApart(root, paths.root);
    caFolder = {
      root,
      listen: options.caListen ?? { host: DEFAULT_CA_SERVICE_HOST, port: DEFAULT_CA_SERVICE_PORT },
    };
    config.ca.remote = { ...caFolder.listen };
  } else if (options.caListen !== undefined) {
    throw new CliError('--ca-listen goes with --ca-data (the folder of a CA that runs as its own process)');
  }

  const folder = newPrivateFolder(paths.root, 'choose a new folder (nothing was changed)');
  let createdCaFolder: { remove(): void } | undefined;
  const cleanup = () => {
    createdCaFolder?.remove();
    folder.remove(); // the data folder and any parents it made, or the contents of an empty one
  };

  try {
    folder.create();
    fs.mkdirSync(paths.caDir, { mode: 0o700 });
    fs.mkdirSync(paths.tlsDir, { mode: 0o700 });
    afterStep?.('folders');

    const ca = createDeploymentCa({ domain: config.domain });
    if (caFolder) {
      // The key goes to the CA folder only; this folder gets the certificate to trust.
      createdCaFolder = createCaFolder({
        dir: caFolder.root,
        domain: config.domain,
        listen: caFolder.listen,
        ca,
        ...(options.caPassphrase !== undefined ? { passphrase: options.caPassphrase } : {}),
      });
      writeCertificateFile(paths.caCert, ca.certPem);
    } else {
      writeKeyAndCertificate(
        paths.caKey,
        paths.caCert,
        ca,
        options.caPassphrase !== undefined ? { passphrase: options.caPassphrase } : {},
      );
    }
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
    return {
      dataDir: paths.root,
      config,
      caFingerprint: fingerprint(ca.certPem),
      caKeyEncrypted: options.caPassphrase !== undefined,
      ...(caFolder ? { caDataDir: caFolder.root } : {}),
    };
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
  caPassphraseFile?: string;
  caData?: string;
  caListen?: HostPort;
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
      .option(
        '--ca-passphrase-file <file>',
        `encrypt the CA key with the passphrase on the first line of FILE (mode 0600; default: $${CA_PASSPHRASE_ENV} if set, else the key is not encrypted)`,
      )
      .option(
        '--ca-data <dir>',
        'run the CA as its own process: create its key and certificate in this separate folder (started with `ca --data DIR`), and give the data folder only ca/ca.pem',
      )
      .option(
        '--ca-listen <host:port>',
        `with --ca-data: where the CA process listens and the server connects; the host is put in its certificate (default ${DEFAULT_CA_SERVICE_HOST}:${DEFAULT_CA_SERVICE_PORT})`,
        remoteHostPortArg,
      )
      .option('--json', 'print the result as JSON'),
  ).action((opts: InitCliOptions) => {
    const dataDir = resolveDataDir(opts.data);
    const caPassphrase = readPassphrase({ file: opts.caPassphraseFile });
    const r = initDataDir({
      dataDir,
      domain: opts.domain,
      ...(opts.host ? { hosts: opts.host } : {}),
      policyDefault: opts.policy,
      ...(opts.sipPort !== undefined ? { sipPort: opts.sipPort } : {}),
      ...(opts.wssPort !== undefined ? { wssPort: opts.wssPort } : {}),
      ...(caPassphrase !== undefined ? { caPassphrase } : {}),
      ...(opts.caData !== undefined ? { caDataDir: resolveDataDir(opts.caData) } : {}),
      ...(opts.caListen !== undefined ? { caListen: opts.caListen } : {}),
    });
    if (opts.json) {
      printJson({
        dataDir: r.dataDir,
        domain: r.config.domain,
        hosts: r.config.hosts,
        policyDefault: r.config.policyDefault,
        caFingerprint: r.caFingerprint,
        caKeyEncrypted: r.caKeyEncrypted,
        ...(r.caDataDir !== undefined && r.config.ca.remote
          ? { caData: r.caDataDir, caListen: formatHostPort(r.config.ca.remote) }
          : {}),
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
    const keyState = r.caKeyEncrypted
      ? `encrypted: the ${r.caDataDir !== undefined ? 'CA process' : 'server'} needs its passphrase ($${CA_PASSPHRASE_ENV} or --ca-passphrase-file)`
      : 'not encrypted (mode 0600; init --ca-passphrase-file FILE encrypts it)';
    out(`  CA key          ${keyState}`);
    if (r.caDataDir !== undefined && r.config.ca.remote) {
      out(
        `  CA folder       ${r.caDataDir}  (holds the CA key; the CA process listens on ${formatHostPort(r.config.ca.remote)})`,
      );
    }
    out('');
    const first = r.config.hosts[0] ?? '';
    if (first === 'localhost' || first.startsWith('127.') || first === '::1') {
      out(`Invite links point to ${first}: they work on this computer only. To invite other machines,`);
      out('create the folder with --host NAME-OR-IP (repeatable; the first one goes into invite links).');
      out('');
    }
    if (r.caDataDir !== undefined) {
      const c = JSON.stringify(r.caDataDir).slice(1, -1);
      out(
        `The CA key is in ${c}/ca/ca.key only: keep that folder on another machine or account, and secret.`,
      );
      out('Run the two processes (the CA first; the server asks it for every certificate):');
      out(`  ${PROGRAM} ca ${/\s/.test(c) ? `--data "${c}"` : `--data ${c}`}`);
    } else {
      out('Keep ca/ca.key secret: it can impersonate this server. Next steps:');
    }
    out(`  ${PROGRAM} start ${dataArg}`);
    out(`  ${PROGRAM} invite alice ${dataArg}      # prints a join link and QR code`);
    out(`  ${PROGRAM} user add bob --password-stdin ${dataArg}`);
  });
}
