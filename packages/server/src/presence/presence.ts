import { CONTACTS_EVENT, CONTACTS_TYPE, KEYS_EVENT, KEYS_TYPE, type KeyEntry } from '@tsunagu/protocol';
import { eventPackage, header, headerValues, type Header, type SipRequest } from '../sip/message.js';
import { createResponse, newTag } from '../sip/response.js';
import { parseNameAddr, parseUri } from '../sip/uri.js';
import { newBranch, type ServerTransaction } from '../transaction/transactions.js';
import type { Connection, Identity } from '../transport/connection.js';
import { localAor, type ServerContext } from '../proxy/context.js';
import { addVia } from '../proxy/forward.js';
import { fromMatches } from '../proxy/identity.js';

/** RFC 3856 presence of one user, answered by this server as presence agent, in PIDF (RFC 3863). */
export const PRESENCE_EVENT = 'presence';
export const PIDF_TYPE = 'application/pidf+xml';

/** What the notifier reads besides the SIP context: the CA's register. */
export interface NotifierSources {
  /** Fingerprints (`sha256:…`) of revoked certificates that have not expired: sent with every contact list. */
  revoked(): readonly string[];
  keys(user: string): KeyEntry[];
  /** The deployment CA (PEM): sent with a key list to a peer domain's user, whose server vouches for it. */
  caPem?: string;
}

/**
 * Subscriptions one subscriber may hold on one connection. A peer server's link carries all of its
 * users' subscriptions, so there the bound is per user of that domain, not per link.
 */
const MAX_SUBSCRIPTIONS_PER_SUBSCRIBER = 64;
const DEFAULT_EXPIRES = 600;
const MAX_EXPIRES = 3600;
/** Changes are coalesced this long before NOTIFYs go out (the promise is "within a second"). */
const NOTIFY_DELAY_MS = 50;

export interface ContactEntry {
  user: string;
  aor: string;
  online: boolean;
  devices: { id: string; name: string; online: boolean }[];
}

interface Subscription {
  key: string;
  event: typeof CONTACTS_EVENT | typeof PRESENCE_EVENT | typeof KEYS_EVENT;
  conn: Connection;
  /** `user@domain`: a local user, or a user of a peer domain whose server relays the subscription. */
  subscriber: string;
  /** The SUBSCRIBE's Record-Route, as the NOTIFYs' Route (a peer server's relay is on it). */
  routeSet: string[];
  /** For presence: the watched user. */
  target: string | undefined;
  callId: string;
  localTag: string;
  /** SUBSCRIBE's To (our side) and From (their side), as the NOTIFY's From and To. */
  localUri: string;
  remote: string;
  remoteTarget: string;
  cseq: number;
  expiresAt: number;
  lastBody: string | undefined;
  /** Removes the close listener that drops this subscription with its connection. */
  offClose: () => void;
}

