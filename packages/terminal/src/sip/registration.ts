import type { Core, URI, UserAgent } from 'sip.js';
import { viaReceived } from './route-security.js';

/**
 * REGISTER on one RFC 5626 flow (one TLS connection), with refreshes before expiry.
 *
 * Built on the user agent core rather than sip.js's `Registerer` for two reasons:
 * - a registration belongs to its connection: when the connection dies, the registration for it must
 *   simply be forgotten. `Registerer` cannot be abandoned silently (its `dispose()` sends an
 *   un-REGISTER for the same Contact and instance, which on the new flow would delete the binding just
 *   made there), and a REGISTER still pending on the dead flow blocks it until Timer F (32 s);
 * - each REGISTER here is a fresh request message, so no Authorization header computed for an old nonce
 *   is ever replayed (our server counts a replayed nonce-count as a failed attempt).
 * The Call-ID stays the same for the whole life of the terminal and CSeq only grows (RFC 3261 §10.2).
 */

export interface RegistrationInfo {
  /** Seconds the registrar granted our binding. */
  expires: number;
  /** Flow-Timer from the registrar (RFC 5626 §5.4), if any. */
  flowTimer: number | undefined;
  /**
   * The address the registrar saw this flow come from (`received` of the top Via, canonical), if it
   * said: what this device names itself by in Route-Security.
   */
  received: string | undefined;
}

export interface RegistrationFailure {
  status: number;
  reason: string;
  /** Seconds, from Retry-After. */
  retryAfter: number | undefined;
}

export interface RegistrationEvents {
  onRegistered(info: RegistrationInfo): void;
  onFailed(failure: RegistrationFailure): void;
}

export interface RegistrationOptions {
  ua: UserAgent;
  aor: URI;
  registrar: URI;
  /** UUID (without `urn:uuid:`) of this device: `+sip.instance`. */
  instanceId: string;
  regId: number;
  /** Requested expiry, seconds. */
  expires: number;
  /** Refresh after this fraction of the granted time; default a random 0.75–0.85. */
  refreshFraction?: number;
  /** Call-ID and CSeq shared by every registration of this terminal. */
  sequence: { callId: string; cseq: number };
}

export class FlowRegistration {
  readonly #o: RegistrationOptions;
  readonly #events: RegistrationEvents;
  #expires: number;
  #refreshTimer: NodeJS.Timeout | undefined;
  #pending: Core.OutgoingRequest | undefined;
  #closed = false;
  #minExpiresRetried = false;

  constructor(options: RegistrationOptions, events: RegistrationEvents) {
    this.#o = options;
    this.#events = events;
    this.#expires = options.expires;
  }

  /** True while a REGISTER waits for its final response. */
  get pending(): boolean {
    return this.#pending !== undefined;
  }

  /** Sends a REGISTER now (a refresh if already registered). Ignored while one is pending. */
  register(): void {
    if (this.#closed || this.#pending) return;
    clearTimeout(this.#refreshTimer);
    this.#pending = this.#send(this.#expires, {
      onAccept: (res) => {
        this.#pending = undefined;
        if (this.#closed) return;
        const info = this.#accepted(res.message);
        if (!info) {
          this.#events.onFailed({
            status: 500,
            reason: 'the registrar accepted the REGISTER but did not list our binding',
            retryAfter: undefined,
          });
          return;
        }
        const fraction = this.#o.refreshFraction ?? 0.75 + Math.random() * 0.1;
        this.#refreshTimer = setTimeout(() => this.register(), info.expires * 1000 * fraction);
        this.#refreshTimer.unref();
        this.#events.onRegistered(info);
      },
      onReject: (res) => {
        this.#pending = undefined;
        if (this.#closed) return;
        const m = res.message;
        const status = m.statusCode ?? 500;
        if (status === 423 && !this.#minExpiresRetried) {
          const min = Number(m.getHeader('Min-Expires'));
          if (Number.isInteger(min) && min > this.#expires) {
            this.#minExpiresRetried = true;
            this.#expires = min;
            this.register();
            return;
          }
        }
        const retry = Number(m.getHeader('Retry-After')?.split(/[;\s(]/)[0]);
        this.#events.onFailed({
          status,
          reason: m.reasonPhrase ?? '',
          retryAfter: Number.isFinite(retry) && retry >= 0 ? retry : undefined,
        });
      },
      onRedirect: (res) => {
        this.#pending = undefined;
        if (this.#closed) return;
        this.#events.onFailed({
          status: res.message.statusCode ?? 300,
          reason: 'the registrar redirected us, which a Tsunagu server never does',
          retryAfter: undefined,
        });
      },
    });
  }

  /** Forgets this flow's registration: no more refreshes, late responses ignored, nothing sent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    this.#pending?.dispose();
    this.#pending = undefined;
  }

  /** Removes our binding (REGISTER with expires=0), then closes; resolves on any answer or after `timeoutMs`. */
  unregister(timeoutMs = 2_000): Promise<void> {
    this.close();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        this.#send(0, { onAccept: done, onReject: done, onRedirect: done });
      } catch {
        done();
      }
    });
  }

  #send(expires: number, delegate: Core.OutgoingRequestDelegate): Core.OutgoingRequest {
    const { ua, aor, registrar, instanceId, regId, sequence } = this.#o;
    const contact =
      `${ua.contact.toString({ register: true })};reg-id=${regId};` +
      `+sip.instance="<urn:uuid:${instanceId}>";expires=${expires}`;
    const request = ua.userAgentCore.makeOutgoingRequestMessage(
      'REGISTER',
      registrar,
      aor,
      aor,
      { callId: sequence.callId, cseq: ++sequence.cseq },
      [`Contact: ${contact}`, 'Allow: ACK, CANCEL, INVITE, BYE, OPTIONS, NOTIFY'],
      undefined,
    );
    const outgoing = ua.userAgentCore.register(request, {
      ...delegate,
      onAccept: (res) => {
        // A 401/407 retry raised the CSeq inside the core: continue from there.
        sequence.cseq = Math.max(sequence.cseq, request.cseq);
        delegate.onAccept?.(res);
      },
      onReject: (res) => {
        sequence.cseq = Math.max(sequence.cseq, request.cseq);
        delegate.onReject?.(res);
      },
    });
    return outgoing;
  }

  /** Our binding in a 2xx: matched by instance id, else by Contact user part. */
  #accepted(m: Core.IncomingResponseMessage): RegistrationInfo | undefined {
    const ours = `<urn:uuid:${this.#o.instanceId}>`;
    const user = this.#o.ua.contact.uri.user;
    const count = m.getHeaders('contact').length;
    for (let i = 0; i < count; i++) {
      const c = m.parseHeader('contact', i) as
        { uri: URI; getParam(name: string): string | undefined; hasParam(name: string): boolean } | undefined;
      if (!c) continue;
      const instance = c.getParam('+sip.instance')?.replace(/^"|"$/g, '');
      if (instance !== ours && c.uri.user !== user) continue;
      const expires = Number(c.getParam('expires') ?? m.getHeader('Expires'));
      if (!Number.isFinite(expires) || expires <= 0) return undefined;
      const flowTimer = Number(m.getHeader('Flow-Timer'));
      return {
        expires,
        flowTimer: Number.isFinite(flowTimer) && flowTimer > 0 ? flowTimer : undefined,
        received: viaReceived(m.getHeader('Via')),
      };
    }
    return undefined;
  }
}
