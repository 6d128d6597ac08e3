import { EventEmitter } from 'node:events';
import { ROUTE_SECURITY, checkCallerPath, type PathVerdict } from '@tsunagu/protocol';
import { SessionState } from 'sip.js';
import type { Core, Invitation, Inviter, Session, SessionDescriptionHandler } from 'sip.js';
import { parseAssertedIdentity, type AssertedIdentity } from './identity.js';
import { ROUTE_NOT_SECURE, refusedPath, routeSecurityHeaders } from './route-security.js';
import { warningText } from './warning.js';

/**
 * Calls: an INVITE carrying the channel offer and a 2xx carrying the answer (DESIGN.md "The channel
 * offer"). What the SDP says is the channel's business; here it is only carried, through a
 * {@link SessionDescriptionHandler} whose bodies come from an injected negotiator.
 */

export const SDP = 'application/sdp';

/** The caller's side of the offer/answer exchange (RFC 3264). */
export interface OfferProvider {
  /** The offer for the INVITE. */
  createOffer(): Promise<string>;
  /** The answer from the 2xx; rejecting hangs the call up (ACK then BYE) and fails it. */
  acceptAnswer(answer: string): Promise<void>;
}

/** The callee's side: turns the INVITE's offer into the answer for the 2xx. */
export interface AnswerProvider {
  /** Rejecting declines the call with 488 Not Acceptable Here. */
  acceptOffer(offer: string): Promise<string>;
}

export type Negotiator = OfferProvider & AnswerProvider;

export type CallErrorCode =
  /** No such user, or one the policy hides from us: deliberately the same (the server answers 404 to both). */
  | 'not-found'
  /** The user exists and may be reached but has no registered device (480). */
  | 'unavailable'
  /** Nobody answered in time (408), or the callee's device gave up (480 after ringing). */
  | 'no-answer'
  /** The server refused the request (403, 401/407) or it failed otherwise (other 4xx/5xx). */
  | 'rejected'
  /** Our negotiator could not make the offer or did not accept the answer. */
  | 'negotiation-failed'
  /** The callee's 2xx carried no asserted identity, so we could not know who answered. */
  | 'identity-missing'
  /** Signalling is not connected and registered, or the request could not be sent. */
  | 'not-connected'
  /** The caller cancelled before an answer. */
  | 'canceled'
  /** The callee declined (486 Busy Here, 600 Busy Everywhere, 603 Decline). */
  | 'declined'
  /**
   * A hop of the signalling path was not secure (Route-Security): the answer's path did not begin with
   * us and our server (we hung up), or the callee refused with 606 Route Not Secure.
   */
  | 'path-not-secure';

export class CallError extends Error {
  override readonly name = 'CallError';
  /** The signalling path, when the answer or refusal carried one (always for `path-not-secure`). */
  readonly path: PathVerdict | undefined;
  constructor(
    readonly code: CallErrorCode,
    message: string,
    /** The SIP status that caused it, if one did. */
    readonly status?: number,
    options?: { cause?: unknown; path?: PathVerdict },
  ) {
    super(message, options);
    this.path = options?.path;
  }
}

export interface CallAccepted {
  /** The answer SDP from the 2xx (already given to `acceptAnswer`). */
  answer: string;
  /** Who answered, as asserted by the server (P-Asserted-Identity of the 2xx). */
  callee: AssertedIdentity;
  /** The signalling path the 2xx carried back (Route-Security), secure from end to end. */
  path: PathVerdict;
}

/** The two ends of the path as the caller knows them (see checkCallerPath). */
export interface CallerRoute {
  /** The address the caller put in its INVITE's Route-Security. */
  own: string;
  /** The remote address of the caller's signalling connection: its server. */
  server: string;
}

export interface CallDeclined {
  status: number;
  reason: string;
}

export interface CallEnded {
  by: 'local' | 'remote';
  /**
   * `hangup`: a BYE; `canceled`: the caller cancelled before an answer; `declined`: the callee said no;
   * `timeout`: nobody decided in time; `error`: the dialog failed (e.g. no ACK, negotiation failure).
   */
  reason: 'hangup' | 'canceled' | 'declined' | 'timeout' | 'error';
}

type SdhState = 'initial' | 'have-local-offer' | 'have-remote-offer' | 'stable';

/**
 * A SessionDescriptionHandler that asks a negotiator for bodies. One offer/answer per call: a
 * re-offer (re-INVITE) is refused, which sip.js answers with 488.
 */
