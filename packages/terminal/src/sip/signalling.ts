import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { SecureContext } from 'node:tls';
import { Inviter, URI, UserAgent } from 'sip.js';
import type { Invitation, LogLevel } from 'sip.js';
import type { DeviceCredentials } from '../enroll/credentials.js';
import { splitHostPort } from '../enroll/https.js';
import { CallError, IncomingCall, NegotiatorSdh, OutgoingCall, SdhRegistry, SDP } from './calls.js';
import type { CallerRoute, OfferProvider } from './calls.js';
import { CertificateRequestError, requestCertificate } from './certificate-request.js';
import type { Contact, ContactDocument } from './contacts.js';
import { ContactSubscriptions } from './contact-subscriptions.js';
import {
  ROUTE_SECURITY,
  canonicalIp,
  formatRouteSecurity,
  parseChannelSdp,
  type ChannelDescription,
  type KeysView,
  type PathVerdict,
} from '@tsunagu/protocol';
import { fetchKeys, KeysError } from './keys.js';
import { useRfc8760Digest } from './digest.js';
import { parseAssertedIdentity, type AssertedIdentity } from './identity.js';
import { addressesOf, AddressWatcher, type NetworkInterfacesFn } from './network.js';
import { ServerCertificateError } from './pinned-tls.js';
import { FlowRegistration, type RegistrationFailure, type RegistrationInfo } from './registration.js';
import { calleePath, ROUTE_NOT_SECURE, routeSecurityHeaders } from './route-security.js';
import { TlsTransport, type KeepAliveOptions, type TlsTransportOptions } from './transport.js';
import { warningHeader } from './warning.js';

/**
 * The terminal's signalling: one sip.js UserAgent over one pinned TLS connection to the server, kept
 * registered (RFC 5626 outbound: `+sip.instance`, `reg-id`, CRLF keepalives), with the contact list
 * and calls on top.
 *
 * Recovery is ours, not sip.js's: when the connection drops (server restart, network loss, dead flow)
 * Signalling reconnects with exponential backoff and jitter and registers again on the new flow; when
 * the machine's addresses change it re-registers at once (or reconnects, if the flow's own address is
 * gone). Fatal conditions — the server is not the one the CA pin says, or it refuses our credentials —
 * stop it in state `failed`: retrying would not help and could lock the account (throttling).
 */

export interface SignallingLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface SignallingOptions {
  /** The SIP-over-TLS listener. `servername`: the name its certificate must carry (default `host`). */
  server: { host: string; port: number; servername?: string };
  /** The deployment CA certificate (PEM) and its pinned fingerprint (`sha256:AB:…`). */
  ca: string;
  caFingerprint: string;
  /** SIP domain: the AOR is `sip:<user>@<domain>`. */
  domain: string;
  user: string;
  /** Digest username: `user` (password account) or `user/DEVICE` (enrolled device). Default `user`. */
  username?: string;
  /** The password, or the device secret. */
  password: string;
  /** This device's instance id (a UUID): `+sip.instance` (RFC 5626). */
  instanceId: string;
  displayName?: string;
  /**
   * The TLS context with this device's CA-issued certificate (see PinnedTlsOptions.clientContext),
   * asked for on every connection.
   */
  clientContext?: () => SecureContext | undefined;
  /** Requested registration expiry in seconds (default 600; the server grants 60–3600). */
  expires?: number;
  /** Refresh after this fraction of the granted expiry (default a random 0.75–0.85). */
  refreshFraction?: number;
  /** Reconnection backoff: first delay (default 1 s), doubling up to `maxDelayMs` (default 60 s), ±50 % jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  keepAlive?: KeepAliveOptions;
  /** Address-change detection (default: poll `os.networkInterfaces()` every 5 s); `false` turns it off. */
  networkWatch?: { intervalMs?: number; interfaces?: NetworkInterfacesFn } | false;
  /** Contact-list subscription expiry, seconds (default 600). */
  contactsExpires?: number;
  /** Seconds an incoming call may ring before it is answered 480 (default 60). */
  ringTimeout?: number;
  logger?: SignallingLogger;
}

