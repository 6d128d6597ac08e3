import type { Logger } from '../log/logger.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { LocationService } from '../registrar/location.js';
import type { ClientTransactions, ServerTransactions } from '../transaction/transactions.js';
import type { Connection } from '../transport/connection.js';
import type { Metrics } from '../admin/metrics.js';
import type { PeerLinks } from '../federation/links.js';

/** What the SIP layer needs to know about users; implemented over the store (see server.ts). */
export interface Directory {
  userExists(user: string): boolean;
  /** Every local user name, for contact lists. */
  users(): string[];
  /** Devices known for a user (for contact lists): id, name, instance, and whether it was revoked. */
  devices(user: string): { id: string; name: string; instance: string | undefined; revoked: boolean }[];
  /** Records a registering device; returns its id. */
  deviceSeen(
    user: string,
    deviceId: string | undefined,
    instance: string | undefined,
    address: string,
  ): string | undefined;
}

/** The connection policy: may `src` reach `dst`? Both are bare `user@domain` AORs. */
export interface ReachPolicy {
  canReach(src: string, dst: string): boolean;
  /** May `src` reach anyone at all of `domain` (see Policy.mayReachDomain)? */
  mayReachDomain(src: string, domain: string): boolean;
}

export interface Limits {
  registration: { minExpires: number; maxExpires: number; defaultExpires: number };
  /** How long a callee may ring before the caller gets 408 (RFC 3261 Timer C is ≥ 3 min; ours is shorter). */
  ringTimeoutMs: number;
  maxContactsPerRegister: number;
}

export interface ServerContext {
  domain: string;
  /** Digest realm. */
  realm: string;
  /** Host names and addresses that mean "this server" in a Request-URI or Route. */
  localHosts: Set<string>;
  /** `host:port` put into Via and Record-Route. */
  advertised: string;
  log: Logger;
  directory: Directory;
  policy(): ReachPolicy;
  location: LocationService;
  serverTx: ServerTransactions;
  clientTx: ClientTransactions;
  auth: Authenticator;
  metrics: Metrics;
  limits: Limits;
  /** Links to the servers of peer domains (federation). */
  peers: PeerLinks;
  connection(id: string): Connection | undefined;
}

/** `user@domain` for a local user name. */
export const localAor = (ctx: ServerContext, user: string): string => `${user}@${ctx.domain}`;