export class NegotiatorSdh implements SessionDescriptionHandler {
  #state: SdhState = 'initial';
  #remote: string | undefined;
  /** The last failure of the negotiator, to report the real cause rather than sip.js's summary. */
  error: Error | undefined;

  constructor(
    private readonly offer: OfferProvider | undefined,
    private readonly answer: AnswerProvider | undefined,
  ) {}

  async getDescription(): Promise<{ body: string; contentType: string }> {
    try {
      if (this.#state === 'initial' && this.offer) {
        const body = await this.offer.createOffer();
        this.#state = 'have-local-offer';
        return { body, contentType: SDP };
      }
      if (this.#state === 'have-remote-offer' && this.answer) {
        const body = await this.answer.acceptOffer(this.#remote!);
        this.#state = 'stable';
        return { body, contentType: SDP };
      }
    } catch (err) {
      this.error = err as Error;
      throw err;
    }
    throw (this.error = new Error('renegotiation is not supported: one offer and one answer per call'));
  }

  async setDescription(sdp: string): Promise<void> {
    if (this.#state === 'have-local-offer' && this.offer) {
      try {
        await this.offer.acceptAnswer(sdp);
      } catch (err) {
        this.error = err as Error;
        throw err;
      }
      this.#remote = sdp;
      this.#state = 'stable';
      return;
    }
    if (this.#state === 'initial' && this.answer) {
      this.#remote = sdp;
      this.#state = 'have-remote-offer';
      return;
    }
    throw new Error('renegotiation is not supported: one offer and one answer per call');
  }

  hasDescription(contentType: string): boolean {
    return contentType.split(';')[0]!.trim().toLowerCase() === SDP;
  }

  close(): void {
    this.#state = 'stable';
  }

  sendDtmf(): boolean {
    return false;
  }
}

/** Keeps each session's SessionDescriptionHandler, for the user agent's factory. */
export class SdhRegistry {
  readonly #bySession = new WeakMap<Session, NegotiatorSdh>();

  set(session: Session, sdh: NegotiatorSdh): void {
    this.#bySession.set(session, sdh);
  }

  /** The `sessionDescriptionHandlerFactory` of the UserAgent. */
  readonly factory = (session: Session): SessionDescriptionHandler => {
    const sdh = this.#bySession.get(session);
    if (!sdh) throw new Error('no negotiator for this session');
    return sdh;
  };
}

/** Marks a promise handled so that nobody awaiting it is not a crash; awaiting it still rejects. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

export interface OutgoingCallEvents {
  /** A 180/183 arrived (emitted once). */
  ringing: [];
  accepted: [CallAccepted];
  declined: [CallDeclined];
  failed: [CallError];
  /** After `accepted`, when the dialog ends; or when the caller cancelled before an answer. */
  ended: [CallEnded];
}

/**
 * An outgoing call. Events: `ringing`?, then exactly one of `accepted` (later followed by `ended`),
 * `declined`, `failed`, or `ended` (cancelled by us). The promise {@link answered} resolves with the
 * `accepted` data or rejects with a {@link CallError} (code `declined` for a decline).
 */
export class OutgoingCall extends EventEmitter<OutgoingCallEvents> {
  readonly answered: Promise<CallAccepted>;
  readonly #inviter: Inviter;
  readonly #sdh: NegotiatorSdh;
  #state: 'calling' | 'ringing' | 'established' | 'ended' = 'calling';
  #settle!: { resolve(a: CallAccepted): void; reject(e: CallError): void };
  #settled = false;
  #ended = false;
  #localHangup = false;
  #remoteHangup = false;
  #cancelled = false;

  readonly #route: CallerRoute;

