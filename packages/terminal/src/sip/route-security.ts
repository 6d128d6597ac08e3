import {
  ROUTE_SECURITY,
  canonicalIp,
  checkCalleePath,
  parseRouteSecurity,
  type ChannelDescription,
  type PathVerdict,
} from '@tsunagu/protocol';
import { parseVia, splitList } from '@tsunagu/server/sip';

/**
 * The terminal's part of the seed's Route-Security header (docs/protocol.md "Route-Security"): the
 * caller names itself in its INVITE, the callee checks the path the servers built and copies it into
 * its answer, and refuses an INVITE whose path it cannot trust with `606 Route Not Secure`.
 */

/** The callee's refusal of a request whose path is not secure end to end. */
export const ROUTE_NOT_SECURE = { status: 606, reason: 'Route Not Secure' } as const;

/** Header lines carrying Route-Security `values` (as received: the callee copies them unchanged). */
export function routeSecurityHeaders(values: readonly string[]): string[] {
  return values.map((v) => `${ROUTE_SECURITY}: ${v}`);
}

/**
 * The address the registrar saw our request come from: the `received` parameter of the top Via of its
 * response (RFC 3261 §18.2.1), canonical; undefined when absent or not an IP address.
 */
export function viaReceived(topVia: string | undefined): string | undefined {
  const first = topVia ? splitList(topVia)[0] : undefined;
  const received = first ? parseVia(first)?.params.received : undefined;
  return received ? canonicalIp(received.replace(/^\[(.*)\]$/, '$1')) : undefined;
}

/** The addresses a channel offer names for the caller: its candidates (the server's srflx included) and c=. */
export function offerAddresses(offer: Pick<ChannelDescription, 'address' | 'candidates'>): string[] {
  return [offer.address, ...offer.candidates.map((c) => c.address)];
}

/**
 * The callee's verdict on an incoming INVITE: the path must end at our server (`server`, the remote
 * address of our signalling connection) and begin at an address of the caller's offer.
 */
export function calleePath(
  values: readonly string[],
  server: string | undefined,
  offer: Pick<ChannelDescription, 'address' | 'candidates'>,
): PathVerdict {
  return checkCalleePath(values, { server: server ?? 'unknown', peer: offerAddresses(offer) });
}

/**
 * The path a callee's `606 Route Not Secure` carried back, with its reason: the callee's own words when
 * it gave them (Warning), else a general one.
 */
export function refusedPath(values: readonly string[], reason: string | undefined): PathVerdict {
  return {
    hops: parseRouteSecurity(values) ?? [],
    secure: false,
    reason: reason ?? 'the callee found a hop of the path that was not secure',
  };
}
