import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { fingerprint } from '../ca/ca.js';
import { formatHostPort } from '../config/address.js';
import type { HostPort } from '../config/address.js';
import type { Config } from '../config/config.js';
import { StoreError } from '../store/errors.js';
import { normaliseCaFingerprint } from '../store/peers.js';
import type { Peer, PeerTransport } from '../store/peers.js';
import { readCaCertificate } from './ca.js';
import {
  CliError,
  PROGRAM,
  UsageError,
  isoTime,
  note,
  out,
  printJson,
  remoteHostPortArg,
  table,
  withData,
  withDataOption,
} from './common.js';
import type { DataOptions } from './common.js';

interface PeerAddOptions extends DataOptions {
  address?: HostPort;
  caFingerprint: string;
  insecureTcp?: boolean;
}

const NOT_SECURE =
  'plain TCP: Route-Security shows every path through this leg as not secure, and terminals refuse channels over it';

function fingerprintArg(value: string): string {
  try {
    return normaliseCaFingerprint(value);
  } catch (e) {
    if (e instanceof StoreError) throw new InvalidArgumentError(`${e.message}.`);
    throw e;
  }
}

const describeTransport = (t: PeerTransport) => (t === 'tls' ? 'TLS' : 'plain TCP (not secure)');

/** `sip.b.example:5061`, or where DNS is asked for a peer without a fixed address. */
const describeAddress = (p: Peer) =>
  p.host === null ? `DNS SRV _sips._tcp.${p.domain}` : formatHostPort({ host: p.host, port: p.port });

/**
 * The `peer add` the admin of the other domain runs for this server, or undefined when this server has
 * no fixed SIP port or its CA certificate cannot be read (the peer was added all the same).
 */
function reciprocal(opts: DataOptions, config: Config, peer: Peer): string | undefined {
  if (config.sip.port === 0) return undefined;
  let ours: string;
  try {
    ours = fingerprint(readCaCertificate(opts).toString());
  } catch {
    return undefined;
  }
  const address = formatHostPort({ host: config.hosts[0] ?? config.domain, port: config.sip.port });
  return `${PROGRAM} peer add ${config.domain} --address ${address} --ca-fingerprint ${ours}${peer.transport === 'tcp' ? ' --insecure-tcp' : ''}`;
}

/** `tsunagu-server peer …`: the servers of other domains this one federates with. */
export function registerPeer(program: Command): void {
  const peer = program
    .command('peer')
    .description(
      "federation: the servers of other domains, reached over mutual TLS and checked by their CA's fingerprint",
    );

  withDataOption(
    peer
      .command('add')
      .argument('<domain>', "the other server's SIP domain, e.g. b.example")
      .description('add the server of another domain')
      .option(
        '--address <host:port>',
        'where its SIP TLS listener is (its config.json sip.port, default 5061); IPv6 in brackets. Without it, found by DNS: _sips._tcp.DOMAIN SRV records, else DOMAIN:5061',
        remoteHostPortArg,
      )
      .requiredOption(
        '--ca-fingerprint <sha256:hex>',
        `its CA's fingerprint, as '${PROGRAM} ca fingerprint' prints it there`,
        fingerprintArg,
      )
      .option(
        '--insecure-tcp',
        `plain TCP instead of mutual TLS, for tests and legacy peers (${NOT_SECURE})`,
      ),
  ).action(async (domain: string, opts: PeerAddOptions) => {
    if (opts.insecureTcp && !opts.address) {
      throw new UsageError(
        '--insecure-tcp needs --address HOST:PORT: the plain-TCP listener admits a peer by its IP address, so such a peer cannot be found by DNS',
      );
    }
    await withData(opts, ({ store, config }) => {
      if (domain.trim().toLowerCase() === config.domain) {
        throw new CliError(
          `'${domain}' is this server's own domain (config.json domain): a peer is the server of another domain`,
        );
      }
      const p = store.peers.add({
        domain,
        ...opts.address,
        caFingerprint: opts.caFingerprint,
        transport: opts.insecureTcp ? 'tcp' : 'tls',
      });
      out(
        `Added peer ${p.domain}: ${describeAddress(p)} over ${describeTransport(p.transport)}, CA ${p.caFingerprint}`,
      );
      if (p.transport === 'tcp') note(`note: ${NOT_SECURE}`);
      const back = reciprocal(opts, config, p);
      if (back) note(`On ${p.domain}'s server, its admin runs:\n  ${back}`);
    });
  });

  withDataOption(peer.command('list').description('list the peers').option('--json', 'print JSON')).action(
    async (opts: DataOptions & { json?: boolean }) => {
      await withData(opts, ({ store }) => {
        const peers = store.peers.list();
        if (opts.json) {
          printJson(peers.map((p) => ({ ...p, createdAt: isoTime(p.createdAt) })));
          return;
        }
        if (peers.length === 0) {
          out(
            `No peers. Add one with: ${PROGRAM} peer add DOMAIN --ca-fingerprint sha256:… [--address HOST:PORT]`,
          );
          return;
        }
        out(
          table(
            ['DOMAIN', 'ADDRESS', 'TRANSPORT', 'CA FINGERPRINT'],
            peers.map((p) => [p.domain, describeAddress(p), p.transport, p.caFingerprint]),
          ),
        );
      });
    },
  );

  withDataOption(
    peer.command('remove').argument('<domain>').description('remove the server of another domain'),
  ).action(async (domain: string, opts: DataOptions) => {
    await withData(opts, ({ store }) => {
      const p = store.peers.get(domain);
      if (!p || !store.peers.remove(p.domain)) {
        throw new CliError(`no such peer '${domain}' (${PROGRAM} peer list shows them)`);
      }
      out(`Removed peer ${p.domain} (${describeAddress(p)}).`);
    });
  });
}
