import { CONTACTS_EVENT, CONTACTS_TYPE, isHostname } from '@tsunagu/protocol';
import { Subscriber, SubscriptionState } from 'sip.js';
import type { URI, UserAgent } from 'sip.js';

/**
 * The contact list with presence: a subscription to the `tsunagu-contacts` event package of our own
 * AOR (docs/protocol.md "Contacts and presence"), and one to each peer domain our server names
 * (`sip:b.example`, relayed by our server to the peer's). Each server sends a NOTIFY at once and
 * whenever the list changes; a list holds only the users the policies let us reach.
 */

export interface ContactDevice {
  id: string;
  name: string;
  online: boolean;
}

export interface Contact {
  user: string;
  /** `sip:bob@example.org` */
  aor: string;
  online: boolean;
  devices: ContactDevice[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A contact list with the revocation list that comes with it. */
export interface ContactDocument {
  contacts: Contact[];
  /**
   * Fingerprints (RFC 8122 form, `AB:CD:…`) of certificates the CA revoked that have not expired yet.
   * The server pushes it with every list, so a revocation reaches every online terminal at once.
   */
  revoked: string[];
  /**
   * Peer domains whose contact lists we may ask for (in our own domain's list only; our server strips
   * it from a peer's).
   */
  domains: string[];
}

const MAX_DOMAINS = 64;
const FINGERPRINT = /^sha256:((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$/;

/** Parses a `tsunagu-contacts` body (version 1); undefined if it is not one. */
export function parseContactDocument(body: string): ContactDocument | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(doc)) return undefined;
  const contacts = parseContactList(doc);
  if (!contacts) return undefined;
  const revoked: string[] = [];
  if (doc.revoked !== undefined) {
    if (!Array.isArray(doc.revoked)) return undefined;
    for (const f of doc.revoked as unknown[]) {
      const m = typeof f === 'string' ? FINGERPRINT.exec(f) : null;
      if (!m) return undefined;
      revoked.push(m[1]!);
    }
  }
  const domains: string[] = [];
  if (doc.domains !== undefined) {
    if (!Array.isArray(doc.domains) || doc.domains.length > MAX_DOMAINS) return undefined;
    for (const d of doc.domains as unknown[]) {
      if (typeof d !== 'string' || !isHostname(d)) return undefined;
      domains.push(d);
    }
  }
  return { contacts, revoked, domains };
}

/** The contacts of a parsed `tsunagu-contacts` document (version 1); undefined if it is not one. */
export function parseContactList(doc: Record<string, unknown>): Contact[] | undefined {
  if (doc.version !== 1 || !Array.isArray(doc.contacts)) return undefined;
  const out: Contact[] = [];
  for (const c of doc.contacts as unknown[]) {
    if (!isObject(c) || typeof c.user !== 'string' || typeof c.aor !== 'string') return undefined;
    if (typeof c.online !== 'boolean' || !Array.isArray(c.devices)) return undefined;
    const devices: ContactDevice[] = [];
    for (const d of c.devices as unknown[]) {
      if (
        !isObject(d) ||
        typeof d.id !== 'string' ||
        typeof d.name !== 'string' ||
        typeof d.online !== 'boolean'
      )
        return undefined;
      devices.push({ id: d.id, name: d.name, online: d.online });
    }
    out.push({ user: c.user, aor: c.aor, online: c.online, devices });
  }
  return out;
}

export interface ContactSubscriptionEvents {
  onList(doc: ContactDocument): void;
  /** The subscription ended without being disposed (refused, or terminated by the server). */
  onEnded(): void;
  onBadBody(body: string): void;
}

/** One subscription, on one flow; a new flow gets a new one. */
export class ContactSubscription {
  readonly #subscriber: Subscriber;
  #disposed = false;

  /** `target`: our own AOR, or a peer domain (`sip:b.example`). */
  constructor(ua: UserAgent, target: URI, expires: number, events: ContactSubscriptionEvents) {
    this.#subscriber = new Subscriber(ua, target, CONTACTS_EVENT, {
      expires,
      extraHeaders: [`Accept: ${CONTACTS_TYPE}`],
    });
    this.#subscriber.delegate = {
      onNotify: (notification) => {
        void notification.accept().catch(() => undefined);
        if (this.#disposed) return;
        const body = notification.request.body;
        // A final NOTIFY (terminated) may come without a list.
        if (!body) return;
        const doc = parseContactDocument(body);
        if (doc) events.onList(doc);
        else events.onBadBody(body);
      },
    };
    this.#subscriber.stateChange.addListener((s) => {
      if (s === SubscriptionState.Terminated && !this.#disposed) events.onEnded();
    });
  }

  start(): void {
    void this.#subscriber.subscribe().catch(() => undefined);
  }

  /** Ends it: an unsubscribe if the flow still works (not awaited: a dead flow just fails it). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    void this.#subscriber.dispose().catch(() => undefined);
  }
}
