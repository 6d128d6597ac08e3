import { Resolver } from 'node:dns/promises';
import { formatHostPort, ipVersion } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import { PeerRefusedError } from '../transport/tls.js';

/** The port of a domain's SIPS server when DNS names none (RFC 3263 §4.2, RFC 5922). */
export const SIPS_PORT = 5061;
/** The longest one DNS question may take, whatever the resolver's own retries. */
export const DNS_TIMEOUT_MS = 5000;
/** Connection attempts per link at most: a long SRV answer must not keep a caller waiting for minutes. */
export const MAX_ATTEMPTS = 8;

/** An SRV record as `node:dns` returns it (RFC 2782). */
export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The questions the lookup asks; `node:dns/promises` `Resolver` answers them. */
export interface DnsResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

/** Where a peer domain's server may be, and why there: its SRV records, or the domain itself. */
export interface PeerTarget {
  host: string;
  port: number;
  via: 'srv' | 'fallback';
}

export interface DnsOptions {
  resolver: DnsResolver;
  /** Bound on each DNS question. */
  timeoutMs: number;
  /** The weighted draw's source of randomness, `[0, 1)` (tests make it deterministic). */
  random?: () => number;
}

/**
 * The resolver peers are looked up with: the given DNS servers (`1.2.3.4`, `1.2.3.4:5353`,
 * `[2001:db8::53]:53`), else the system's (/etc/resolv.conf). One try per server within `timeoutMs`.
 */
export function createResolver(servers: readonly string[] | undefined, timeoutMs = DNS_TIMEOUT_MS): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers && servers.length > 0) resolver.setServers(servers);
  return resolver;
}

/**
 * RFC 2782 order: lowest priority first; within one priority, a weighted random draw without
 * replacement. Weight-0 records go first in the running sum, as the RFC arranges them, so that they are
 * drawn only on a draw of 0 (rarely, when others have weight) yet always before the end.
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const ordered: SrvRecord[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const priority of priorities) {
    const same = records.filter((r) => r.priority === priority);
    const left = [...same.filter((r) => r.weight === 0), ...same.filter((r) => r.weight > 0)];
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const draw = Math.floor(random() * (total + 1)); // uniform over 0…total, both included
      let running = 0;
      const i = left.findIndex((r) => (running += r.weight) >= draw);
      ordered.push(...left.splice(i, 1));
    }
  }
  return ordered;
}

/**
 * RFC 3263 §4.2 for SIP over TLS, without NAPTR: the `_sips._tcp.DOMAIN` SRV records in RFC 2782
 * order or, when the domain has none (ENODATA, ENOTFOUND), DOMAIN itself on 5061. Any other DNS failure
 * (a timeout, SERVFAIL) rejects: "no answer" is not "no records", and guessing could only reach a server
 * DNS did not name. A lone target "." is the domain saying it offers no SIPS service (RFC 2782).
 */
export async function peerTargets(domain: string, o: DnsOptions): Promise<PeerTarget[]> {
  const name = `_sips._tcp.${domain}`;
  let records: SrvRecord[];
  try {
    records = await bounded(o.resolver.resolveSrv(name), o.timeoutMs, `SRV ${name}`);
  } catch (err) {
    if (noRecords(err)) return [{ host: domain, port: SIPS_PORT, via: 'fallback' }];
    throw new Error(`DNS lookup of ${name} failed: ${describe(err)}`, { cause: err });
  }
  const named = records.filter((r) => r.name !== '' && r.name !== '.');
  if (named.length === 0) throw new Error(`${name} says ${domain} offers no SIP over TLS (SRV target ".")`);
  return orderSrv(named, o.random).map((r) => ({
    host: r.name.toLowerCase().replace(/\.$/, ''),
    port: r.port,
    via: 'srv',
  }));
}

/**
 * Opens a link to a peer domain's server found by DNS: each target's addresses in turn (A before AAAA)
 * until `attempt` gives a link, at most MAX_ATTEMPTS of them. `attempt` checks the certificate against
 * what the admin configured, so a wrong or forged answer can only fail, never pass for the peer. Rejects
 * with a certificate refusal if any target was refused (the telling failure), else the last failure.
 */
export async function connectByDns<T>(
  domain: string,
  o: DnsOptions & { log: Logger },
  attempt: (address: string, port: number) => Promise<T>,
): Promise<T> {
  const targets = await peerTargets(domain, o);
  if (targets[0]?.via === 'fallback')
    o.log.info(
      { peer: domain, target: formatHostPort(targets[0]) },
      `no SRV record for _sips._tcp.${domain}: trying the domain on ${SIPS_PORT}`,
    );
  const failures: Error[] = [];
  let attempts = 0;
  for (const target of targets) {
    const where = { peer: domain, target: formatHostPort(target), via: target.via };
    let addresses: string[];
    try {
      addresses = await addressesOf(target.host, o);
    } catch (err) {
      failures.push(err as Error);
      o.log.warn({ ...where, err: (err as Error).message }, 'federation target failed');
      continue;
    }
    for (const address of addresses) {
      if (attempts++ === MAX_ATTEMPTS) {
        o.log.warn({ peer: domain, attempts: MAX_ATTEMPTS }, 'federation: giving up on the other targets');
        throw giveUp(domain, failures);
      }
      try {
        const link = await attempt(address, target.port);
        o.log.info({ ...where, address }, 'federation target reached');
        return link;
      } catch (err) {
        failures.push(err as Error);
        o.log.warn({ ...where, address, err: (err as Error).message }, 'federation target failed');
      }
    }
  }
  throw giveUp(domain, failures);
}

/** The error a failed DNS-found link rejects with: a refusal as is (the caller hears `Not Trusted`). */
function giveUp(domain: string, failures: readonly Error[]): Error {
  const refused = failures.find((e) => e instanceof PeerRefusedError);
  if (refused) return refused;
  const last = failures.at(-1)?.message ?? 'no target';
  return new Error(`no server of ${domain} found by DNS could be reached (last: ${last})`);
}

/** A target's addresses: itself when it is an IP address, else its A then its AAAA records. */
async function addressesOf(host: string, o: DnsOptions): Promise<string[]> {
  if (ipVersion(host) !== 0) return [host];
  const [v4, v6] = await Promise.allSettled([
    bounded(o.resolver.resolve4(host), o.timeoutMs, `A ${host}`),
    bounded(o.resolver.resolve6(host), o.timeoutMs, `AAAA ${host}`),
  ]);
  const found = [v4, v6].flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  if (found.length > 0) return found;
  const why = (r: PromiseSettledResult<string[]>) => (r.status === 'rejected' ? describe(r.reason) : 'none');
  throw new Error(`no address for ${host} (A: ${why(v4)}, AAAA: ${why(v6)})`);
}

/** The DNS said the name or the records do not exist (as opposed to not answering). */
const noRecords = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENODATA' || code === 'ENOTFOUND';
};

const describe = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** `p`, or a rejection once `ms` have passed (the resolver's own timeout counts per server and try). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'ETIMEOUT' })),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
