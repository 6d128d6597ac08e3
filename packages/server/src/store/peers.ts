import type { Statement } from 'better-sqlite3';
import { ipVersion, isHostname, type HostPort } from '../config/address.js';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { isDomainName } from './names.js';

/** How a peer's SIP leg runs: mutual TLS, or plain TCP (tests and legacy peers; never a secure path). */
export type PeerTransport = 'tls' | 'tcp';

/** The session server of another domain this server exchanges SIP with. */
export type Peer = {
  /** Its SIP domain, lower-case: `b.example`. */
  domain: string;
  /** Its CA's certificate fingerprint, `sha256:AB:CD:…` (the form of `ca/ca.ts` `fingerprint()`). */
  caFingerprint: string;
  createdAt: number;
} & (
  | {
      /** Where its SIP listener is: a host name (lower-case) or an IP address (IPv6 without brackets). */
      host: string;
      port: number;
      transport: PeerTransport;
    }
  | {
      /** No fixed address: found by DNS (`_sips._tcp.DOMAIN` SRV, else DOMAIN on 5061), over TLS only. */
      host: null;
      port: null;
      transport: 'tls';
    }
);

export interface PeerInput {
  domain: string;
  /** Where its SIP listener is; both or neither. Neither: found by DNS (TLS peers only). */
  host?: string;
  port?: number;
  /** `sha256:` and 32 bytes of hex, with or without colons, any case (see normaliseCaFingerprint). */
  caFingerprint: string;
  /** Default 'tls'. */
  transport?: PeerTransport;
}

interface PeerRow {
  domain: string;
  host: string | null;
  port: number | null;
  ca_fingerprint: string;
  transport: PeerTransport;
  created_at: number;
}

const FINGERPRINT_FORMS = /^sha256:(?:[0-9a-f]{64}|(?:[0-9a-f]{2}:){31}[0-9a-f]{2})$/i;

/**
 * A CA fingerprint as an admin pasted it — `sha256:` followed by the 32 bytes of a SHA-256 in hex, with
 * or without a colon between bytes, in any case — in the one form `fingerprint()` prints and the store
 * keeps: `sha256:AB:CD:…` (upper case, colon-separated). Throws a StoreError naming that form.
 */
export function normaliseCaFingerprint(input: string): string {
  const s = input.trim();
  if (!FINGERPRINT_FORMS.test(s)) {
    throw new StoreError(
      'invalid-argument',
      `invalid CA fingerprint '${input}': expected sha256: followed by 32 bytes in hex, e.g. sha256:AB:CD:…:EF, as 'tsunagu-server ca fingerprint' prints it on the peer`,
    );
  }
  const hex = s.slice('sha256:'.length).replaceAll(':', '').toUpperCase();
  return `sha256:${hex.match(/../g)!.join(':')}`;
}

function normalisePeerDomain(input: string): string {
  const domain = input.trim().toLowerCase();
  if (!isDomainName(domain)) {
    throw new StoreError(
      'invalid-name',
      `invalid peer domain '${input}': expected a DNS name such as b.example`,
    );
  }
  return domain;
}

/** The normalised fixed address, or undefined for a peer found by DNS (neither host nor port given). */
function checkAddress(host: string | undefined, port: number | undefined): HostPort | undefined {
  if (host === undefined && port === undefined) return undefined;
  if (host === undefined || port === undefined) {
    throw new StoreError(
      'invalid-argument',
      'a peer address needs both a host and a port (or neither, to find the peer by DNS)',
    );
  }
  const h = host.trim().toLowerCase();
  if (ipVersion(h) === 0 && !isHostname(h)) {
    throw new StoreError(
      'invalid-argument',
      `invalid peer host '${host}': expected a host name or an IP address (IPv6 without brackets)`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StoreError('invalid-argument', `invalid peer port ${port}: expected 1 to 65535`);
  }
  return { host: h, port };
}

function fromRow(r: PeerRow): Peer {
  const { domain, ca_fingerprint: caFingerprint, created_at: createdAt } = r;
  // The schema keeps host and port NULL together, and only for TLS peers.
  if (r.host === null || r.port === null)
    return { domain, host: null, port: null, caFingerprint, transport: 'tls', createdAt };
  return { domain, host: r.host, port: r.port, caFingerprint, transport: r.transport, createdAt };
}

/**
 * The servers of other domains this one federates with, one per domain. Input is validated and
 * normalised here (domain and host lower-case, the fingerprint in `fingerprint()`'s form), so a reader
 * can compare a presented CA's `fingerprint()` with `caFingerprint` as strings. Adding or removing a
 * peer counts as a change (Store.changeCounter), so the running server picks it up.
 */
export class Peers {
  private readonly q: {
    list: Statement<[], PeerRow>;
    get: Statement<[string], PeerRow>;
    insert: Statement<[string, string | null, number | null, string, PeerTransport, number]>;
    remove: Statement<[string]>;
  };

  constructor(private readonly ctx: StoreContext) {
    const db = ctx.db;
    const columns = 'domain, host, port, ca_fingerprint, transport, created_at';
    this.q = {
      list: db.prepare(`SELECT ${columns} FROM peers ORDER BY domain`),
      get: db.prepare(`SELECT ${columns} FROM peers WHERE domain = ?`),
      insert: db.prepare(`INSERT INTO peers (${columns}) VALUES (?, ?, ?, ?, ?, ?)`),
      remove: db.prepare('DELETE FROM peers WHERE domain = ?'),
    };
  }

  /** Every peer, sorted by domain. */
  list(): Peer[] {
    return this.q.list.all().map(fromRow);
  }

  /** The peer for a domain (any case), or undefined. */
  get(domain: string): Peer | undefined {
    const row = this.q.get.get(domain.trim().toLowerCase());
    return row ? fromRow(row) : undefined;
  }

  /**
   * Adds a peer, at a fixed address or (without host and port) found by DNS; a StoreError
   * ('peer-exists') when its domain already has one, or for bad input.
   */
  add(input: PeerInput): Peer {
    const domain = normalisePeerDomain(input.domain);
    const address = checkAddress(input.host, input.port);
    const caFingerprint = normaliseCaFingerprint(input.caFingerprint);
    const transport = input.transport ?? 'tls';
    if (transport !== 'tls' && transport !== 'tcp') {
      throw new StoreError('invalid-argument', `invalid peer transport '${String(transport)}': tls or tcp`);
    }
    if (transport === 'tcp' && !address) {
      throw new StoreError(
        'invalid-argument',
        'a plain-TCP peer needs a fixed address: its listener admits peers by IP address, so it cannot be found by DNS',
      );
    }
    return this.ctx.transaction(() => {
      if (this.q.get.get(domain)) {
        throw new StoreError(
          'peer-exists',
          `peer '${domain}' already exists: remove it first to change it (tsunagu-server peer remove ${domain})`,
        );
      }
      this.q.insert.run(
        domain,
        address?.host ?? null,
        address?.port ?? null,
        caFingerprint,
        transport,
        this.ctx.now(),
      );
      this.ctx.changed();
      return fromRow(this.q.get.get(domain)!);
    });
  }

  /** Removes the peer for a domain (any case); false when there was none. */
  remove(domain: string): boolean {
    const removed = this.q.remove.run(domain.trim().toLowerCase()).changes === 1;
    if (removed) this.ctx.changed();
    return removed;
  }
}