  /** @internal Created by Signalling.invite. */
  constructor(
    inviter: Inviter,
    sdh: NegotiatorSdh,
    /** `sip:bob@example.org` */
    readonly target: string,
    route: CallerRoute,
  ) {
    super();
    this.#inviter = inviter;
    this.#sdh = sdh;
    this.#route = route;
    this.answered = quiet(
      new Promise<CallAccepted>((resolve, reject) => (this.#settle = { resolve, reject })),
    );
    inviter.delegate = {
      onBye: (bye) => {
        this.#remoteHangup = true;
        void bye.accept().catch(() => undefined);
      },
    };
    inviter.stateChange.addListener((s) => {
      if (s === SessionState.Terminated) this.#onTerminated();
    });
  }

  /** The Call-ID, for logs. */
  get id(): string {
    return this.#inviter.request.callId;
  }

  get state(): 'calling' | 'ringing' | 'established' | 'ended' {
    return this.#state;
  }

  /** Sends the INVITE. @internal */
  start(): void {
    this.#inviter
      .invite({
        requestDelegate: {
          onProgress: (res) => {
            const status = res.message.statusCode ?? 0;
            if ((status === 180 || status === 183) && this.#state === 'calling') {
              this.#state = 'ringing';
              this.emit('ringing');
            }
          },
          onAccept: (res) => this.#onAccept(res.message),
          onReject: (res) => this.#onReject(res.message),
          onRedirect: (res) =>
            this.#fail(
              new CallError(
                'rejected',
                `the call was redirected (${res.message.statusCode})`,
                res.message.statusCode,
              ),
            ),
        },
      })
      .catch((err: Error) => {
        const cause = this.#sdh.error ?? err;
        this.#fail(
          this.#sdh.error
            ? new CallError('negotiation-failed', `could not make the offer: ${cause.message}`, undefined, {
                cause,
              })
            : new CallError('not-connected', `could not send the INVITE: ${cause.message}`, undefined, {
                cause,
              }),
        );
      });
  }

  /** Fails the call without sending anything (signalling not ready). @internal */
  failBeforeStart(error: CallError): void {
    setImmediate(() => {
      this.#fail(error);
      void this.#inviter.dispose().catch(() => undefined);
    });
  }

  /** Cancels the call before it is answered (CANCEL); afterwards use {@link hangUp}. */
  cancel(): void {
    if (this.#state !== 'calling' && this.#state !== 'ringing') return;
    if (this.#inviter.state === SessionState.Established) return; // too late: answered
    this.#cancelled = true;
    void this.#inviter.cancel().catch(() => undefined);
  }

  /** Ends the call: BYE once established, CANCEL before. Resolves when it has ended. */
  async hangUp(): Promise<void> {
    if (this.#state === 'ended') return;
    const ended = new Promise<void>((resolve) => this.once('ended', () => resolve()));
    // sip.js's own state: a 2xx may have established the session before `accepted` was emitted.
    if (this.#inviter.state === SessionState.Established) {
      this.#localHangup = true;
      await this.#inviter.bye().catch(() => undefined);
    } else {
      this.cancel();
    }
    await ended;
  }

  #onAccept(m: Core.IncomingResponseMessage): void {
    // sip.js has given the answer to the negotiator already; the path is judged first all the same, since
    // an answer that came over an insecure hop may have been made by anyone.
    const path = checkCallerPath(m.getHeaders(ROUTE_SECURITY), this.#route);
    const insecure = path.secure
      ? undefined
      : new CallError(
          'path-not-secure',
          `the path to ${this.target} is not secure end to end: ${path.reason}; hung up`,
          m.statusCode,
          { path },
        );
    if (this.#inviter.state !== SessionState.Established) {
      // sip.js already sent ACK and BYE: the answer was not acceptable.
      const cause = this.#sdh.error;
      this.#fail(
        insecure ??
          new CallError(
            'negotiation-failed',
            `the answer was not accepted${cause ? `: ${cause.message}` : ''}`,
            m.statusCode,
            { cause },
          ),
      );
      return;
    }
    if (insecure) {
      this.#hangUpAndFail(insecure);
      return;
    }
    const callee = parseAssertedIdentity(m.getHeaders('P-Asserted-Identity'));
    if (!callee) {
      this.#hangUpAndFail(
        new CallError('identity-missing', 'the answer carried no asserted identity; hung up'),
      );
      return;
    }
    this.#state = 'established';
    this.#settled = true;
    const accepted: CallAccepted = { answer: m.body, callee, path };
    this.#settle.resolve(accepted);
    this.emit('accepted', accepted);
  }

  #onReject(m: Core.IncomingResponseMessage): void {
    const status = m.statusCode ?? 500;
    const reason = m.reasonPhrase ?? '';
    if (this.#cancelled && status === 487) return; // reported as 'ended' on termination
    if (status === ROUTE_NOT_SECURE.status && reason === ROUTE_NOT_SECURE.reason) {
      const path = refusedPath(m.getHeaders(ROUTE_SECURITY), warningText(m.getHeader('Warning')));
      this.#fail(
        new CallError(
          'path-not-secure',
          `${this.target} refused the call: the path is not secure end to end (${path.reason})`,
          status,
          { path },
        ),
      );
      return;
    }
    if (status === 486 || status === 600 || status === 603) {
      if (this.#settled) return;
      this.#settled = true;
      this.#state = 'ended';
      this.#settle.reject(new CallError('declined', `${this.target} declined (${status} ${reason})`, status));
      this.emit('declined', { status, reason });
      return;
    }
    this.#fail(statusError(status, reason, this.target));
  }

  /** Ends an answered call we cannot keep (BYE), and fails it. */
  #hangUpAndFail(error: CallError): void {
    this.#localHangup = true;
    void this.#inviter.bye().catch(() => undefined);
    this.#fail(error);
  }

