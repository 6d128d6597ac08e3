import {
  ChannelSdpError,
  DISCARD_PORT,
  formatChannelSdp,
  hostCandidates,
  ipFamily,
  isLoopbackIp,
  negotiatedRoles,
  newChannelSessionId,
  parseChannelSdp,
  type ChannelDescription,
  type ConnectionRole,
} from '@tsunagu/protocol';
import type { InboundPolicy } from '../identity/profile.js';
import { silentLog, type Log } from '../identity/log.js';
import { allLocalAddresses, channelAddresses, peerIsLocal } from './addresses.js';
import type { Channel } from './channel.js';
import { connectChannel } from './connect.js';
import type { ChannelCredentials } from './credentials.js';
import { ChannelError } from './errors.js';
import { sha256Fingerprint, usableFingerprints } from './fingerprint.js';
import { ChannelListener } from './listen.js';
import type { PeerCertificateCheck } from './peer-check.js';
import { chooseAnswerSetup, offererReachability, ownReachability } from './role.js';

/**
 * Offer/answer for a channel (DESIGN.md "The channel offer"), the glue between the SDP that
 * signalling carries and the TLS connection:
 *
 * ```
 * offerer                                         answerer
 * offer = await createChannelOffer(opts)          (listens unless inbound is 'never': actpass)
 *   ── offer.sdp in the INVITE ──────────────────▶ answer = await answerChannelOffer(sdp, opts)
 *                                                  (checks the offer; picks active or passive by
 *                                                   chooseAnswerSetup; listens first when passive)
 *   ◀──────────────────── answer.sdp in the 200 ──
 * offer.setAnswer(answerSdp)   (sync check)
 * channel = await offer.establish()                channel = await answer.establish()
 * ```
 *
 * Each end calls establish() as soon as it has the other's SDP (not after the ACK: the channel does
 * not wait for signalling); a connection that reaches a listener before the answer reaches its owner
 * waits there. On failure, both ends get a ChannelError; signalling should then end the call (BYE).
 */

export interface ChannelSetupOptions {
  credentials: ChannelCredentials;
  /**
   * Addresses to listen on and advertise (injectable; tests use loopback only). Default: this
   * machine's non-internal addresses (channelAddresses), plus loopback when the peer is on this machine.
   */
  addresses?: readonly string[];
  /** This machine's addresses, loopback included, to recognise a peer on the same machine. Default: all interfaces. */
  localAddresses?: readonly string[];
  /** Default `auto` (profile setting `inbound`). */
  inbound?: InboundPolicy;
  /** This device's address as the session server observed it, when known (for `auto`). */
  observedAddress?: string;
  /** Preferred listening port (profile setting `channelPort`). */
  port?: number;
  /** From establish()/complete() to the verified channel. Default 10 s. */
  timeoutMs?: number;
  /** Happy Eyeballs attempt delay. Default 250 ms. */
  attemptDelayMs?: number;
  /** More checks of the peer's certificate once its fingerprint matched (caIssuedPeerCheck). */
  verifyPeer?: PeerCertificateCheck;
  log?: Log;
}

function parsePeerSdp(sdp: string, kind: 'offer' | 'answer'): ChannelDescription {
  let desc: ChannelDescription;
  try {
    desc = parseChannelSdp(sdp, kind);
  } catch (e) {
    if (e instanceof ChannelSdpError)
      throw new ChannelError('sdp', `the peer's channel ${kind}: ${e.message}`, { cause: e });
    throw e;
  }
  if (desc.connection !== 'new')
    throw new ChannelError(
      'sdp',
      `the peer's channel ${kind} asks to reuse an existing connection (a=connection:existing)`,
    );
  if (usableFingerprints(desc.fingerprints).length === 0)
    throw new ChannelError('sdp', `the peer's channel ${kind} has no SHA-256/384/512 fingerprint`);
  return desc;
}

function sdpFor(
  credentials: ChannelCredentials,
  session: string,
  setup: 'actpass' | 'active' | 'passive',
  listener: ChannelListener | undefined,
  addresses: readonly string[],
): string {
  const fingerprints = [sha256Fingerprint(credentials.fingerprint)];
  if (listener) return formatChannelSdp({ setup, fingerprints, session, candidates: listener.candidates });
  // An end that will not listen: port 9 and active candidates (RFC 4145 §4, RFC 6544 §4.5).
  const usable = addresses.filter((a) => ipFamily(a) !== 0);
  return formatChannelSdp({
    setup,
    fingerprints,
    session,
    port: DISCARD_PORT,
    address: usable[0] ?? '0.0.0.0',
    candidates: hostCandidates(
      usable.map((address) => ({ address, port: DISCARD_PORT })),
      'active',
    ),
  });
}

