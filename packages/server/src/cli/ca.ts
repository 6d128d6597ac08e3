import type { Command } from 'commander';
import { Option } from 'commander';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { LocalAuthority, type CertificateAuthority } from '../ca/authority.js';
import { assertKeyMatchesCertificate, fingerprint } from '../ca/ca.js';
import { CA_PASSPHRASE_ENV, readKeyAndCertificate, readPassphrase, readPrivateKeyFile } from '../ca/files.js';
import { connectRemoteAuthority } from '../ca/remote.js';
import {
  DEFAULT_CA_SERVICE_HOST,
  DEFAULT_CA_SERVICE_PORT,
  assertCaFolderApart,
  caFolderPaths,
  createCaFolder,
  loadCaFolderConfig,
  serveAuthority,
} from '../ca/service.js';
import { formatHostPort, type HostPort } from '../config/address.js';
import { loadConfig, parseConfig } from '../config/config.js';
import { dataPaths, resolveDataDir } from '../config/paths.js';
import { RevocationList } from '../issuance/revocation.js';
import { createLogger } from '../log/logger.js';
import {
  CliError,
  PROGRAM,
  hostPortArg,
  isExpectedError,
  out,
  readTextFile,
  remoteHostPortArg,
  withData,
  withDataOption,
} from './common.js';
import type { DataOptions } from './common.js';
import { LOG_LEVELS } from './start.js';

/** `tsunagu-server ca …`: the deployment CA. */
export function registerCa(program: Command): Command {
  const ca = program.command('ca').description('the deployment certificate authority');

  withDataOption(
    ca
      .command('export')
      .description(
        'print the CA certificate (PEM) for hosts that should trust this deployment; reads only ca/ca.pem, so it works where the CA key is kept elsewhere',
      ),
  ).action((opts: DataOptions) => {
    // Re-encoded from the DER: exactly one certificate, LF line ends, nothing else from the file.
    process.stdout.write(readCaCertificate(opts).toString());
  });

  withDataOption(
    ca
      .command('fingerprint')
      .description(
        "print the CA certificate's SHA-256 fingerprint (sha256:AB:CD:…), e.g. for the admin of another domain to give to `peer add`; reads only ca/ca.pem",
      ),
  ).action((opts: DataOptions) => {
    out(fingerprint(readCaCertificate(opts).toString()));
  });

  registerCaService(ca);
  return ca;
}

/** The data folder's CA certificate (`ca/ca.pem`), with a one-line error when it is missing or not a certificate. */
export function readCaCertificate(opts: DataOptions): X509Certificate {
  const dataDir = resolveDataDir(opts.data);
  const file = dataPaths(dataDir).caCert;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(
        `${file} is missing: is ${dataDir} a data folder? (create one with ${PROGRAM} init)`,
      );
    }
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return new X509Certificate(text);
  } catch {
    throw new CliError(`${file} does not hold a PEM certificate`);
  }
}

// ---- the CA as its own process (ca serve, ca crl) ----

