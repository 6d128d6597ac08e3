import type { X509Certificate } from 'node:crypto';
import { randomId } from '../sip/ids.js';
import type { SipMessage } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';

/** Who a connection has proved to be (digest on REGISTER or a challenged request, or its client certificate). */
export interface Identity {
  user: string;
  /** `sip:user@domain` */
  aor: string;
  /** Set when the credentials were a device's own (`user/device` or its certificate), not the user's password. */
  deviceId?: string;
  /** The fingerprint (`sha256:…`) of the CA-issued client certificate that proved it, if one did. */
  certificate?: string;
  /** The device's `+sip.instance`, when the certificate named it. */
  instance?: string;
}

/** A federation peer as a link proved it. */
export interface PeerIdentity {
  domain: string;
}

export interface Endpoint {
  address: string;
  port: number;
}

/**
 * One reliable, encrypted transport connection (a TLS socket or a WebSocket over TLS) — an RFC 5626
 * flow. Registrations belong to the connection they arrived on, and requests for a terminal go down it.
 */
export interface Connection {
  readonly id: string;
  /** Via sent-protocol token: `TLS` or `WSS`; `TCP` only for a federation peer configured as insecure. */
  readonly transport: 'TLS' | 'WSS' | 'TCP';
  readonly remote: Endpoint;
  readonly local: Endpoint;
  identity: Identity | undefined;
  /**
   * Set when the far end is a peer server of another domain (federation): its certificate chained to
   * the CA configured for that domain and named it (or, for an insecure TCP peer, its address matched).
   */
  peer: PeerIdentity | undefined;
  /** The client certificate, when the peer presented one that chains to the deployment CA. */
  readonly clientCertificate: X509Certificate | undefined;
  /** Set when the connection must be refused (e.g. its certificate is revoked): every request gets 403 with it. */
  refusal: string | undefined;
  readonly closed: boolean;
  send(msg: SipMessage): void;
  close(reason: string): void;
  /**
   * Calls `listener` once the connection closes (at once if it is closed already). Returns a function
   * that removes it: whatever lives shorter than the connection (a transaction) must call it, or a
   * long-lived flow would collect a listener per request it ever carried.
   */
  onClose(listener: (reason: string) => void): () => void;
  /**
   * Lets the peer stay silent this long before the connection counts as dead (never less than the
   * idle timeout). For registrations from clients that send no RFC 5626 keepalives.
   */
  allowSilence(ms: number): void;
}

export interface TransportLimits {
  /** A TLS handshake not finished within this is dropped. */
  handshakeTimeoutMs: number;
  /** A connection must deliver its first complete message within this. */
  firstMessageTimeoutMs: number;
  /** Afterwards, the longest silence (messages or CRLF keepalives) before the connection is closed. */
  idleTimeoutMs: number;
  /** Bytes queued for a peer that does not read; past this it is disconnected rather than buffered. */
  maxQueuedBytes: number;
  maxConnections: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  handshakeTimeoutMs: 10_000,
  firstMessageTimeoutMs: 15_000,
  idleTimeoutMs: 300_000,
  maxQueuedBytes: 1 << 20,
  maxConnections: 20_000,
};

export type MessageHandler = (conn: Connection, msg: SipMessage) => void;
/** A message that could not be parsed: the handler may answer it (400) if it got far enough. */
export type BadMessageHandler = (conn: Connection, raw: Buffer, error: Error & { status?: number }) => void;

export interface TransportEvents {
  onMessage: MessageHandler;
  onBadMessage: BadMessageHandler;
  onConnection?: (conn: Connection) => void;
}

export function newConnectionId(): string {
  return randomId(9, 'base64url');
}

/** Normalises an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) to plain IPv4. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** `host:port`, bracketing IPv6. */
export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Shared bookkeeping for both transports: close-once, listeners, reason. */
export abstract class BaseConnection implements Connection {
  readonly id = newConnectionId();
  identity: Identity | undefined;
  peer: PeerIdentity | undefined;
  clientCertificate: X509Certificate | undefined;
  refusal: string | undefined;
  #closed = false;
  readonly #listeners = new Set<(reason: string) => void>();
  abstract readonly transport: 'TLS' | 'WSS' | 'TCP';
  abstract readonly remote: Endpoint;
  abstract readonly local: Endpoint;

  get closed(): boolean {
    return this.#closed;
  }

  /** The longest silence currently tolerated, once the first message has arrived. */
  protected silenceMs: number;

  constructor(protected readonly idleTimeoutMs: number) {
    this.silenceMs = idleTimeoutMs;
  }

  allowSilence(ms: number): void {
    const next = Math.max(this.idleTimeoutMs, ms);
    if (next === this.silenceMs) return;
    this.silenceMs = next;
    this.rearm();
  }

  abstract send(msg: SipMessage): void;
  protected abstract destroy(): void;
  /** Restarts the silence timer with `silenceMs`. */
  protected abstract rearm(): void;

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.destroy();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) l(reason);
  }

  onClose(listener: (reason: string) => void): () => void {
    if (this.#closed) {
      listener('closed');
      return () => undefined;
    }
    // A fresh entry per call: one function added twice is still called twice.
    const entry = (reason: string) => listener(reason);
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }
}

/** Parses one framed message and hands it on; a parse error goes to `onBadMessage` (the stream stays usable). */
export function deliver(conn: Connection, raw: Buffer, events: TransportEvents): void {
  let msg: SipMessage;
  try {
    msg = parseMessage(raw);
  } catch (err) {
    events.onBadMessage(conn, raw, err as Error);
    return;
  }
  events.onMessage(conn, msg);
}
