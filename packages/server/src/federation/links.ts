import type { X509Certificate } from 'node:crypto';
import { canonicalIp } from '@tsunagu/protocol';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import type { Peer } from '../store/index.js';
import type { Connection } from '../transport/connection.js';
import { PeerRefusedError, type ConnectFn } from '../transport/tls.js';
import { peerCertificateProblem } from './peer-certificate.js';
import { connectByDns, type DnsOptions } from './srv.js';

/**
 * Links to the session servers of other domains (DESIGN.md "Several servers"). One link per peer
 * domain carries both directions (RFC 5923-style reuse: only a link whose certificate proved the peer's
 * domain is reused); whoever needs it first opens it. A link is a peer link only once it proved the
 * domain — a chain to the CA the admin configured for it, naming the domain — or, for a peer configured
 * as insecure plain TCP, came from its address.
 */
export class PeerLinks {
  #peers = new Map<string, Peer>();
  readonly #opening = new Map<string, Promise<Connection>>();
  /** The live links that proved each peer domain (usually one; two when both ends opened at once). */
  readonly #links = new Map<string, Set<Connection>>();

  constructor(
    private readonly o: {
      connect: ConnectFn;
      log: Logger;
      metrics: Metrics;
      /** Bound on each connection attempt. */
      timeoutMs: number;
      /** How a peer without a fixed address is found (federation/srv.ts). */
      dns: DnsOptions;
    },
  ) {}

  /** The configured peers changed (the admin CLI): links to a removed or changed peer close. */
  configure(peers: readonly Peer[]): void {
    const next = new Map(peers.map((p) => [p.domain, p]));
    for (const [domain, links] of this.#links) {
      const before = this.#peers.get(domain);
      const after = next.get(domain);
      if (after && before && samePeer(before, after)) continue;
      for (const conn of [...links]) conn.close('federation peer removed or changed');
    }
    this.#peers = next;
  }

  get(domain: string): Peer | undefined {
    return this.#peers.get(domain.toLowerCase());
  }

  /** The peers reached over mutual TLS, sorted: the ones a channel through can be secure end to end. */
  secureDomains(): string[] {
    return [...this.#peers.values()]
      .filter((p) => p.transport === 'tls')
      .map((p) => p.domain)
      .sort();
  }

  /** An inbound TLS client whose certificate is not from our CA: a configured peer, if its chain proves one. */
  recognise(conn: Connection, chain: readonly X509Certificate[]): void {
    for (const peer of this.#peers.values()) {
      if (peer.transport !== 'tls') continue;
      if (peerCertificateProblem(chain, peer) === undefined) {
        this.#adopt(conn, peer.domain);
        this.o.log.info({ conn: conn.id, peer: peer.domain }, 'federation link from peer');
        return;
      }
    }
    this.o.metrics.peerRefused.inc();
    this.o.log.info(
      { conn: conn.id, remote: conn.remote.address, subject: chain[0]?.subject },
      'TLS client certificate from an unknown CA: not a peer',
    );
  }

  /** The insecure TCP peer a plain connection comes from, by its address (undefined: refuse it). */
  tcpPeer(remote: string): Peer | undefined {
    const ip = canonicalIp(remote);
    if (ip === undefined) return undefined;
    for (const peer of this.#peers.values())
      if (peer.transport === 'tcp' && canonicalIp(peer.host) === ip) return peer;
    return undefined;
  }

  /** A plain TCP connection the listener admitted: the insecure peer's link, or closed if none (any more). */
  adoptTcp(conn: Connection): void {
    const peer = this.tcpPeer(conn.remote.address);
    if (peer) this.#adopt(conn, peer.domain);
    else conn.close('not a peer');
  }

  #adopt(conn: Connection, domain: string): void {
    conn.peer = { domain };
    let links = this.#links.get(domain);
    if (!links) this.#links.set(domain, (links = new Set()));
    links.add(conn);
    conn.onClose(() => {
      links.delete(conn);
      if (links.size === 0 && this.#links.get(domain) === links) this.#links.delete(domain);
    });
  }

  /** The live link to `domain`, opened now if there is none. Rejects with why it could not be. */
  link(domain: string): Promise<Connection> {
    const peer = this.get(domain);
    if (!peer) return Promise.reject(new Error(`${domain} is not a federation peer`));
    for (const conn of this.#links.get(peer.domain) ?? []) if (!conn.closed) return Promise.resolve(conn);
    let opening = this.#opening.get(peer.domain);
    if (!opening) {
      opening = this.#open(peer).finally(() => this.#opening.delete(peer.domain));
      this.#opening.set(peer.domain, opening);
    }
    return opening;
  }

  async #open(peer: Peer): Promise<Connection> {
    try {
      // Found by DNS or not, the link must prove the domain in #connect: DNS can only deny service.
      const conn =
        peer.host === null
          ? await connectByDns(peer.domain, { ...this.o.dns, log: this.o.log }, (host, port) =>
              this.#connect(peer, host, port),
            )
          : await this.#connect(peer, peer.host, peer.port);
      this.#adopt(conn, peer.domain);
      this.o.log.info(
        { conn: conn.id, peer: peer.domain, transport: conn.transport },
        conn.transport === 'TLS'
          ? 'federation link open'
          : 'federation link open over plain TCP (not secure)',
      );
      return conn;
    } catch (err) {
      this.o.log.warn({ peer: peer.domain, err: (err as Error).message }, 'federation link failed');
      throw err;
    }
  }

  /** One connection attempt to `host:port`, its certificate judged against what `peer` was configured with. */
  async #connect(peer: Peer, host: string, port: number): Promise<Connection> {
    const tlsPeer = peer.transport === 'tls';
    try {
      return await this.o.connect(
        { host, port, transport: tlsPeer ? 'TLS' : 'TCP', servername: peer.domain },
        {
          timeoutMs: this.o.timeoutMs,
          ...(tlsPeer ? { check: (chain: X509Certificate[]) => peerCertificateProblem(chain, peer) } : {}),
        },
      );
    } catch (err) {
      if (err instanceof PeerRefusedError) this.o.metrics.peerRefused.inc();
      throw err;
    }
  }
}

const samePeer = (a: Peer, b: Peer): boolean =>
  a.host === b.host &&
  a.port === b.port &&
  a.caFingerprint === b.caFingerprint &&
  a.transport === b.transport;