/** Subscriptions this server answers itself (it is the notifier), keyed by Call-ID and our tag. */
export class Presence {
  readonly #subs = new Map<string, Subscription>();
  #pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly sources: NotifierSources = { revoked: () => [], keys: () => [] },
  ) {}

  handles(event: string): boolean {
    return event === CONTACTS_EVENT || event === PRESENCE_EVENT || event === KEYS_EVENT;
  }

  /** True for a refresh or unsubscribe of a subscription we hold (an in-dialog SUBSCRIBE to us). */
  ownsDialog(req: SipRequest): boolean {
    if (req.method !== 'SUBSCRIBE') return false;
    const tag = parseNameAddr(header(req, 'To') ?? '')?.params.tag;
    return typeof tag === 'string' && this.#subs.has(`${header(req, 'Call-ID')}|${tag}`);
  }

  get size(): number {
    return this.#subs.size;
  }

  /**
   * A SUBSCRIBE to an event we notify. `identity` is who it speaks for: the connection's own, or a user
   * of a peer domain (the peer's server relays it, and already checked its From).
   */
  onSubscribe(
    tx: ServerTransaction,
    conn: Connection,
    req: SipRequest,
    identity: Identity | undefined = conn.identity,
  ): void {
    const ctx = this.ctx;
    const reply = (status: number, extra: Header[] = [], toTag?: string) =>
      ctx.serverTx.respond(tx, createResponse(req, status, extra, toTag ? { toTag } : {}));
    if (!identity || !fromMatches(req, identity)) return reply(403);
    const subscriber = identity.aor.replace(/^sips?:/i, '').toLowerCase();
    const local = subscriber === localAor(ctx, identity.user);

    const event = eventPackage(req);
    const expiresRaw = header(req, 'Expires');
    // The key directory is a fetch only: nothing to watch, nothing to keep.
    const expires =
      event === KEYS_EVENT
        ? 0
        : Math.min(MAX_EXPIRES, expiresRaw === undefined ? DEFAULT_EXPIRES : Number(expiresRaw));
    if (!Number.isInteger(expires) || expires < 0) return reply(400);

    const toTag = parseNameAddr(header(req, 'To') ?? '')?.params.tag;
    const existing =
      typeof toTag === 'string' ? this.#subs.get(`${header(req, 'Call-ID')}|${toTag}`) : undefined;
    if (existing) {
      if (existing.conn !== conn && existing.subscriber !== subscriber) return reply(403);
      if (existing.conn !== conn) {
        // The subscription follows its subscriber to the new flow, and ends with that one.
        existing.offClose();
        existing.conn = conn;
        existing.offClose = conn.onClose(() => this.#drop(existing));
      }
      existing.expiresAt = Date.now() + expires * 1000;
      ctx.log.debug(
        { subscriber, event: existing.event, expires },
        expires === 0 ? 'subscription ended by its subscriber' : 'subscription refreshed',
      );
      reply(200, [{ name: 'Expires', value: String(expires) }, this.#contact()], existing.localTag);
      this.#notify(existing, expires === 0 ? 'timeout' : undefined, true);
      if (expires === 0) this.#drop(existing);
      return;
    }
    if (typeof toTag === 'string') return reply(481);

    const ruri = parseUri(req.uri);
    const targetUser = ruri?.user?.toLowerCase();
    let target: string | undefined;
    if (event === CONTACTS_EVENT) {
      // One's own contact list only; a peer domain's user asks for this domain's (R-URI `sip:domain`).
      if (local ? targetUser !== identity.user : targetUser !== undefined) return reply(403);
    } else {
      target = targetUser ?? '';
      const exists = !!ruri && ctx.localHosts.has(ruri.host) && ctx.directory.userExists(target);
      const allowed = ctx.policy().canReach(subscriber, localAor(ctx, target));
      if (!exists || !allowed) return reply(404);
    }
    const contact = parseNameAddr(header(req, 'Contact') ?? '');
    if (!contact) return reply(400);
    const held = [...this.#subs.values()].filter((s) => s.conn === conn && s.subscriber === subscriber);
    if (held.length >= MAX_SUBSCRIPTIONS_PER_SUBSCRIBER) {
      return reply(403, [], undefined);
    }
    const localTag = newTag();
    const sub: Subscription = {
      key: `${header(req, 'Call-ID')}|${localTag}`,
      event: event as Subscription['event'],
      conn,
      subscriber,
      routeSet: headerValues(req, 'Record-Route'),
      target,
      callId: header(req, 'Call-ID') ?? '',
      localTag,
      localUri: parseNameAddr(header(req, 'To') ?? '')?.uri ?? req.uri,
      remote: header(req, 'From') ?? '',
      remoteTarget: contact.uri,
      cseq: 0,
      expiresAt: Date.now() + expires * 1000,
      lastBody: undefined,
      offClose: () => undefined,
    };
    // The dialog's route set goes back with the 2xx (RFC 3261 §12.1.1) and with every NOTIFY, which is
    // where a subscriber that hears the NOTIFY first takes it from: through a peer's server, refreshes
    // must follow it.
    reply(
      200,
      [{ name: 'Expires', value: String(expires) }, this.#contact(), ...recordRoutes(sub)],
      localTag,
    );
    if (expires === 0) {
      this.#notify(sub, 'timeout', true); // a fetch (RFC 6665 §4.4.3)
      return;
    }
    this.#subs.set(sub.key, sub);
    sub.offClose = conn.onClose(() => this.#drop(sub));
    this.#notify(sub, undefined, true);
  }

  /** Something that can change contact lists happened (a registration, the policy, a user). */
  changed(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      const now = Date.now();
      for (const sub of [...this.#subs.values()]) {
        if (sub.expiresAt <= now) {
          this.#notify(sub, 'timeout', true);
          this.#drop(sub);
        } else this.#notify(sub, undefined, false);
      }
    }, NOTIFY_DELAY_MS);
  }

  stop(): void {
    clearTimeout(this.#pending);
    for (const s of [...this.#subs.values()]) this.#drop(s);
  }

  /**
   * The contact list `subscriber` (`user@domain`, of this domain or a peer's) may see: every local user
   * the policy lets them reach, never anyone else.
   */
  contactsOf(subscriber: string): ContactEntry[] {
    const ctx = this.ctx;
    const policy = ctx.policy();
    return ctx.directory
      .users()
      .filter((u) => localAor(ctx, u) !== subscriber && policy.canReach(subscriber, localAor(ctx, u)))
      .sort()
      .map((u) => {
        const online = new Set(ctx.location.bindings(u).map((b) => b.deviceId));
        const devices = ctx.directory
          .devices(u)
          .filter((d) => !d.revoked)
          .map((d) => ({ id: d.id, name: d.name, online: online.has(d.id) }));
        return { user: u, aor: `sip:${localAor(ctx, u)}`, online: online.size > 0, devices };
      });
  }

  /** The peer domains (over mutual TLS) whose contact lists `subscriber`, a local user, may ask for. */
  peerDomainsOf(subscriber: string): string[] {
    const policy = this.ctx.policy();
    return this.ctx.peers.secureDomains().filter((d) => policy.mayReachDomain(subscriber, d));
  }

  #body(sub: Subscription): { type: string; body: string } {
    const local = sub.subscriber.endsWith(`@${this.ctx.domain}`);
    if (sub.event === CONTACTS_EVENT) {
      return {
        type: CONTACTS_TYPE,
        body: JSON.stringify({
          version: 1,
          contacts: this.contactsOf(sub.subscriber),
          revoked: this.sources.revoked(),
          // Where our own users may ask for more contacts: the peer domains our policy lets them reach
          // anyone in (a peer's user is told none: no transit to a third domain).
          ...(local ? { domains: this.peerDomainsOf(sub.subscriber) } : {}),
        }),
      };
    }
    if (sub.event === KEYS_EVENT) {
      const target = sub.target!;
      return {
        type: KEYS_TYPE,
        body: JSON.stringify({
          version: 1,
          aor: `sip:${localAor(this.ctx, target)}`,
          keys: this.sources.keys(target),
          ...(local ? {} : { ca: this.sources.caPem }),
        }),
      };
    }
    const target = sub.target!;
    // Re-checked on every change: a policy that now hides the user ends what the watcher may see.
    const visible =
      this.ctx.directory.userExists(target) &&
      this.ctx.policy().canReach(sub.subscriber, localAor(this.ctx, target));
    const open = visible && this.ctx.location.isOnline(target);
    const entity = `sip:${localAor(this.ctx, target)}`;
    return {
      type: PIDF_TYPE,
      body:
        `<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${entity}">` +
        `<tuple id="t1"><status><basic>${open ? 'open' : 'closed'}</basic></status></tuple></presence>\n`,
    };
  }

  #notify(sub: Subscription, terminated: string | undefined, force: boolean): void {
    const { type, body } = this.#body(sub);
    if (!force && body === sub.lastBody) return;
    sub.lastBody = body;
    const remaining = Math.max(0, Math.round((sub.expiresAt - Date.now()) / 1000));
    const req: SipRequest = {
      kind: 'request',
      method: 'NOTIFY',
      uri: sub.remoteTarget,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        ...sub.routeSet.map((value) => ({ name: 'Route', value })),
        ...recordRoutes(sub),
        { name: 'From', value: `<${sub.localUri}>;tag=${sub.localTag}` },
        { name: 'To', value: sub.remote },
        { name: 'Call-ID', value: sub.callId },
        { name: 'CSeq', value: `${++sub.cseq} NOTIFY` },
        this.#contact(),
        { name: 'Event', value: sub.event },
        {
          name: 'Subscription-State',
          value: terminated ? `terminated;reason=${terminated}` : `active;expires=${remaining}`,
        },
        { name: 'Content-Type', value: type },
      ],
      body: Buffer.from(body, 'utf8'),
    };
    const branch = newBranch();
    addVia(this.ctx, req, sub.conn, branch);
    this.ctx.clientTx.send(sub.conn, req, branch, {
      onResponse: (res) => {
        // 481: the subscriber forgot the dialog (RFC 6665 §4.1.3); 430: a peer server's user's flow is
        // gone (RFC 5626 §5.3; the terminal subscribes again on its new one). Stop notifying it.
        if (res.status === 481 || res.status === 430 || res.status >= 500) this.#drop(sub);
      },
      onTimeout: () => this.#drop(sub),
    });
  }

  #contact(): Header {
    return { name: 'Contact', value: `<sip:${this.ctx.advertised};transport=tls>` };
  }

  #drop(sub: Subscription): void {
    this.#subs.delete(sub.key);
    sub.offClose();
  }
}

const recordRoutes = (sub: Subscription): Header[] =>
  sub.routeSet.map((value) => ({ name: 'Record-Route', value }));