  #fail(error: CallError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#state = 'ended';
    this.#settle.reject(error);
    this.emit('failed', error);
  }

  #onTerminated(): void {
    const wasEstablished = this.#state === 'established';
    if (!this.#settled) {
      if (this.#cancelled) {
        this.#settled = true;
        this.#settle.reject(new CallError('canceled', 'the call was cancelled'));
      } else {
        // sip.js terminates the session before it hands the final response to the request delegate:
        // give that a chance to report the real outcome, and fail only if nothing did.
        setImmediate(() => this.#fail(new CallError('not-connected', 'the call ended before any answer')));
      }
    }
    this.#state = 'ended';
    if (this.#ended) return;
    if (wasEstablished) {
      this.#ended = true;
      const end: CallEnded = this.#remoteHangup
        ? { by: 'remote', reason: 'hangup' }
        : { by: 'local', reason: this.#localHangup ? 'hangup' : 'error' };
      this.emit('ended', end);
    } else if (this.#cancelled) {
      this.#ended = true;
      this.emit('ended', { by: 'local', reason: 'canceled' });
    }
  }
}

/** The error for a final non-2xx answer to an INVITE (other than a decline). */
function statusError(status: number, reason: string, target: string): CallError {
  if (status === 404) {
    // The same words for "does not exist" and "hidden by policy": nothing may tell them apart.
    return new CallError('not-found', `${target}: no such contact, or not one you may reach`, status);
  }
  if (status === 480)
    return new CallError('unavailable', `${target} is offline (${status} ${reason})`, status);
  if (status === 408)
    return new CallError('no-answer', `${target} did not answer (${status} ${reason})`, status);
  if (status === 503 && reason === 'Service Unavailable') {
    // sip.js reports a transport failure as a locally generated 503.
    return new CallError('not-connected', `the INVITE could not be sent (${status})`, status);
  }
  return new CallError('rejected', `the call to ${target} was refused (${status} ${reason})`, status);
}

export interface IncomingCallEvents {
  ended: [CallEnded];
}

/**
 * An incoming call: who calls (as the server asserted it) and the offer. Decide with {@link accept}
 * or {@link decline}; `ended` says how it finished (also when the caller cancels before a decision).
 */
export class IncomingCall extends EventEmitter<IncomingCallEvents> {
  readonly #invitation: Invitation;
  readonly #registry: SdhRegistry;
  /** The request's Route-Security values, copied into every answer (the 200 and a refusal). */
  readonly #pathHeaders: string[];
  #state: 'ringing' | 'accepting' | 'established' | 'ended' = 'ringing';
  #ended = false;
  #remoteHangup = false;
  #localHangup = false;
  #declined = false;
  #cancelled = false;
  #failedNegotiation = false;
  #accepting: Promise<void> | undefined;
  /** Answers 480 when nobody decided in time (ours, not sip.js's, whose 480 would carry no path). */
  readonly #ringTimer: NodeJS.Timeout;

  /** @internal Created by Signalling for each INVITE. */
  constructor(
    invitation: Invitation,
    registry: SdhRegistry,
    /** The caller, as asserted by our server (P-Asserted-Identity). */
    readonly caller: AssertedIdentity,
    /** The offer SDP from the INVITE. */
    readonly offer: string,
    /** The signalling path the INVITE took (Route-Security), checked by Signalling: secure. */
    readonly path: PathVerdict,
    /** How long it may ring before it is answered 480 Temporarily Unavailable. */
    ringTimeoutMs: number,
  ) {
    super();
    this.#invitation = invitation;
    this.#registry = registry;
    this.#pathHeaders = routeSecurityHeaders(invitation.request.getHeaders(ROUTE_SECURITY));
    this.#ringTimer = setTimeout(() => {
      if (this.#state !== 'ringing' || this.#invitation.state !== SessionState.Initial) return;
      void this.#invitation
        .reject({ statusCode: 480, extraHeaders: this.#pathHeaders })
        .catch(() => undefined);
    }, ringTimeoutMs);
    this.#ringTimer.unref();
    invitation.delegate = {
      onBye: (bye) => {
        this.#remoteHangup = true;
        void bye.accept().catch(() => undefined);
      },
      onCancel: () => {
        this.#cancelled = true;
      },
    };
    invitation.stateChange.addListener((s) => {
      if (s === SessionState.Terminated) this.#onTerminated();
    });
  }

  get id(): string {
    return this.#invitation.request.callId;
  }

  get state(): 'ringing' | 'accepting' | 'established' | 'ended' {
    return this.#state;
  }

  /**
   * Answers with the SDP `answer.acceptOffer(offer)` returns (200 OK). Resolves once it is sent;
   * rejects if the call ended meanwhile or the negotiator failed (then the caller gets 488).
   */
  accept(answer: AnswerProvider): Promise<void> {
    this.#accepting = this.#accept(answer);
    return this.#accepting;
  }

  async #accept(answer: AnswerProvider): Promise<void> {
    if (this.#state !== 'ringing')
      throw new CallError('rejected', `cannot accept a call that is ${this.#state}`);
    this.#state = 'accepting';
    clearTimeout(this.#ringTimer);
    // The answer is made before sip.js is involved, so that a negotiator failure is answered 488 Not
    // Acceptable Here (sip.js would turn it into a 480).
    let sdp: string;
    try {
      sdp = await answer.acceptOffer(this.offer);
    } catch (err) {
      if (this.#invitation.state === SessionState.Initial) {
        this.#failedNegotiation = true;
        void this.#invitation
          .reject({ statusCode: 488, extraHeaders: this.#pathHeaders })
          .catch(() => undefined);
      }
      throw new CallError(
        'negotiation-failed',
        `could not answer the offer: ${(err as Error).message}`,
        488,
        {
          cause: err,
        },
      );
    }
    if (this.#invitation.state !== SessionState.Initial) {
      throw new CallError('canceled', 'the call ended before it could be accepted');
    }
    this.#registry.set(this.#invitation, new NegotiatorSdh(undefined, { acceptOffer: async () => sdp }));
    try {
      await this.#invitation.accept({ extraHeaders: this.#pathHeaders });
    } catch (err) {
      throw new CallError('not-connected', `could not accept: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    // (Read again: the state changed during the await.)
    if ((this.#invitation.state as SessionState) === SessionState.Established) this.#state = 'established';
  }

  /** Declines: 603 Decline by default, or 486 Busy Here. */
  decline(status: 486 | 603 = 603): void {
    if (this.#state !== 'ringing') return;
    this.#declined = true;
    void this.#invitation
      .reject({ statusCode: status, extraHeaders: this.#pathHeaders })
      .catch(() => undefined);
  }

  /** Ends an established call with BYE (or declines one still ringing). Resolves when it has ended. */
  async hangUp(): Promise<void> {
    if (this.#state === 'ended') return;
    if (this.#state === 'ringing') {
      this.decline();
      return;
    }
    if (this.#state === 'accepting') await this.#accepting?.catch(() => undefined);
    if ((this.#state as string) === 'ended') return;
    const ended = new Promise<void>((resolve) => this.once('ended', () => resolve()));
    this.#localHangup = true;
    await this.#invitation.bye().catch(() => undefined);
    await ended;
  }

  #onTerminated(): void {
    clearTimeout(this.#ringTimer);
    const was = this.#state;
    this.#state = 'ended';
    if (this.#ended) return;
    this.#ended = true;
    let end: CallEnded;
    if (this.#remoteHangup) end = { by: 'remote', reason: 'hangup' };
    else if (this.#cancelled) end = { by: 'remote', reason: 'canceled' };
    else if (this.#declined) end = { by: 'local', reason: 'declined' };
    else if (this.#failedNegotiation) end = { by: 'local', reason: 'error' };
    else if (this.#localHangup) end = { by: 'local', reason: 'hangup' };
    else if (was === 'ringing') end = { by: 'local', reason: 'timeout' };
    else end = { by: 'local', reason: 'error' };
    this.emit('ended', end);
  }
}
