import { addObservedCandidates } from '@tsunagu/protocol';
import { header, removeHeader, setHeader, type SipMessage } from '../sip/message.js';
import { aorOf, parseNameAddr } from '../sip/uri.js';
import type { Connection, Identity } from '../transport/connection.js';

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
 * RFC 3325: a terminal is not part of the trust domain, so whatever identity it asserts is dropped
 * and replaced by the one this server authenticated.
 */
export function assertIdentity(msg: SipMessage, identity: Identity | undefined): void {
  removeHeader(msg, 'P-Preferred-Identity');
  removeHeader(msg, 'P-Asserted-Identity');
  if (identity) setHeader(msg, 'P-Asserted-Identity', `<${identity.aor}>`);
}

/** Adds the address this server observed for `from` to an SDP body (name resolution, docs/protocol.md). */
export function addObservedAddress(msg: SipMessage, from: Connection): void {
  if (msg.body.length === 0 || !/^application\/sdp\b/i.test(header(msg, 'Content-Type') ?? '')) return;
  const sdp = addObservedCandidates(msg.body.toString('utf8'), from.remote.address);
  msg.body = Buffer.from(sdp, 'utf8');
}
