import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatEndpoint, type Connection } from '../transport/connection.js';

/** Record-Route URI parameter naming the two flows of a dialog (see docs/protocol.md, "Dialogs"). */
export const FLOW_PARAM = 'tsu';
/** Record-Route URI parameter naming the side of the pair that is a federation link, and its domain. */
export const PEER_PARAM = 'tsu-peer';

/** A dialog as our Record-Route names it: both connections, and which one is a link to which peer domain. */
export interface DialogFlow {
  ids: readonly [string, string];
  /** Set when side `side` (0 or 1) of the pair is a federation link to `domain`. */
  peer?: { side: 0 | 1; domain: string };
}

/**
 * Signs the peer parameter, so that only this server can name a side a peer link: a terminal that made
 * one up could otherwise send anything to a peer domain past our policy. Per process, like the
 * connection ids it binds (they die with it).
 */
const PEER_KEY = randomBytes(32);

/**
 * Our Record-Route for a dialog between connections `a` (where the request came from) and `b`: the
 * address `a` reached us at — certainly routable for it, with no DNS needed — and both flow ids, plus
 * the peer parameter when one of them is a federation link (links to a domain are interchangeable, so
 * the dialog can move to another when that one closes).
 */
export function recordRouteFor(a: Connection, b: Connection): string {
  const transport = a.transport === 'WSS' ? 'ws' : 'tls';
  const ids = [a.id, b.id] as const;
  const peer = linkSide(a, b);
  const param = peer ? `;${PEER_PARAM}=${peer.side + 1}:${peer.domain}:${peerMac(ids, peer)}` : '';
  return `<sip:${formatEndpoint(a.local)};transport=${transport};lr;${FLOW_PARAM}=${ids.join('.')}${param}>`;
}

/** Which of the two is a federation link, and to which domain (never both: a peer gets no transit). */
function linkSide(a: Connection, b: Connection): DialogFlow['peer'] {
  if (a.peer) return { side: 0, domain: a.peer.domain };
  if (b.peer) return { side: 1, domain: b.peer.domain };
  return undefined;
}

/** Our Record-Route's parameters read back from a Route; undefined when they carry no flow pair. */
export function readFlow(params: Readonly<Record<string, string | null>>): DialogFlow | undefined {
  const pair = params[FLOW_PARAM];
  if (typeof pair !== 'string') return undefined;
  const [a = '', b = ''] = pair.split('.');
  const ids = [a, b] as const;
  const peer = readPeer(ids, params[PEER_PARAM]);
  return peer ? { ids, peer } : { ids };
}

/** The peer parameter, `SIDE:DOMAIN:MAC` (SIDE 1 or 2: the pair's first or second id), if it is ours. */
function readPeer(ids: readonly [string, string], value: string | null | undefined): DialogFlow['peer'] {
  const m = /^([12]):([^:]+):([\w-]+)$/.exec(value ?? '');
  if (!m) return undefined;
  const peer = { side: m[1] === '1' ? (0 as const) : (1 as const), domain: m[2]! };
  const given = Buffer.from(m[3]!);
  const expected = Buffer.from(peerMac(ids, peer));
  // One whose MAC does not verify was not written by us: ignored, as if absent.
  return given.length === expected.length && timingSafeEqual(given, expected) ? peer : undefined;
}

/** 96 bits of HMAC-SHA-256 over the pair, the side and the domain, base64url. */
const peerMac = (ids: readonly [string, string], peer: NonNullable<DialogFlow['peer']>): string =>
  createHmac('sha256', PEER_KEY)
    .update(`${ids.join('.')}|${peer.side}|${peer.domain}`)
    .digest()
    .subarray(0, 12)
    .toString('base64url');
