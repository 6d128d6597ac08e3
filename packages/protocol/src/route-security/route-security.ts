import { canonicalIp } from '../sdp/address.js';

/**
 * The seed's Route-Security header (Fig. 3, [0038]–[0044]; docs/protocol.md "Route-Security").
 *
 * One value per hop, in path order: the caller's address first, then each server's. A value is an IP
 * address literal in brackets, exactly as the seed writes it (`Route-Security: [2001:db8::10]`). A hop
 * that received a request over a secure link *from the address named in the last value* keeps the
 * values and appends its own; one that cannot vouch for that forwards none of them (it may still append
 * its own, so that the next leg can be checked). The callee copies the values into its response, so
 * both ends see the same path.
 *
 * Pure: no Node APIs, so the renderer can format paths too.
 */

export const ROUTE_SECURITY = 'Route-Security';

/** More hops than any real path has: a longer list is refused as a whole (bounded input). */
export const MAX_ROUTE_SECURITY_HOPS = 16;

/** `[2001:db8::10]` for an address (canonical form); throws on anything that is not an IP literal. */
export function formatRouteSecurity(address: string): string {
  const ip = canonicalIp(address);
  if (!ip) throw new Error(`not an IP address: ${address}`);
  return `[${ip}]`;
}

/**
 * The addresses named by Route-Security header values (each header line may hold a comma-separated
 * list, RFC 3261 §7.3.1), in order and canonical. Parameters after a value (`[…];x=y`) are ignored.
 * Undefined when any value is malformed or there are more than {@link MAX_ROUTE_SECURITY_HOPS}: a path
 * that cannot be read entirely cannot be vouched for at all.
 */
export function parseRouteSecurity(values: readonly string[]): string[] | undefined {
  const hops: string[] = [];
  for (const line of values) {
    for (const raw of line.split(',')) {
      const m = /^\s*\[([0-9A-Fa-f:.]{2,45})\]\s*(?:;[^,]*)?$/.exec(raw);
      const ip = m ? canonicalIp(m[1]!) : undefined;
      if (!ip) return undefined;
      hops.push(ip);
      if (hops.length > MAX_ROUTE_SECURITY_HOPS) return undefined;
    }
  }
  return hops;
}

/** What an end concluded about the path a call's signalling took. */
export interface PathVerdict {
  /** The addresses, caller first, as the Route-Security values named them. */
  hops: string[];
  /** Every hop was vouched for by the next one, from the caller to the callee's server. */
  secure: boolean;
  /** Why not, when not secure: for the person and the log. */
  reason?: string;
}

const verdict = (hops: string[], reason?: string): PathVerdict =>
  reason ? { hops, secure: false, reason } : { hops, secure: true };

/**
 * The caller's check of the path its 2xx (or refusal) carried back: it must begin with the value the
 * caller itself put (`own`) followed by its own server (`server`, the address its signalling
 * connection reaches). A server that could not vouch for a leg dropped the values before it, so a path
 * that does not begin with us is a path with an insecure hop.
 */
export function checkCallerPath(
  values: readonly string[] | undefined,
  o: { own: string; server: string },
): PathVerdict {
  if (!values || values.length === 0) return verdict([], 'the answer carried no Route-Security path');
  const hops = parseRouteSecurity(values);
  if (!hops) return verdict([], 'the Route-Security path could not be read');
  if (hops[0] !== canonicalIp(o.own))
    return verdict(hops, `the path does not begin at this device (${o.own}): a hop was not secure`);
  if (hops[1] !== canonicalIp(o.server))
    return verdict(hops, `the path does not continue at this device's server (${o.server})`);
  return verdict(hops);
}

/**
 * The callee's check of an incoming INVITE's path: it must end at the callee's own server (`server`,
 * the address its signalling connection reaches) and begin at the caller, one of the addresses the
 * caller's offer names (`peer`: its candidates, including the one its server observed). A path of
 * fewer than two hops cannot name both.
 */
export function checkCalleePath(
  values: readonly string[] | undefined,
  o: { server: string; peer: readonly string[] },
): PathVerdict {
  if (!values || values.length === 0) return verdict([], 'the request carried no Route-Security path');
  const hops = parseRouteSecurity(values);
  if (!hops) return verdict([], 'the Route-Security path could not be read');
  if (hops[hops.length - 1] !== canonicalIp(o.server))
    return verdict(hops, `the path does not end at this device's server (${o.server})`);
  const peer = new Set(o.peer.map((a) => canonicalIp(a)).filter((a) => a !== undefined));
  if (hops.length < 2 || !peer.has(hops[0]!))
    return verdict(hops, 'the path does not begin at the caller: a hop was not secure');
  return verdict(hops);
}

/**
 * One line for people: `2001:db8::10 → 2001:db8::5060 (secure)`, or `… (not secure end to end)` (the
 * verdict's reason says why). The CLI and the desktop app both show a path this way.
 */
export function describePath(path: Pick<PathVerdict, 'hops' | 'secure'>): string {
  const hops = path.hops.length > 0 ? path.hops.join(' → ') : 'no hops';
  return `${hops} (${path.secure ? 'secure' : 'not secure end to end'})`;
}
