import { canonicalIp, formatRouteSecurity, parseRouteSecurity, ROUTE_SECURITY } from '@tsunagu/protocol';
import { appendHeader, headerInstances, removeHeader, type SipMessage } from '../sip/message.js';
import type { Connection } from '../transport/connection.js';
import type { ServerContext } from './context.js';

/**
 * The seed's Route-Security at a server (docs/protocol.md "Route-Security"): a hop keeps the values it
 * received only when the message came over a secure link from the address the last value names, and
 * appends its own before forwarding. A value it cannot vouch for is never forwarded.
 */

/**
 * A link this server can vouch for: encrypted, and its far end authenticated — a terminal that proved
 * its identity, or a peer server whose certificate chains to the CA configured for its domain.
 */
export function isSecureLink(conn: Connection): boolean {
  return conn.transport !== 'TCP' && (conn.identity !== undefined || conn.peer !== undefined);
}

/**
 * The received path this hop vouches for: undefined when the request carried no Route-Security (the
 * caller does not use it), the hops when the last one names the sender of a secure link, else none.
 */
export function vouchedPath(ctx: ServerContext, msg: SipMessage, from: Connection): string[] | undefined {
  const values = headerInstances(msg, ROUTE_SECURITY);
  if (values.length === 0) return undefined;
  const hops = parseRouteSecurity(values);
  const sender = canonicalIp(from.remote.address);
  let problem: string | undefined;
  if (!hops || hops.length === 0) problem = 'unreadable or too long';
  else if (!isSecureLink(from)) problem = 'the link it came over is not secure';
  else if (hops[hops.length - 1] !== sender) problem = 'the last value does not name the sender';
  if (!problem) return hops;
  ctx.log.warn(
    { conn: from.id, remote: from.remote.address, routeSecurity: values.join(', '), problem },
    'Route-Security values not vouched for: not forwarded',
  );
  ctx.metrics.routeSecurityDropped.inc();
  return [];
}

/**
 * Writes the path onto a message about to go down `to`: the vouched hops, then this server as the
 * address `to`'s far end sees it (so the next hop can check the last value against its sender).
 */
export function writePath(msg: SipMessage, hops: readonly string[] | undefined, to: Connection): void {
  removeHeader(msg, ROUTE_SECURITY);
  if (hops === undefined) return;
  for (const hop of [...hops, to.local.address]) appendHeader(msg, ROUTE_SECURITY, formatRouteSecurity(hop));
}

/** A response that came over a link this server cannot vouch for loses its path (never forwarded unvouched). */
export function dropUnvouchedPath(ctx: ServerContext, msg: SipMessage, from: Connection): void {
  if (isSecureLink(from) || headerInstances(msg, ROUTE_SECURITY).length === 0) return;
  ctx.log.warn(
    { conn: from.id, remote: from.remote.address },
    'Route-Security of a response over an insecure link: not forwarded',
  );
  ctx.metrics.routeSecurityDropped.inc();
  removeHeader(msg, ROUTE_SECURITY);
}
