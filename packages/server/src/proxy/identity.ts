import { addObservedCandidates } from '@tsunagu/protocol';
import {
  header,
  removeHeader,
  setHeader,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { aorOf, parseNameAddr, parseUri } from '../sip/uri.js';
import type { Connection, Identity, PeerIdentity } from '../transport/connection.js';
import type { ServerContext } from './context.js';

/** The AOR (`sip:user@host`) a From or To header names, or undefined when it does not parse. */
export function headerAor(msg: SipMessage, name: 'From' | 'To'): string | undefined {
  const na = parseNameAddr(header(msg, name) ?? '');
  return na ? aorOf(na.uri) : undefined;
}

/**
 * The seed's caller-ID check: a request must be From the identity its connection authenticated as.
 */
export function fromMatches(msg: SipMessage, identity: Identity): boolean {
  return headerAor(msg, 'From')?.toLowerCase() === identity.aor.toLowerCase();
}

/**
 * Who an out-of-dialog request speaks for: the connection's identity, proved earlier (REGISTER digest or
 * client certificate), else proved now by this request's own digest credentials (a 407 challenge when
 * it has none). A request whose From is not that identity is refused.
 */
export function requestIdentity(
  ctx: ServerContext,
  conn: Connection,
  req: SipRequest,
): { identity: Identity } | { response: SipResponse } {
  if (!conn.identity) {
    const fromUser = parseUri(parseNameAddr(header(req, 'From') ?? '')?.uri ?? '')?.user?.toLowerCase();
    const auth = ctx.auth.check(conn, req, 'proxy', fromUser ?? '');
    if ('response' in auth) return auth;
    conn.identity = auth.identity;
  }
  const identity = conn.identity;
  if (fromMatches(req, identity)) return { identity };
  ctx.log.warn({ conn: conn.id, user: identity.user, from: header(req, 'From') }, 'forged From refused');
  return { response: createResponse(req, 403, [], { reason: 'From Does Not Match Authenticated Identity' }) };
}

/**
 * Who a request from a peer server speaks for: its From, which must be a user of that peer's domain
 * (a peer vouches for its own users and nobody else's). The peer authenticated them; we trust its word.
 */
export function peerIdentity(
  ctx: ServerContext,
  req: SipRequest,
  peer: PeerIdentity,
): { identity: Identity } | { response: SipResponse } {
  const from = parseUri(headerAor(req, 'From') ?? '');
  const user = from?.user?.toLowerCase();
  // Without a user part, the From is the peer's server itself (a NOTIFY of its contact list).
  if (from?.host.toLowerCase() === peer.domain)
    return {
      identity: { user: user ?? '', aor: user ? `sip:${user}@${peer.domain}` : `sip:${peer.domain}` },
    };
  ctx.log.warn(
    { peer: peer.domain, from: header(req, 'From') },
    'peer request From outside its domain refused',
  );
  return { response: createResponse(req, 403, [], { reason: 'From Not In Peer Domain' }) };
}

/**
 * RFC 3325: a terminal is not part of the trust domain, so whatever identity it asserts is dropped
 * and replaced by the one this server authenticated.
 */
export function assertIdentity(msg: SipMessage, identity: Identity | undefined): void {
  removeHeader(msg, 'P-Preferred-Identity');
  removeHeader(msg, 'P-Asserted-Identity');
  if (identity) setHeader(msg, 'P-Asserted-Identity', `<${identity.aor}>`);
}

/**
 * The asserted identity of a response: the one this server authenticated for a terminal's flow; from a
 * peer server, its own assertion, kept only when it names a user of that peer's domain (the peer is
 * the trust domain for its users, RFC 3325 §4, and for nobody else).
 */
export function assertResponder(msg: SipMessage, from: Connection): void {
  if (!from.peer) return assertIdentity(msg, from.identity);
  const asserted = parseNameAddr(header(msg, 'P-Asserted-Identity') ?? '');
  const aor = asserted ? aorOf(asserted.uri) : undefined;
  const domain = aor ? parseUri(aor)?.host.toLowerCase() : undefined;
  if (domain !== from.peer.domain) assertIdentity(msg, undefined);
  else setHeader(msg, 'P-Asserted-Identity', `<${aor}>`);
}

/**
 * Adds the address this server observed for `from` to an SDP body (name resolution, docs/protocol.md).
 * Not for a peer server's link: the address it came from is that server's, not the terminal's.
 */
export function addObservedAddress(msg: SipMessage, from: Connection): void {
  if (from.peer) return;
  if (msg.body.length === 0 || !/^application\/sdp\b/i.test(header(msg, 'Content-Type') ?? '')) return;
  const sdp = addObservedCandidates(msg.body.toString('utf8'), from.remote.address);
  msg.body = Buffer.from(sdp, 'utf8');
}