interface CaServeOptions extends DataOptions {
  listen?: HostPort;
  caPassphraseFile?: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

interface CaSplitOptions extends DataOptions {
  caData: string;
  caListen?: HostPort;
  caPassphraseFile?: string;
}

interface CaCrlOptions extends DataOptions {
  caPassphraseFile?: string;
}

/** How long the CA service may take to close after SIGTERM/SIGINT before the process exits 1. */
const CA_CLOSE_TIMEOUT_MS = 10_000;

const passphraseOption = (): Option =>
  new Option(
    '--ca-passphrase-file <file>',
    `the CA key's passphrase, on the first line of FILE (mode 0600; default: $${CA_PASSPHRASE_ENV})`,
  );

/**
 * `ca serve` (the default: `tsunagu-server ca --data CADIR`) runs the CA of a CA folder made by
 * `init --ca-data CADIR` as its own process, and `ca crl` prints a CRL. The admin runs the CA process
 * and the session server (`start --data SRV`) side by side, typically on two machines or under two
 * accounts, so that the session server never holds the CA key.
 */
function registerCaService(ca: Command): void {
  withDataOption(
    ca
      .command('serve', { isDefault: true })
      .description(
        'run the CA as its own process (the default of `ca`): the only holder of the CA key of a CA folder made by `init --ca-data`, answering the session server over mutual TLS',
      )
      .option('--listen <host:port>', 'listen here instead of ca.json listen.host:listen.port', hostPortArg)
      .addOption(passphraseOption())
      .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info')),
  ).action(async (opts: CaServeOptions) => {
    const dir = resolveDataDir(opts.data);
    const config = loadCaFolderConfig(dir);
    const p = caFolderPaths(dir);
    const authority = LocalAuthority.open(p, readPassphrase({ file: opts.caPassphraseFile }));
    const tls = readKeyAndCertificate(p.tlsKey, p.tlsCert);
    const log = createLogger(opts.logLevel).child({ module: 'ca' });
    const listen = opts.listen ?? config.listen;
    let service: Awaited<ReturnType<typeof serveAuthority>>;
    try {
      service = await serveAuthority({
        authority,
        domain: config.domain,
        host: listen.host,
        port: listen.port,
        tls: { key: tls.keyPem, cert: tls.certPem },
        caPem: authority.caCertPem,
        auditFile: p.audit,
        log,
      });
    } catch (e) {
      await authority.close();
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        throw new CliError(`cannot listen on ${formatHostPort(listen)}: ${err.message}`);
      }
      throw e;
    }
    const address = formatHostPort(service.address);
    const caFingerprint = fingerprint(authority.caCertPem);
    log.info({ address, domain: config.domain, caFingerprint }, 'CA listening');

    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`${PROGRAM}: ${signal} again, exiting without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      const timer = setTimeout(() => {
        process.stderr.write(`${PROGRAM}: shutdown timed out\n`);
        process.exit(1);
      }, CA_CLOSE_TIMEOUT_MS);
      timer.unref();
      service
        .close()
        .then(() => authority.close())
        .then(
          () => {
            log.info('CA stopped');
            process.exit(0);
          },
          (e: unknown) => {
            process.stderr.write(`${PROGRAM}: error while stopping: ${(e as Error).message}\n`);
            process.exit(1);
          },
        );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

  withDataOption(
    ca
      .command('crl')
      .description(
        'print a CRL (PEM) of the revoked certificates of a session server data folder, signed by its CA: with ca/ca.key when the folder has it, else by the CA process named in config.json ca.remote',
      )
      .addOption(passphraseOption()),
  ).action((opts: CaCrlOptions) =>
    withData(opts, async ({ paths, config, store }) => {
      let authority: CertificateAuthority;
      if (fs.existsSync(paths.caKey)) {
        authority = LocalAuthority.open(paths, readPassphrase({ file: opts.caPassphraseFile }));
      } else if (config.ca.remote) {
        authority = await connectRemoteAuthority(config.ca.remote, {
          key: readTextFile(paths.serverKey),
          cert: readTextFile(paths.serverCert),
          ca: readTextFile(paths.caCert),
        });
      } else {
        throw new CliError(
          `${paths.caKey} is missing and config.json names no ca.remote: this folder has no CA to sign a CRL`,
        );
      }
      try {
        // The list and cRLNumber the running server's `GET /ca.crl` gives.
        const revocations = new RevocationList(store, authority, createLogger('silent'));
        process.stdout.write(await revocations.crl());
      } catch (e) {
        if (isExpectedError(e)) throw e;
        throw new CliError((e as Error).message);
      } finally {
        await authority.close();
      }
    }),
  );

  withDataOption(
    ca
      .command('split')
      .description(
        'move the CA key of an existing data folder out into a new CA folder run by `ca --data CADIR`, and point the data folder at it (config.json ca.remote); stop the server first',
      )
      .requiredOption('--ca-data <dir>', 'the new CA folder (must not exist, or be empty)')
      .option(
        '--ca-listen <host:port>',
        `where the CA process listens and the server connects (default ${DEFAULT_CA_SERVICE_HOST}:${DEFAULT_CA_SERVICE_PORT})`,
        remoteHostPortArg,
      )
      .addOption(passphraseOption()),
  ).action((opts: CaSplitOptions) => {
    const dataDir = resolveDataDir(opts.data);
    const paths = dataPaths(dataDir);
    const config = loadConfig(dataDir);
    if (config.ca.remote) {
      throw new CliError(
        `${dataDir} already uses the CA process at ${formatHostPort(config.ca.remote)} (config.json ca.remote)`,
      );
    }
    const listen = opts.caListen ?? { host: DEFAULT_CA_SERVICE_HOST, port: DEFAULT_CA_SERVICE_PORT };
    const caDir = resolveDataDir(opts.caData);
    assertCaFolderApart(caDir, paths.root);
    const passphrase = readPassphrase({ file: opts.caPassphraseFile });
    // Checks the mode and the passphrase; an encrypted key stays encrypted in the CA folder.
    const { key, encrypted } = readPrivateKeyFile(paths.caKey, passphrase);
    const certPem = readTextFile(paths.caCert);
    assertKeyMatchesCertificate(key, certPem, paths); // before anything is written
    const folder = createCaFolder({
      dir: caDir,
      domain: config.domain,
      listen,
      ca: { keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem },
      ...(encrypted && passphrase !== undefined ? { passphrase } : {}),
    });
    try {
      void LocalAuthority.open(caFolderPaths(caDir), encrypted ? passphrase : undefined).close(); // reads back
      // config.json as the admin wrote it, with ca.remote added; replaced atomically.
      const raw = JSON.parse(readTextFile(paths.config)) as Record<string, unknown>;
      const caSection = (raw.ca ?? {}) as Record<string, unknown>;
      raw.ca = { ...caSection, remote: { host: listen.host, port: listen.port } };
      parseConfig(raw);
      const tmp = `${paths.config}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify(raw, null, 2)}\n`, {
        mode: fs.statSync(paths.config).mode & 0o777,
      });
      fs.renameSync(tmp, paths.config);
    } catch (e) {
      folder.remove();
      throw e;
    }
    fs.rmSync(paths.caKey);
    out(`Moved the CA key to ${caFolderPaths(caDir).caKey}; ${paths.caKey} is removed.`);
    out(`${paths.config} now names the CA process at ${formatHostPort(listen)} (ca.remote).`);
    out(
      'Copy the CA folder to the machine or account that will run it (modes kept), remove it here, and run:',
    );
    out(`  ${PROGRAM} ca --data ${caDir}`);
    out(`  ${PROGRAM} start --data ${dataDir}`);
    out('Backups made before this still hold the CA key: keep them as secret as the CA folder.');
  });
}