export type SignallingStatus =
  | { state: 'idle' }
  | { state: 'connecting' }
  | { state: 'registered'; expires: number }
  | { state: 'reconnecting'; reason: Error; attempt: number; delayMs: number }
  | { state: 'failed'; error: Error }
  | { state: 'stopped' };

export type SignallingErrorCode = 'auth-failed' | 'forbidden' | 'throttled' | 'not-our-domain' | 'stopped';

/** Why Signalling gave up (state `failed`), or why a call to it cannot be served. */
export class SignallingError extends Error {
  override readonly name = 'SignallingError';
  constructor(
    readonly code: SignallingErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface SignallingEvents {
  /** Every state change. */
  state: [SignallingStatus];
  /** Every accepted REGISTER: the first, each refresh, and each re-registration on a new flow. */
  registered: [RegistrationInfo];
  /**
   * The contact list with presence, on every NOTIFY: our own domain's members, then those of each peer
   * domain our server names (whose `user` is the full `bob@b.example`, the name to call them by).
   */
  contacts: [readonly Contact[]];
  /** An INVITE to us. If nobody listens, it is answered 480. */
  incoming: [IncomingCall];
  /**
   * An INVITE whose signalling path was not secure end to end (Route-Security): already refused with
   * `606 Route Not Secure`; reported so that the person sees who tried and why it was refused.
   */
  insecure: [InsecureCall];
  /**
   * A domain's revocation list changed: fingerprints (`AB:CD:…`) of certificates its CA revoked that
   * have not expired. Our own domain's, or a peer domain's (which applies to that domain's members only).
   */
  revoked: [readonly string[], string];
}

/** An INVITE refused because its signalling path was not secure end to end. */
export interface InsecureCall {
  /** The Call-ID, for logs. */
  id: string;
  /** The caller, as our server asserted it. */
  caller: AssertedIdentity;
  /** The path the request carried, and why it is not secure. */
  path: PathVerdict;
}

const USER = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const VERSION = '0.1.0';

/** Delay before reconnection attempt `attempt` (1-based): exponential, capped, with jitter in [½d, d]. */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(d / 2 + (random() * d) / 2);
}

interface Flow {
  generation: number;
  registration: FlowRegistration;
  contacts: ContactSubscriptions | undefined;
  registered: boolean;
  /** The address the registrar saw this flow come from (top Via `received` of its 2xx). */
  received: string | undefined;
}

export class Signalling extends EventEmitter<SignallingEvents> {
  readonly aor: string;
  readonly #o: SignallingOptions;
  readonly #ua: UserAgent;
  readonly #transport: TlsTransport;
  readonly #sdh = new SdhRegistry();
  readonly #aorUri: URI;
  readonly #registrar: URI;
  readonly #watcher: AddressWatcher | undefined;
  readonly #interfaces: NetworkInterfacesFn;
  readonly #sequence = { callId: randomBytes(12).toString('hex'), cseq: 0 };
  readonly #log: SignallingLogger | undefined;
  #status: SignallingStatus = { state: 'idle' };
  #contacts: readonly Contact[] = [];
  /** Each domain's latest list (ours first, then peers' in the order they came), merged into #contacts. */
  readonly #lists = new Map<string, readonly Contact[]>();
  /** Each domain's latest revocation list. */
  readonly #revoked = new Map<string, readonly string[]>();
  #generation = 0;
  #flow: Flow | undefined;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #first: { resolve(): void; reject(e: Error): void } | undefined;