/** The offerer's side. Create with {@link createChannelOffer}. */
export class ChannelOffer {
  #listener: ChannelListener | undefined;
  readonly #abort = new AbortController();
  #answer: { desc: ChannelDescription; role: ConnectionRole } | undefined;
  #used = false;

  constructor(
    /** The SDP offer for the INVITE. */
    readonly sdp: string,
    readonly sessionId: string,
    /** `actpass` when this end listens, `active` when it will not. */
    readonly setup: 'actpass' | 'active',
    listener: ChannelListener | undefined,
    private readonly options: ChannelSetupOptions,
  ) {
    this.#listener = listener;
  }

  /**
   * Checks the answer (synchronously: signalling can refuse a bad answer at once, before the
   * connection is tried) and fixes this end's role. Throws ChannelError `sdp`, `session-mismatch`
   * or `role`.
   */
  setAnswer(answerSdp: string): ConnectionRole {
    if (this.#answer) throw new Error('setAnswer() was already called');
    const desc = parsePeerSdp(answerSdp, 'answer');
    if (desc.session !== this.sessionId)
      throw new ChannelError(
        'session-mismatch',
        'the channel answer is for another session (a=tsunagu-session differs)',
      );
    let role: ConnectionRole;
    try {
      role = negotiatedRoles(this.setup, desc.setup).offerer;
    } catch (e) {
      throw new ChannelError('role', (e as Error).message, { cause: e });
    }
    if (role === 'passive' && !this.#listener)
      throw new ChannelError('role', 'the answer asks this end to listen, but it is not listening');
    this.#answer = { desc, role };
    (this.options.log ?? silentLog).debug({ session: this.sessionId, role }, 'channel answer accepted');
    return role;
  }

  /** Opens the channel in the role the answer gave (after {@link setAnswer}). */
  async establish(options: { signal?: AbortSignal } = {}): Promise<Channel> {
    if (!this.#answer) throw new Error('establish() needs the answer: call setAnswer() first');
    if (this.#used) throw new Error('establish() was already called');
    this.#used = true;
    const { desc, role } = this.#answer;
    // An active end does not need its listener: close it before connecting.
    if (role !== 'passive') this.#listener?.close();
    const listener = role === 'passive' ? this.#listener : undefined;
    this.#listener = undefined;
    return openChannel(this.options, listener, desc, this.sessionId, this.#abort.signal, options.signal);
  }

  /** setAnswer() then establish(). */
  async complete(answerSdp: string, options: { signal?: AbortSignal } = {}): Promise<Channel> {
    try {
      this.setAnswer(answerSdp);
    } catch (e) {
      this.cancel();
      throw e;
    }
    return this.establish(options);
  }

  /** Gives up: stops listening, abandons a connection in progress. */
  cancel(): void {
    this.#abort.abort();
    this.#listener?.close();
    this.#listener = undefined;
  }
}

/**
 * Starts the offerer's side: listens on the advertised addresses (unless inbound connections are off,
 * or none can be bound — then the offer says `a=setup:active`) and builds the SDP offer.
 */
export async function createChannelOffer(options: ChannelSetupOptions): Promise<ChannelOffer> {
  const log = options.log ?? silentLog;
  const sessionId = newChannelSessionId();
  const addresses = options.addresses ?? channelAddresses();
  let listener: ChannelListener | undefined;
  if ((options.inbound ?? 'auto') !== 'never') {
    try {
      listener = await ChannelListener.listen({
        credentials: options.credentials,
        sessionId,
        addresses,
        ...(options.port !== undefined ? { port: options.port } : {}),
        log,
      });
    } catch (e) {
      if (!(e instanceof ChannelError)) throw e;
      log.warn({ error: e.message }, 'cannot listen for the channel; offering to connect out only');
    }
  }
  const setup = listener ? 'actpass' : 'active';
  return new ChannelOffer(
    sdpFor(options.credentials, sessionId, setup, listener, addresses),
    sessionId,
    setup,
    listener,
    options,
  );
}

/** The answerer's side. Create with {@link answerChannelOffer}. */
export class ChannelAnswer {
  #listener: ChannelListener | undefined;
  readonly #abort = new AbortController();
  #used = false;

  constructor(
    /** The SDP answer for the 200. */
    readonly sdp: string,
    /** The offer as parsed (its fingerprints, candidates, session). */
    readonly offer: ChannelDescription,
    /** This end's role: `passive` listens, `active` connects. */
    readonly role: ConnectionRole,
    listener: ChannelListener | undefined,
    private readonly options: ChannelSetupOptions,
  ) {
    this.#listener = listener;
  }

  get sessionId(): string {
    return this.offer.session;
  }

  /** Opens the channel (call once the answer is on its way). */
  async establish(options: { signal?: AbortSignal } = {}): Promise<Channel> {
    if (this.#used) throw new Error('establish() was already called');
    this.#used = true;
    const listener = this.#listener;
    this.#listener = undefined;
    return openChannel(
      this.options,
      listener,
      this.offer,
      this.offer.session,
      this.#abort.signal,
      options.signal,
    );
  }

  cancel(): void {
    this.#abort.abort();
    this.#listener?.close();
    this.#listener = undefined;
  }
}

/**
 * Reads an offer, chooses this end's role (chooseAnswerSetup), listens first when that role is
 * passive, and builds the SDP answer. Throws ChannelError `sdp` for an unusable offer and `role`
 * when no direction can work.
 */
export async function answerChannelOffer(
  offerSdp: string,
  options: ChannelSetupOptions,
): Promise<ChannelAnswer> {
  const log = options.log ?? silentLog;
  const offer = parsePeerSdp(offerSdp, 'offer');
  const inbound = options.inbound ?? 'auto';
  const localAddresses = options.localAddresses ?? allLocalAddresses();
  let addresses = [...(options.addresses ?? channelAddresses())];
  if (options.addresses === undefined && peerIsLocal(offer.candidates, localAddresses)) {
    // The peer is on this machine: loopback works even without any network.
    for (const lo of ['127.0.0.1', '::1'])
      if (
        !addresses.some((a) => isLoopbackIp(a) && ipFamily(a) === ipFamily(lo)) &&
        localAddresses.includes(lo)
      )
        addresses.push(lo);
  }
  addresses = addresses.filter((a, i) => addresses.indexOf(a) === i);
  const own = ownReachability(inbound, addresses, options.observedAddress);
  const peer = offererReachability(offer, options.observedAddress);
  let setup = chooseAnswerSetup(offer.setup, own, peer, inbound !== 'never');
  log.debug({ session: offer.session, offer: offer.setup, own, peer, setup }, 'channel role chosen');
  let listener: ChannelListener | undefined;
  if (setup === 'passive') {
    try {
      listener = await ChannelListener.listen({
        credentials: options.credentials,
        sessionId: offer.session,
        addresses,
        ...(options.port !== undefined ? { port: options.port } : {}),
        log,
      });
    } catch (e) {
      if (!(e instanceof ChannelError) || offer.setup !== 'actpass') throw e;
      log.warn({ error: e.message }, 'cannot listen for the channel; connecting out instead');
      setup = 'active';
    }
  }
  const sdp = sdpFor(options.credentials, offer.session, setup, listener, addresses);
  return new ChannelAnswer(sdp, offer, setup, listener, options);
}

/**
 * Opens the channel in this end's role: accept the peer on `listener` (passive) or connect to the peer's
 * candidates (active). The listener is closed either way.
 */
async function openChannel(
  o: ChannelSetupOptions,
  listener: ChannelListener | undefined,
  peer: ChannelDescription,
  sessionId: string,
  aborted: AbortSignal,
  external: AbortSignal | undefined,
): Promise<Channel> {
  const { signal, dispose } = linkSignals(external, aborted);
  try {
    if (listener)
      return await listener.accept({
        fingerprints: peer.fingerprints,
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.verifyPeer ? { verifyPeer: o.verifyPeer } : {}),
        signal,
      });
    return await connectChannel({
      credentials: o.credentials,
      sessionId,
      peer,
      localAddresses: o.localAddresses ?? allLocalAddresses(),
      ...timing(o),
      signal,
      ...(o.log ? { log: o.log } : {}),
    });
  } finally {
    dispose();
    listener?.close();
  }
}

function timing(o: ChannelSetupOptions): {
  timeoutMs?: number;
  attemptDelayMs?: number;
  verifyPeer?: PeerCertificateCheck;
} {
  return {
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.attemptDelayMs !== undefined ? { attemptDelayMs: o.attemptDelayMs } : {}),
    ...(o.verifyPeer ? { verifyPeer: o.verifyPeer } : {}),
  };
}

/** One signal that aborts when either does (AbortSignal.any, without its listeners outliving the call). */
function linkSignals(
  outer: AbortSignal | undefined,
  own: AbortSignal,
): { signal: AbortSignal; dispose(): void } {
  if (!outer) return { signal: own, dispose: () => undefined };
  const both = new AbortController();
  const abort = () => both.abort();
  if (outer.aborted || own.aborted) both.abort();
  outer.addEventListener('abort', abort, { once: true });
  own.addEventListener('abort', abort, { once: true });
  return {
    signal: both.signal,
    dispose: () => {
      outer.removeEventListener('abort', abort);
      own.removeEventListener('abort', abort);
    },
  };
}
