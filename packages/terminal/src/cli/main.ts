import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ipFamily, isLoopbackIp } from '@tsunagu/protocol';
import { channelAddresses } from '../channel/addresses.js';
import { credentialsOf, enrolProfile, loginProfile } from '../core/account.js';
import { Terminal } from '../core/terminal.js';
import { mib, runDaemon, sendFiles } from './transfer-commands.js';
import { CA_FILE, openProfile, type Profile } from '../identity/index.js';
import {
  DEFAULT_SHARE_PORT,
  dnsNames,
  parseListen,
  requireCaCertificate,
  serveShare,
  type ShareDownload,
} from '../share/index.js';
import { readHistory } from '../core/history.js';
import { nextEvent } from '../core/events.js';
import { connectControl, DAEMON_FILE, serveControl, type DaemonInfo } from '../daemon/control.js';
import { serveGui } from '../daemon/gui.js';
import { TerminalHost } from '../core/host.js';
import type { Snapshot, TerminalApi } from '@tsunagu/protocol';
import { join, resolve } from 'node:path';
import { resolveProfileDir } from './profile-dir.js';
import { fingerprint } from '@tsunagu/server/ca';

/**
 * `tsunagu`: the terminal from a shell. Errors are one line on stderr (exit 1; 2 for usage), never a
 * stack trace; `--json` output is for scripts.
 */

class CliError extends Error {}

const out = (line: string) => process.stdout.write(`${line}\n`);

async function connected(profileDir: string): Promise<Terminal> {
  const profile = await openProfile(profileDir);
  const credentials = await credentialsOf(profile);
  if (!credentials)
    throw new CliError(
      `this device has not joined a server yet: run \`tsunagu enroll LINK --profile ${profileDir}\``,
    );
  return Terminal.start({ profile, credentials, signalling: { networkWatch: false } });
}

/** The running daemon's API, when there is one for this profile (a stale daemon.json is ignored). */
async function viaDaemon(profileDir: string): Promise<(TerminalApi & { close(): void }) | undefined> {
  const info = readDaemonInfo(profileDir);
  if (!info) return undefined;
  try {
    return await connectControl(info);
  } catch {
    return undefined;
  }
}

function readDaemonInfo(profileDir: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(profileDir, DAEMON_FILE), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}