  constructor(options: SignallingOptions) {
    super();
    if (!USER.test(options.user)) throw new TypeError(`invalid user name ${JSON.stringify(options.user)}`);
    this.#o = options;
    this.#log = options.logger;
    this.aor = `sip:${options.user}@${options.domain}`;
    this.#aorUri = new URI('sip', options.user, options.domain);
    this.#registrar = new URI('sip', '', options.domain);
    const transportOptions: TlsTransportOptions = {
      host: options.server.host,
      port: options.server.port,
      ...(options.server.servername ? { servername: options.server.servername } : {}),
      ca: options.ca,
      caFingerprint: options.caFingerprint,
      ...(options.clientContext ? { clientContext: options.clientContext } : {}),
      ...(options.keepAlive ? { keepAlive: options.keepAlive } : {}),
    };
    this.#ua = new UserAgent({
      uri: this.#aorUri,
      ...(options.displayName ? { displayName: options.displayName } : {}),
      transportConstructor: TlsTransport,
      transportOptions,
      contactParams: { transport: 'tls' },
      instanceId: options.instanceId,
      // Recovery is done here (backoff, re-registration); sip.js must not reconnect on its own.
      reconnectionAttempts: 0,
      // IncomingCall answers 480 itself at the ring timeout, with the path; sip.js's own (pathless) 480
      // is only a backstop behind it.
      noAnswerTimeout: (options.ringTimeout ?? 60) + 5,
      sessionDescriptionHandlerFactory: this.#sdh.factory,
      userAgentString: `Tsunagu/${VERSION} sip.js/0.21.2`,
      logBuiltinEnabled: false,
      logConfiguration: false,
      logLevel: options.logger ? 'debug' : 'error',
      logConnector: (level: LogLevel, category: string, _label: string | undefined, content: string) =>
        this.#sipLog(level, category, content),
      delegate: {
        onDisconnect: (error?: Error) => {
          if (error) this.#lost(error);
        },
        onInvite: (invitation) => this.#onInvite(invitation),
      },
    });
    this.#transport = this.#ua.transport as TlsTransport;
    useRfc8760Digest(this.#ua, { username: options.username ?? options.user, password: options.password });
    this.#interfaces = (options.networkWatch && options.networkWatch.interfaces) || os.networkInterfaces;
    this.#watcher =
      options.networkWatch === false
        ? undefined
        : new AddressWatcher(this.#interfaces, options.networkWatch?.intervalMs ?? 5_000, () =>
            this.#networkChanged(),
          );
  }

  /** Signalling for credentials from {@link enroll} or {@link login}. */
  static fromCredentials(
    creds: DeviceCredentials,
    options: Omit<Partial<SignallingOptions>, 'server' | 'ca' | 'caFingerprint' | 'domain' | 'user'> = {},
  ): Signalling {
    const server = splitHostPort(creds.server);
    return new Signalling({
      username: creds.username,
      password: creds.secret,
      instanceId: creds.instanceId,
      ...options,
      server,
      ca: creds.caPem,
      caFingerprint: creds.caFingerprint,
      domain: creds.domain,
      user: creds.user,
    });
  }

  get status(): SignallingStatus {
    return this.#status;
  }

  /** The latest contact list (empty until the first NOTIFY). */
  get contacts(): readonly Contact[] {
    return this.#contacts;
  }

  /** True once our own domain's list, and a first list from every peer domain it names, came. */
  get contactsComplete(): boolean {
    const asked = this.#flow?.contacts?.domains ?? [];
    return this.#lists.has(this.#o.domain) && asked.every((d) => this.#lists.has(d));
  }

