import {
  canonicalIp,
  passiveCandidates,
  type ChannelDescription,
  type SetupAttribute,
} from '@tsunagu/protocol';
import type { InboundPolicy } from '../identity/profile.js';
import { ChannelError } from './errors.js';

/**
 * Whether an end can accept inbound TCP connections from the other: `yes` (known), `no` (known not,
 * or will not), `unknown`.
 */
export type Reachability = 'yes' | 'unknown' | 'no';

const RANK: Record<Reachability, number> = { no: 0, unknown: 1, yes: 2 };

/**
 * This end's reachability. `never` → no; `reachable` (the user says so: a public address, a forwarded
 * port) → yes; `auto` → compare the address the server observed for our signalling connection with our
 * own addresses: equal → yes (no NAT in between), different → no (behind NAT), not known → unknown.
 */
export function ownReachability(
  inbound: InboundPolicy,
  addresses: readonly string[],
  observedAddress: string | undefined,
): Reachability {
  if (inbound === 'never') return 'no';
  if (inbound === 'reachable') return 'yes';
  if (observedAddress === undefined || canonicalIp(observedAddress) === undefined) return 'unknown';
  const observed = canonicalIp(observedAddress);
  return addresses.some((a) => canonicalIp(a) === observed) ? 'yes' : 'no';
}

/**
 * The offerer's reachability as its offer shows it. The session server adds an `srflx` candidate with
 * the address it observed unless that address is already one of the offer's candidates
 * (protocol `sdp/observed.ts`). So:
 * - `a=setup:active`, or no passive candidates → no (it will not listen);
 * - no srflx candidate → yes (the server saw it at an address it listens on: no NAT in between);
 * - an srflx address equal to our own observed address → yes (same NAT: its host addresses are on our
 *   network);
 * - otherwise → no (behind a NAT; a forwarded or preserved port may still work, so it is still tried
 *   when the answerer cannot listen either).
 */
export function offererReachability(offer: ChannelDescription, ownObservedAddress?: string): Reachability {
  if (offer.setup === 'active' || offer.setup === 'holdconn') return 'no';
  const passive = passiveCandidates(offer);
  if (passive.length === 0) return offer.candidates.length === 0 ? 'unknown' : 'no';
  const srflx = passive.filter((c) => c.type === 'srflx');
  if (srflx.length === 0) return 'yes';
  const mine = ownObservedAddress === undefined ? undefined : canonicalIp(ownObservedAddress);
  if (mine !== undefined && srflx.some((c) => canonicalIp(c.address) === mine)) return 'yes';
  return 'no';
}

/**
 * The answerer's `a=setup` (RFC 4145 §4.1). The rule, so that a channel works when only one side can
 * accept inbound connections:
 *
 * - offer `passive` → `active`; offer `active` → `passive` (RFC 4145 leaves no choice; if this end
 *   will not accept inbound connections either, ChannelError `role`: neither end listens);
 * - offer `actpass` → the end more likely to accept an inbound connection listens: `passive` when this
 *   end ranks higher than the offerer (yes > unknown > no), otherwise `active`. Ties go to the
 *   offerer, which is already listening, so connecting needs nothing more. An end that will not
 *   listen (`inbound: never`) is always `active`.
 */
export function chooseAnswerSetup(
  offerSetup: SetupAttribute,
  own: Reachability,
  offerer: Reachability,
  canListen: boolean,
): 'active' | 'passive' {
  switch (offerSetup) {
    case 'passive':
      return 'active';
    case 'active':
      if (!canListen)
        throw new ChannelError(
          'role',
          'neither end accepts inbound connections: the offer is active only and inbound connections are off here',
        );
      return 'passive';
    case 'actpass':
      return canListen && RANK[own] > RANK[offerer] ? 'passive' : 'active';
    case 'holdconn':
      throw new ChannelError(
        'role',
        'the offer holds the connection (a=setup:holdconn), which a channel does not use',
      );
  }
}
