import { Subscriber, SubscriptionState } from 'sip.js';
import type { URI, UserAgent } from 'sip.js';

/**
 * The contact list with presence: a subscription to the `tsunagu-contacts` event package of our own
 * AOR (docs/protocol.md "Contacts and presence"). The server sends a NOTIFY at once and whenever the
 * list changes; the list holds only the users the policy lets us reach.
 */

export const CONTACTS_EVENT = 'tsunagu-contacts';
export const CONTACTS_TYPE = 'application/vnd.tsunagu.contacts+json';

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

/** Parses a `tsunagu-contacts` body (version 1); undefined if it is not one. */
export function parseContactList(body: string): Contact[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(doc) || doc.version !== 1 || !Array.isArray(doc.contacts)) return undefined;
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
  onList(list: Contact[]): void;
  /** The subscription ended without being disposed (refused, or terminated by the server). */
  onEnded(): void;
  onBadBody(body: string): void;
}

/** One subscription, on one flow; a new flow gets a new one. */
export class ContactSubscription {
  readonly #subscriber: Subscriber;
  #disposed = false;

  constructor(ua: UserAgent, aor: URI, expires: number, events: ContactSubscriptionEvents) {
    this.#subscriber = new Subscriber(ua, aor, CONTACTS_EVENT, {
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
        const list = parseContactList(body);
        if (list) events.onList(list);
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