  /**
   * Connects and registers. Resolves once registered the first time; rejects if that fails for good
   * (untrusted server, refused credentials) or stop() is called first. Transient failures are retried
   * with backoff meanwhile (state `reconnecting`). Signalling is started once; make a new one after
   * stop() or failure.
   */
  start(): Promise<void> {
    if (this.#status.state !== 'idle')
      return Promise.reject(new Error(`Signalling already ${this.#status.state}`));
    const first = new Promise<void>((resolve, reject) => (this.#first = { resolve, reject }));
    this.#setStatus({ state: 'connecting' });
    this.#watcher?.start();
    this.#ua.start().then(
      () => this.#connected(),
      (err: Error) => this.#connectFailed(err),
    );
    return first;
  }

  /** Unregisters (best effort, bounded), ends calls and the subscription, and closes the connection. */
  async stop(): Promise<void> {
    if (this.#status.state === 'stopped') return;
    const flow = this.#flow;
    this.#halt();
    this.#setStatus({ state: 'stopped' });
    this.#first?.reject(new SignallingError('stopped', 'signalling stopped before it registered'));
    this.#first = undefined;
    if (flow?.registered && this.#transport.isConnected()) await flow.registration.unregister(1_500);
    await withTimeout(this.#ua.stop(), 3_000).catch(() => undefined);
    await this.#transport.dispose().catch(() => undefined);
  }

  /** Fingerprints of certificates `domain`'s CA revoked (default: ours), as of its latest contact list. */
  revoked(domain = this.#o.domain): readonly string[] {
    return this.#revoked.get(domain.toLowerCase()) ?? [];
  }

  /**
   * Asks the deployment CA for a certificate for our key (PUBLISH with the PKCS#10 request `csrDer`);
   * resolves with the PEM chain. Only while registered: the server issues to authenticated devices.
   */
  requestCertificate(csrDer: Buffer): Promise<string> {
    if (this.#status.state !== 'registered')
      return Promise.reject(
        new CertificateRequestError(503, `signalling is ${this.#status.state}, not registered`),
      );
    return requestCertificate(this.#ua, this.#aorUri, csrDer);
  }

  /**
   * The key directory: `target`'s current certificates and public keys, checked against our CA — or,
   * for a peer domain's member, against that domain's CA, which comes with them (as the view's `ca`).
   */
  fetchKeys(target: string): Promise<KeysView> {
    const uri = this.#targetUri(target);
    if (this.#status.state !== 'registered')
      return Promise.reject(new KeysError('failed', `signalling is ${this.#status.state}, not registered`));
    return fetchKeys(this.#ua, this.#aorUri, uri, uri.host === this.#o.domain ? this.#o.ca : undefined);
  }

  /**
   * Calls `target` (a user name of our domain, or `user@domain`) with the offer from `offer`. The
   * returned call reports `ringing`, then `accepted` / `declined` / `failed`, then `ended`.
   */
  invite(target: string, offer: OfferProvider): OutgoingCall {
    const uri = this.#targetUri(target);
    const aor = `sip:${uri.user}@${uri.host}`;
    const route = this.#route();
    const inviter = new Inviter(this.#ua, uri, {
      extraHeaders: [
        `Accept: ${SDP}`,
        // The seed's Route-Security: the path begins here (docs/protocol.md "Route-Security").
        ...(route ? [`${ROUTE_SECURITY}: ${formatRouteSecurity(route.own)}`] : []),
      ],
    });
    const sdh = new NegotiatorSdh(offer, undefined);
    this.#sdh.set(inviter, sdh);
    const call = new OutgoingCall(inviter, sdh, aor, route ?? { own: '', server: '' });
    if (this.#status.state !== 'registered' || !route) {
      const why =
        this.#status.state === 'registered'
          ? 'the signalling connection is down'
          : `signalling is ${this.#status.state}, not registered`;
      call.failBeforeStart(new CallError('not-connected', why));
      return call;
    }
    call.start();
    return call;
  }

  /**
   * Both ends of our leg of a call's path: the address we name ourselves by (the one our server
   * observed for this flow, else our socket's local address) and our server's (the socket's remote
   * address). Undefined while not connected.
   */
  #route(): CallerRoute | undefined {
    const socket = this.#transport.socket;
    const own = this.#flow?.received ?? canonicalIp(socket?.localAddress ?? '');
    const server = canonicalIp(socket?.remoteAddress ?? '');
    return own && server ? { own, server } : undefined;
  }

  #targetUri(target: string): URI {
    let user = target.trim();
    let domain = this.#o.domain;
    if (user.startsWith('sip:')) user = user.slice(4);
    const at = user.lastIndexOf('@');
    if (at >= 0) {
      domain = user.slice(at + 1).toLowerCase();
      user = user.slice(0, at);
    }
    user = user.toLowerCase();
    if (!USER.test(user) || !/^[a-z0-9.-]+$/.test(domain)) {
      throw new TypeError(`not a contact name: ${JSON.stringify(target)}`);
    }
    return new URI('sip', user, domain);
  }

  // ---- connection and registration ----

  #connected(): void {
    // Lost again before we got here: #lost has already scheduled the next attempt.
    if (this.#isOver() || !this.#transport.isConnected()) return;
    const generation = ++this.#generation;
    const registration = new FlowRegistration(
      {
        ua: this.#ua,
        aor: this.#aorUri,
        registrar: this.#registrar,
        instanceId: this.#o.instanceId,
        regId: 1,
        expires: this.#o.expires ?? 600,
        ...(this.#o.refreshFraction ? { refreshFraction: this.#o.refreshFraction } : {}),
        sequence: this.#sequence,
      },
      {
        onRegistered: (info) => {
          if (generation === this.#generation) this.#registered(info);
        },
        onFailed: (f) => {
          if (generation === this.#generation) this.#registerFailed(f);
        },
      },
    );
    this.#flow = {
      generation,
      registration,
      contacts: undefined,
      registered: false,
      received: undefined,
    };
    this.#log?.debug(`connected to ${this.#o.server.host}:${this.#o.server.port}; registering`);
    registration.register();
  }

  #registered(info: RegistrationInfo): void {
    const flow = this.#flow!;
    flow.registered = true;
    flow.received = info.received ?? flow.received;
    this.#attempt = 0;
    if (info.flowTimer) this.#transport.setFlowTimer(info.flowTimer);
    if (this.#status.state !== 'registered' || this.#status.expires !== info.expires) {
      this.#setStatus({ state: 'registered', expires: info.expires });
    }
    this.emit('registered', info);
    this.#first?.resolve();
    this.#first = undefined;
    if (!flow.contacts) this.#subscribeContacts(flow);
  }

  #registerFailed(f: RegistrationFailure): void {
    const what = `REGISTER refused: ${f.status} ${f.reason}`.trim();
    if (f.status === 401 || f.status === 407) {
      this.#fail(
        new SignallingError('auth-failed', `the server refused our credentials (${what})`, f.status),
      );
    } else if (f.status === 403) {
      const throttled = f.retryAfter !== undefined;
      this.#fail(
        new SignallingError(
          throttled ? 'throttled' : 'forbidden',
          throttled
            ? `${what}; retry after ${f.retryAfter} s`
            : `the server forbids this registration (${what})`,
          f.status,
        ),
      );
    } else if (f.status === 404) {
      this.#fail(
        new SignallingError('not-our-domain', `the server does not serve ${this.#o.domain} (${what})`, 404),
      );
    } else {
      // 408 (no answer on this flow), 5xx, or a transport error sip.js reports as 503: a new flow.
      this.#recycle(new Error(what), (f.retryAfter ?? 0) * 1000);
    }
  }

  #connectFailed(err: Error): void {
    if (this.#isOver()) return;
    if (err instanceof ServerCertificateError) {
      this.#fail(err);
      return;
    }
    this.#scheduleReconnect(err);
  }

  /** The connection was lost (reported by the transport through the UserAgent). */
  #lost(error: Error): void {
    if (this.#isOver()) return;
    this.#log?.info(`signalling connection lost: ${error.message}`);
    this.#dropFlow();
    this.#scheduleReconnect(error);
  }

  /** Abandons the current flow (e.g. it stopped answering) and reconnects. */
  #recycle(reason: Error, minDelayMs = 0, immediate = false): void {
    if (this.#isOver()) return;
    this.#dropFlow();
    const reconnect = () => {
      if (immediate) {
        this.#setStatus({ state: 'reconnecting', reason, attempt: this.#attempt, delayMs: 0 });
        this.#reconnectNow();
      } else this.#scheduleReconnect(reason, minDelayMs);
    };
    // disconnect() reports no error, so #lost does not run for it.
    this.#transport.disconnect().then(reconnect, reconnect);
  }

  #scheduleReconnect(reason: Error, minDelayMs = 0): void {
    if (this.#isOver()) return;
    clearTimeout(this.#reconnectTimer);
    this.#attempt += 1;
    const { initialDelayMs = 1_000, maxDelayMs = 60_000 } = this.#o.reconnect ?? {};
    const delayMs = Math.max(minDelayMs, backoffDelay(this.#attempt, initialDelayMs, maxDelayMs));
    this.#setStatus({ state: 'reconnecting', reason, attempt: this.#attempt, delayMs });
    this.#reconnectTimer = setTimeout(() => this.#reconnectNow(), delayMs);
  }

  #reconnectNow(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#isOver()) return;
    this.#ua.reconnect().then(
      () => this.#connected(),
      (err: Error) => this.#connectFailed(err),
    );
  }

  #networkChanged(): void {
    if (this.#isOver()) return;
    const status = this.#status.state;
    if (status === 'reconnecting' && this.#reconnectTimer) {
      // Maybe the network is back: try now rather than at the end of the backoff.
      this.#log?.info('network addresses changed: reconnecting now');
      this.#reconnectNow();
      return;
    }
    const flow = this.#flow;
    if (!flow) return;
    const local = this.#transport.socket?.localAddress?.toLowerCase().replace(/^::ffff:/, '');
    if (local && !addressesOf(this.#interfaces).has(local)) {
      this.#log?.info(`network addresses changed: ${local} is gone; reconnecting`);
      this.#recycle(new Error(`network changed: the connection's local address ${local} is gone`), 0, true);
      return;
    }
    // The flow may still work: register again on it at once, and check it with a keepalive.
    this.#log?.info('network addresses changed: re-registering');
    this.#transport.ping();
    flow.registration.register();
  }

  #dropFlow(): void {
    const flow = this.#flow;
    this.#flow = undefined;
    this.#generation++;
    if (!flow) return;
    flow.registration.close();
    flow.contacts?.dispose();
  }

  /** Stops every activity (timers, flow, watcher) without changing the status. */
  #halt(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#watcher?.stop();
    this.#dropFlow();
  }

  #fail(error: Error): void {
    if (this.#isOver()) return;
    this.#log?.error(`signalling failed: ${error.message}`);
    this.#halt();
    this.#setStatus({ state: 'failed', error });
    this.#first?.reject(error);
    this.#first = undefined;
    void withTimeout(this.#ua.stop(), 3_000)
      .catch(() => undefined)
      .then(() => this.#transport.dispose())
      .catch(() => undefined);
  }

  #isOver(): boolean {
    return this.#status.state === 'stopped' || this.#status.state === 'failed';
  }

  #setStatus(status: SignallingStatus): void {
    this.#status = status;
    this.emit('state', status);
  }

  // ---- contacts ----

  #subscribeContacts(flow: Flow): void {
    if (flow !== this.#flow) return;
    flow.contacts = new ContactSubscriptions(this.#ua, this.#aorUri, this.#o.contactsExpires ?? 600, {
      onList: (domain, doc) => {
        if (flow === this.#flow) this.#onContactList(domain, doc);
      },
      onDomainGone: (domain) => {
        if (flow !== this.#flow) return;
        this.#lists.delete(domain);
        this.#revoked.delete(domain);
        this.#publishContacts();
      },
      onBadBody: (domain) =>
        this.#log?.warn(`ignored a contact list NOTIFY from ${domain} whose body is not a version-1 list`),
    });
    flow.contacts.start();
  }

  #onContactList(domain: string, { contacts, revoked }: ContactDocument): void {
    const own = domain === this.#o.domain;
    // A peer domain lists its own members only, called by their full address.
    const list = own
      ? contacts
      : contacts
          .filter((c) => c.aor.toLowerCase().endsWith(`@${domain}`))
          .map((c) => ({ ...c, user: c.aor.replace(/^sips?:/i, '').toLowerCase() }));
    this.#lists.set(domain, list);
    this.#publishContacts();
    const before = this.#revoked.get(domain) ?? [];
    this.#revoked.set(domain, revoked);
    if (revoked.length !== before.length || revoked.some((f, i) => f !== before[i]))
      this.emit('revoked', revoked, domain);
  }

  #publishContacts(): void {
    const own = this.#lists.get(this.#o.domain) ?? [];
    this.#contacts = [
      ...own,
      ...[...this.#lists].filter(([d]) => d !== this.#o.domain).flatMap(([, list]) => list),
    ];
    this.emit('contacts', this.#contacts);
  }

  // ---- incoming calls ----

  #onInvite(invitation: Invitation): void {
    const request = invitation.request;
    // Every answer carries the request's path back (Route-Security), refusals included.
    const values = request.getHeaders(ROUTE_SECURITY);
    const refuse = (statusCode: number, reasonPhrase?: string, warning?: string) =>
      void invitation
        .reject({
          statusCode,
          ...(reasonPhrase ? { reasonPhrase } : {}),
          extraHeaders: [...routeSecurityHeaders(values), ...(warning ? [warningHeader(warning)] : [])],
        })
        .catch(() => {});
    const caller = parseAssertedIdentity(request.getHeaders('P-Asserted-Identity'));
    if (!caller) {
      // Our server asserts every caller; without it we cannot say who calls.
      this.#log?.warn('INVITE without P-Asserted-Identity refused');
      refuse(403, 'Caller Identity Not Asserted');
      return;
    }
    const type = (request.getHeader('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== SDP || !request.body) {
      refuse(488, 'Offer Required');
      return;
    }
    // The offer names the caller's addresses, which the path must begin at: one we cannot read is
    // refused at once (the negotiator would refuse it anyway).
    let offer: ChannelDescription;
    try {
      offer = parseChannelSdp(request.body, 'offer');
    } catch (err) {
      this.#log?.warn(`INVITE with an unreadable channel offer refused: ${(err as Error).message}`);
      refuse(488, 'Not Acceptable Here', `not a channel offer: ${(err as Error).message}`);
      return;
    }
    const path = calleePath(values, this.#transport.socket?.remoteAddress, offer);
    if (!path.secure) {
      this.#log?.warn(
        `INVITE from ${caller.aor} refused: the path is not secure end to end (${path.reason}; ` +
          `Route-Security: ${values.join(', ') || 'none'})`,
      );
      refuse(ROUTE_NOT_SECURE.status, ROUTE_NOT_SECURE.reason, path.reason);
      this.emit('insecure', { id: request.callId, caller, path });
      return;
    }
    if (this.listenerCount('incoming') === 0) {
      refuse(480);
      return;
    }
    const ringMs = (this.#o.ringTimeout ?? 60) * 1000;
    this.emit('incoming', new IncomingCall(invitation, this.#sdh, caller, request.body, path, ringMs));
  }

  #sipLog(level: LogLevel, category: string, content: string): void {
    const log = this.#log;
    if (!log) return;
    const line = `[${category}] ${content}`;
    if (level === 'error') log.error(line);
    else if (level === 'warn') log.warn(line);
    else log.debug(line);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