/** `127.0.0.1:PORT`, `[::1]:PORT` or `localhost:PORT`; anything else would expose the terminal. */
function loopback(value: string, flag: string): { host: string; port: number } {
  const m = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):(\d+)$/.exec(value);
  if (!m || Number(m[2]) > 65535)
    throw new CliError(`${flag} must be a loopback address: 127.0.0.1:PORT or [::1]:PORT`);
  return { host: m[1] === 'localhost' ? '127.0.0.1' : m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** The renderer bundle: --gui-root, $TSUNAGU_GUI_ROOT, else the desktop app's build next to this package. */
function rendererRoot(given: string | undefined): string {
  const dir =
    given ||
    process.env.TSUNAGU_GUI_ROOT ||
    fileURLToPath(new URL('../../../../apps/desktop/out/renderer', import.meta.url));
  if (!existsSync(join(dir, 'index.html')))
    throw new CliError(
      `the web GUI is not built (no index.html in ${dir}): run \`npm run build -w @tsunagu/desktop\`, or pass --gui-root`,
    );
  return dir;
}

function openInBrowser(link: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  // The link goes as an argument, never through a shell.
  spawn(cmd, [link], { stdio: 'ignore', detached: true })
    .on('error', () => undefined)
    .unref();
}

/** Runs `fn` against the running daemon if there is one, else against a terminal started for it. */
async function withApi<T>(
  profileDir: string,
  fn: (api: TerminalApi, standalone: Terminal | undefined) => Promise<T>,
): Promise<T> {
  const daemon = await viaDaemon(profileDir);
  if (daemon) {
    try {
      return await fn(daemon, undefined);
    } finally {
      daemon.close();
    }
  }
  const terminal = await connected(profileDir);
  try {
    return await fn(terminal, terminal);
  } finally {
    await terminal.stop();
  }
}

async function readStdinLine(): Promise<string> {
  const text = readFileSync(0, 'utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (!line) throw new CliError('no password on standard input');
  return line;
}

export function buildProgram(): Command {
  const program = new Command('tsunagu')
    .description(
      'Tsunagu terminal: secure channels and peer-to-peer file transfer with members of your organisation',
    )
    .showHelpAfterError()
    .exitOverride();
  const withProfile = (c: Command) =>
    c.option(
      '--profile <dir>',
      'profile folder (default: $TSUNAGU_PROFILE, else the per-user app-data folder)',
    );

  withProfile(
    program.command('enroll').argument('<link>', "the tsunagu://join?... link from your server's admin"),
  )
    .description(
      'join a server with an invite link (checks the server against the CA fingerprint in the link)',
    )
    .action(async (link: string, o: { profile?: string }) => {
      const dir = resolveProfileDir(o.profile);
      const profile = await enrolProfile(dir, link);
      out(
        `Joined as ${profile.data.user?.aor} (device ${profile.data.user?.device ?? '?'}); profile: ${dir}`,
      );
      out(`This device's certificate fingerprint: ${profile.identity.fingerprint}`);
    });

  withProfile(
    program
      .command('login')
      .requiredOption('--server <host:port>', 'SIP over TLS address of the server')
      .option(
        '--https <host:port>',
        "the server's HTTPS (enrolment) address, to fetch its CA (default: port 5443 of --server)",
      )
      .requiredOption('--ca-fingerprint <sha256:…>', 'the SHA-256 fingerprint of the deployment CA')
      .requiredOption('--user <name>', 'your user name')
      .requiredOption('--password-stdin', 'read the password from standard input'),
  )
    .description('join a server with an account password')
    .action(
      async (o: {
        profile?: string;
        server: string;
        https?: string;
        caFingerprint: string;
        user: string;
      }) => {
        const dir = resolveProfileDir(o.profile);
        const password = await readStdinLine();
        const profile = await loginProfile(dir, {
          server: o.server,
          ...(o.https ? { https: o.https } : {}),
          caFingerprint: o.caFingerprint,
          user: o.user,
          password,
        });
        out(`Logged in as ${profile.data.user?.aor}; profile: ${dir}`);
      },
    );

  withProfile(program.command('status').option('--json', 'print JSON'))
    .description('connect, register, and show the connection and contacts')
    .action(async (o: { profile?: string; json?: boolean }) => {
      const s = await snapshotOf(resolveProfileDir(o.profile));
      if (o.json) out(JSON.stringify({ connection: s.connection, contacts: s.contacts }));
      else {
        out(`${s.connection.aor}: ${s.connection.state} at ${s.connection.server}`);
        out(`${s.contacts.filter((c) => c.online).length} of ${s.contacts.length} contacts online`);
      }
    });

  withProfile(program.command('contacts').option('--json', 'print JSON'))
    .description('list the people you may reach, with who is online')
    .action(async (o: { profile?: string; json?: boolean }) => {
      const contacts = (await snapshotOf(resolveProfileDir(o.profile))).contacts;
      if (o.json) out(JSON.stringify(contacts));
      else if (contacts.length === 0) out('No contacts: the policy lets you reach nobody yet.');
      else
        for (const c of contacts)
          out(`${c.online ? '●' : '○'} ${c.user.padEnd(20)} ${c.online ? 'online' : 'offline'}  ${c.aor}`);
    });

  withProfile(
    program
      .command('send')
      .argument('<contact>', 'who to send to (a user name; user@domain for a peer domain)')
      .argument('<paths...>', 'files and folders'),
  )
    .description(
      'open a secure channel to a contact and send files and folders; exits 0 only when the receiver verified every file',
    )
    .action(async (contact: string, paths: string[], o: { profile?: string }) => {
      // Absolute: a daemon resolves paths against its own working folder, not the shell's.
      const absolute = paths.map((p) => resolve(p));
      const failed = await withApi(resolveProfileDir(o.profile), (api) =>
        sendFiles(api, contact, absolute, process.stderr),
      );
      if (failed > 0) throw new CliError(`${failed} of the files did not arrive verified`);
    });

  withProfile(program.command('history').option('--json', 'print JSON'))
    .description('list finished transfers, newest first')
    .action(async (o: { profile?: string; json?: boolean }) => {
      const entries = await readHistory(resolveProfileDir(o.profile));
      if (o.json) out(JSON.stringify(entries));
      else if (entries.length === 0) out('No transfers yet.');
      else
        for (const e of entries)
          out(
            `${e.at}  ${e.direction === 'send' ? '→' : '←'} ${e.peer}  ${e.name}  ${e.size} bytes  ${e.state}${e.reason ? ` (${e.reason})` : ''}`,
          );
    });

  withProfile(
    program
      .command('daemon')
      .option('--downloads <dir>', 'where received files go (default: the profile setting, else ~/Downloads)')
      .option('--accept-from <user...>', 'accept channels and files from these contacts without asking')
      .option('--control <host:port>', 'local control endpoint for the CLI (loopback only)', '127.0.0.1:0')
      .option('--gui <host:port>', 'serve the web GUI here (loopback only), e.g. 127.0.0.1:8384')
      .option('--gui-root <dir>', "the GUI's files (default: the desktop app's built renderer)")
      .option(
        '--channel-address <ip...>',
        "addresses to accept channels on and offer to peers (default: all of this machine's)",
      ),
  )
    .description('run the terminal: stay registered, accept channels and files from the contacts you name')
    .action(
      async (o: {
        profile?: string;
        downloads?: string;
        acceptFrom?: string[];
        control: string;
        gui?: string;
        guiRoot?: string;
        channelAddress?: string[];
      }) => {
        const profileDir = resolveProfileDir(o.profile);
        const control = loopback(o.control, '--control');
        const gui = o.gui === undefined ? undefined : loopback(o.gui, '--gui');
        const guiRoot = gui ? rendererRoot(o.guiRoot) : undefined;
        if (!gui && !(await credentialsOf(await openProfile(profileDir, { create: true })))) {
          throw new CliError(
            `this device has not joined a server yet: run \`tsunagu enroll LINK --profile ${profileDir}\`, or start the daemon with --gui and join from the page`,
          );
        }
        const host = await TerminalHost.open({
          profileDir,
          ...(o.acceptFrom ? { acceptFrom: o.acceptFrom } : {}),
          autoAcceptFiles: true,
          ...(o.downloads ? { downloadDir: o.downloads } : {}),
          ...(o.channelAddress
            ? { terminal: { channel: { addresses: o.channelAddress, localAddresses: o.channelAddress } } }
            : {}),
        });
        const web = gui ? await serveGui(host, { root: guiRoot!, profileDir, ...gui }) : undefined;
        const endpoint = await serveControl(host, {
          profileDir,
          ...control,
          ...(web ? { gui: web.link } : {}),
        });
        if (web) out(`web GUI at ${web.origin} — open it with: tsunagu gui --profile ${profileDir}`);
        try {
          await runDaemon(host, (line) => out(line));
        } finally {
          await web?.close();
          await endpoint.close();
        }
      },
    );

  withProfile(
    program
      .command('share')
      .argument('<path>', 'the file to share')
      .option(
        '--listen <host:port>',
        `where to listen: HOST:PORT, [IPv6]:PORT or :PORT for every address (default :${DEFAULT_SHARE_PORT})`,
        listenOption,
      ),
  )
    .description(
      "serve one file over HTTPS with this device's certificate from the deployment CA, for hosts outside the system that hold the CA certificate (curl --cacert ca.pem)",
    )
    .action(async (path: string, o: { profile?: string; listen?: { host?: string; port: number } }) => {
      const { profile, caPem } = await withCurrentCertificate(resolveProfileDir(o.profile));
      const { identity } = profile;
      requireCaCertificate(identity);
      const names = dnsNames(identity.certificate);
      if (names.length === 0)
        throw new CliError(
          "this device's certificate names no DNS host, so no outside host could verify it; ask your server's admin",
        );
      const share = await serveShare({
        path: resolve(path),
        secureContext: identity.secureContext({ minVersion: 'TLSv1.2' }),
        ...o.listen,
        onDownload: (d) => out(downloadLine(share.file.name, d)),
      });
      const { name, size } = share.file;
      const { host, port } = share.address;
      const ca = caPem ? join(profile.dir, CA_FILE) : 'ca.pem';
      out(
        `sharing ${name} (${mib(size)}) on ${bracketed(host)}:${port} until Ctrl-C; hosts that trust the deployment CA download it from:`,
      );
      for (const dns of names) out(share.url(dns));
      const ips = reachableAddresses(host);
      const ip = ips.length === 1 ? bracketed(ips[0]!) : '<ip>';
      out('where no DNS server knows that name:');
      out(
        `  curl --cacert ${shellQuote(ca)} --resolve ${names[0]}:${port}:${ip} ${share.url(names[0]!)} -o ${shellQuote(name)}`,
      );
      if (ips.length !== 1)
        out(
          `  <ip>: ${ips.length > 0 ? `one of ${ips.map(bracketed).join(', ')}` : "this machine's address"}`,
        );
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await share.close();
      out(`stopped sharing ${name} after ${share.downloads} download${share.downloads === 1 ? '' : 's'}`);
    });

  withProfile(
    program
      .command('keys')
      .argument('<contact>', 'a user name; user@domain for a peer domain')
      .option('--json', 'print JSON'),
  )
    .description(
      "fetch a contact's current certificates and public keys from the key directory (checked against the deployment CA, or a peer domain's CA that comes with them)",
    )
    .action(async (contact: string, o: { profile?: string; json?: boolean }) => {
      const keys = await withApi(resolveProfileDir(o.profile), (api) =>
        api.call('keys.get', { user: contact }),
      );
      if (o.json) out(JSON.stringify(keys));
      else if (keys.keys.length === 0) out(`${keys.aor} has no current certificate.`);
      else
        for (const k of keys.keys) {
          if (k === keys.keys[0] && keys.ca)
            out(`issued by ${keys.aor.slice(keys.aor.lastIndexOf('@') + 1)}'s CA, ${fingerprint(keys.ca)}`);
          out(`${keys.aor}  device ${k.device} (${k.name})  valid until ${k.notAfter}`);
          out(`  fingerprint ${k.fingerprint}`);
          out(k.publicKey.trimEnd());
        }
    });

  withProfile(program.command('gui').option('--print', 'only print the access link'))
    .description("open the running daemon's web GUI (its access link carries a per-run token)")
    .action(async (o: { profile?: string; print?: boolean }) => {
      const dir = resolveProfileDir(o.profile);
      const link = readDaemonInfo(dir)?.gui;
      if (!link)
        throw new CliError(
          'no daemon with a web GUI runs for this profile (start one with `tsunagu daemon --gui 127.0.0.1:8384`)',
        );
      out(link);
      if (!o.print) openInBrowser(link);
    });
  return program;
}

function listenOption(value: string): { host?: string; port: number } {
  try {
    return parseListen(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function downloadLine(name: string, d: ShareDownload): string {
  const what = d.range ? `bytes ${d.range.start}-${d.range.end} of ${name}` : name;
  return `sent ${what} to ${d.remote} (${mib(d.bytes)} in ${(d.ms / 1000).toFixed(1)} s)`;
}

/** The addresses an outside host could reach the share on: the listener's own, else this machine's. */
function reachableAddresses(host: string): string[] {
  if (host !== '::' && host !== '0.0.0.0') return [host];
  // The channel's own list (link-local IPv6 left out: it needs a zone a URL cannot carry to curl),
  // without its loopback stand-in, which no outside host reaches.
  return channelAddresses().filter((a) => !isLoopbackIp(a) && (host === '::' || ipFamily(a) === 4));
}

const bracketed = (ip: string) => (isIPv6(ip) ? `[${ip}]` : ip);

/** A word a POSIX shell reads back as it is. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The profile and its stored CA certificate, with a current device certificate from the deployment CA
 * when the device can get one: a joined device whose certificate is missing, expired or due is
 * registered just long enough to renew it (a running daemon renews on its own, so usually nothing
 * happens here).
 */
async function withCurrentCertificate(
  profileDir: string,
): Promise<{ profile: Profile; caPem: string | undefined }> {
  const profile = await openProfile(profileDir);
  const credentials = await credentialsOf(profile);
  // For the curl hint; credentialsOf has read it already when the device has joined.
  const caPem = credentials?.caPem ?? (await profile.readCaCertificate().catch(() => undefined));
  if (!credentials || profile.identity.renewalTime(credentials.caPem, credentials.aor) > new Date())
    return { profile, caPem };
  process.stderr.write('asking the deployment CA for a current certificate for this device…\n');
  const terminal = await Terminal.start({ profile, credentials, signalling: { networkWatch: false } });
  try {
    await terminal.certificates.ready();
  } catch (e) {
    // A certificate that is still valid serves; requireCaCertificate refuses one that is not.
    process.stderr.write(`tsunagu: ${(e as Error).message}\n`);
  } finally {
    await terminal.stop();
  }
  return { profile, caPem };
}

/** A snapshot from the running daemon, or from a terminal started just for it. */
function snapshotOf(profileDir: string): Promise<Snapshot> {
  return withApi(profileDir, async (api, standalone) => {
    if (standalone) await contactsArrived(standalone);
    return api.call('snapshot', {});
  });
}

/** The first contact lists (ours, then each peer domain's) follow registration closely; wait for them (bounded). */
async function contactsArrived(terminal: Terminal, ms = 3000): Promise<void> {
  const complete = () => terminal.signalling.contactsComplete;
  if (complete()) return;
  await nextEvent(terminal, (e) => e.type === 'contacts' && complete(), ms).catch(() => undefined);
}

export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.'))
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
    process.stderr.write(`tsunagu: ${e.message}\n`);
    if (process.env.TSUNAGU_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// Run directly (`node main.ts` in tests); bin/tsunagu.js calls run() itself.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await run(process.argv.slice(2));
}
