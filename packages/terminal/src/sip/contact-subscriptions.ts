import { URI } from 'sip.js';
import type { UserAgent } from 'sip.js';
import { ContactSubscription, type ContactDocument } from './contacts.js';

/**
 * The contact-list subscriptions of one flow: our own domain's (to our AOR), and one per peer domain
 * that our own list names (to `sip:<domain>`, which our server relays to the peer's). A subscription
 * the server ends or refuses is made again: our own after 2 s (our server is right there), a peer
 * domain's with a backoff from 2 s to a minute (its server may be away). All end with the flow.
 */
export interface ContactSubscriptionsEvents {
  /** A list from `domain`: our own domain's, or a peer domain's. */
  onList(domain: string, doc: ContactDocument): void;
  /** A peer domain our own list no longer names: its list is gone. */
  onDomainGone(domain: string): void;
  onBadBody(domain: string): void;
}

const OWN_RETRY_MS = 2_000;
const PEER_RETRY_MAX_MS = 60_000;

interface PeerDomain {
  sub: ContactSubscription | undefined;
  retry: NodeJS.Timeout | undefined;
  /** Ends in a row without a list: the backoff's exponent. */
  failures: number;
}

export class ContactSubscriptions {
  #own: ContactSubscription | undefined;
  #ownRetry: NodeJS.Timeout | undefined;
  readonly #peers = new Map<string, PeerDomain>();
  #disposed = false;

  constructor(
    private readonly ua: UserAgent,
    private readonly aor: URI,
    private readonly expires: number,
    private readonly events: ContactSubscriptionsEvents,
  ) {}

  start(): void {
    this.#subscribeOwn();
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#ownRetry);
    this.#own?.dispose();
    for (const p of this.#peers.values()) {
      clearTimeout(p.retry);
      p.sub?.dispose();
    }
    this.#peers.clear();
  }

  /** The peer domains being asked, sorted. */
  get domains(): string[] {
    return [...this.#peers.keys()].sort();
  }

  #subscribeOwn(): void {
    if (this.#disposed) return;
    const own = this.aor.host;
    const sub = new ContactSubscription(this.ua, this.aor, this.expires, {
      onList: (doc) => {
        if (this.#disposed) return;
        this.#setDomains(doc.domains.filter((d) => d !== own));
        this.events.onList(own, doc);
      },
      onBadBody: () => this.events.onBadBody(own),
      onEnded: () => {
        if (this.#disposed || this.#own !== sub) return;
        this.#own = undefined;
        this.#ownRetry = setTimeout(() => this.#subscribeOwn(), OWN_RETRY_MS);
        this.#ownRetry.unref();
      },
    });
    this.#own = sub;
    sub.start();
  }

  #setDomains(domains: readonly string[]): void {
    const wanted = new Set(domains);
    for (const [domain, p] of this.#peers) {
      if (wanted.has(domain)) continue;
      clearTimeout(p.retry);
      p.sub?.dispose();
      this.#peers.delete(domain);
      this.events.onDomainGone(domain);
    }
    for (const domain of wanted) {
      if (this.#peers.has(domain)) continue;
      this.#peers.set(domain, { sub: undefined, retry: undefined, failures: 0 });
      this.#subscribePeer(domain);
    }
  }

  #subscribePeer(domain: string): void {
    const p = this.#peers.get(domain);
    if (this.#disposed || !p) return;
    const sub = new ContactSubscription(this.ua, new URI('sip', '', domain), this.expires, {
      onList: (doc) => {
        if (this.#disposed || p.sub !== sub) return;
        p.failures = 0;
        this.events.onList(domain, doc);
      },
      onBadBody: () => this.events.onBadBody(domain),
      onEnded: () => {
        if (this.#disposed || p.sub !== sub || this.#peers.get(domain) !== p) return;
        p.sub = undefined;
        const delay = Math.min(PEER_RETRY_MAX_MS, OWN_RETRY_MS * 2 ** p.failures++);
        p.retry = setTimeout(() => this.#subscribePeer(domain), delay);
        p.retry.unref();
      },
    });
    p.sub = sub;
    sub.start();
  }
}
