import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import {
  CHANNEL_ALPN,
  CHANNEL_SESSION_ID,
  hostCandidates,
  ipFamily,
  type ChannelCandidate,
  type ChannelFingerprint,
} from '@tsunagu/protocol';
import { silentLog, type Log } from '../identity/log.js';
import {
  readBindingMessage,
  refuseAndClose,
  sendBindingMessage,
  describe,
  formatEndpoint,
} from './binding-io.js';
import { Channel, type Endpoint } from './channel.js';
import type { ChannelCredentials } from './credentials.js';
import { ChannelError, isVerdict, localMismatch, mostSevere, peerMismatch } from './errors.js';
import { certificateMatches, usableFingerprints } from './fingerprint.js';
import type { PeerCertificateCheck } from './peer-check.js';

export interface ListenOptions {
  credentials: ChannelCredentials;
  /** Our `a=tsunagu-session`: a connection that says another one is refused. */
  sessionId: string;
  /** Addresses to listen on — exactly those advertised as candidates. */
  addresses: readonly string[];
  /** Preferred port (the same on every address when possible); default any free port. */
  port?: number;
  /** Per connection: TCP accept to verified binding. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Connections being verified at once; more are dropped. Default 16. */
  maxPending?: number;
  log?: Log;
}

export interface AcceptOptions {
  /** The peer's signalled `a=fingerprint` values. */
  fingerprints: readonly ChannelFingerprint[];
  /** From the call to the verified channel. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** More checks of the peer's certificate once its fingerprint matched (CA chain, AOR). */
  verifyPeer?: PeerCertificateCheck;
}

/** A connection the listener turned away (to log or show; the listener keeps waiting). */
export interface RefusedConnection {
  readonly remote: string;
  readonly error: ChannelError;
}

/**
 * The passive end of a channel (RFC 4145 `a=setup:passive`, or `actpass` until the answer says
 * otherwise): TLS servers on the advertised addresses, one ephemeral port. Connections may arrive
 * before the answer with the peer's fingerprint does; they wait (bounded) until {@link accept}.
 *
 * Every connection must (1) complete a TLS 1.3 handshake with ALPN `tsunagu/1` and a client
 * certificate, (2) present the certificate whose fingerprint was signalled, (3) send HELLO with our
 * session id. The first that does gets ACCEPT and becomes the channel; any other is refused with a
 * reason and closed, and the listener keeps waiting for the right peer until the deadline. When the
 * deadline passes, the error is the most serious refusal seen (a certificate mismatch — possible
 * interception — before a session mismatch before a plain timeout).
 */
export class ChannelListener extends EventEmitter<{ refused: [RefusedConnection] }> {
  readonly #servers: Server[];
  readonly #options: ListenOptions & { handshakeTimeoutMs: number; maxPending: number; log: Log };
  readonly #pending = new Set<Socket>();
  /** Connections refused so far, and the most serious refusal (kept, not every one: a peer may flood). */
  #refused = 0;
  #worstRefusal: ChannelError | undefined;
  #acceptedAt = 0;
  #won = false;
  #peer: readonly ChannelFingerprint[] | undefined;
  #verifyPeer: PeerCertificateCheck | undefined;
  #peerKnown!: () => void;
  readonly #peerKnownPromise = new Promise<void>((r) => (this.#peerKnown = r));
  #settle: { resolve(c: Channel): void; reject(e: ChannelError): void } | undefined;
  #done = false;
  /** The addresses and ports actually listened on. */
  readonly endpoints: readonly Endpoint[];

  private constructor(servers: Server[], endpoints: Endpoint[], options: ListenOptions) {
    super();
    this.#servers = servers;
    this.endpoints = endpoints;
    this.#options = {
      ...options,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      maxPending: options.maxPending ?? 16,
      log: options.log ?? silentLog,
    };
    for (const s of servers) s.on('connection', (raw: Socket) => this.#onConnection(raw));
  }

  /**
   * Listens on every address in `options.addresses` (the same port on each when it can). Addresses
   * that cannot be bound are skipped with a warning; if none can, ChannelError `no-candidates`.
   */
  static async listen(options: ListenOptions): Promise<ChannelListener> {
    if (!CHANNEL_SESSION_ID.test(options.sessionId)) throw new TypeError('invalid session id');
    const log = options.log ?? silentLog;
    const servers: Server[] = [];
    const endpoints: Endpoint[] = [];
    const preferred = options.port ?? 0;
    for (const address of options.addresses) {
      if (ipFamily(address) === 0) throw new TypeError(`not an IP address: ${address}`);
      const server = createServer({ noDelay: true });
      // The preferred port, else the port the first address got (one port for all is what the
      // server's srflx candidate assumes), else any.
      const tries: number[] = [];
      for (const p of [preferred, endpoints[0]?.port ?? 0]) if (p !== 0 && !tries.includes(p)) tries.push(p);
      tries.push(0);
      let bound: number | undefined;
      let lastError: unknown;
      for (const port of tries) {
        try {
          bound = await bind(server, address, port);
          break;
        } catch (e) {
          lastError = e;
        }
      }
      if (bound === undefined) {
        log.warn({ address, error: describe(lastError) }, 'cannot listen for channels on this address');
        continue;
      }
      servers.push(server);
      endpoints.push({ address, port: bound });
    }
    if (servers.length === 0)
      throw new ChannelError(
        'no-candidates',
        `cannot listen for channels on ${options.addresses.join(', ') || 'any address'}`,
      );
    log.debug({ endpoints }, 'listening for a channel');
    return new ChannelListener(servers, endpoints, options);
  }

  /** Our passive host candidates, in the order of `addresses`. */
  get candidates(): ChannelCandidate[] {
    return hostCandidates(this.endpoints, 'passive');
  }

  /**
   * Waits for the peer whose certificate matches `fingerprints`. Callable once. The listener closes
   * when this settles, whichever way.
   */
  accept(options: AcceptOptions): Promise<Channel> {
    if (this.#peer) return Promise.reject(new Error('accept() was already called'));
    if (this.#done) return Promise.reject(new ChannelError('cancelled', 'the listener is closed'));
    const fingerprints = usableFingerprints(options.fingerprints);
    if (fingerprints.length === 0)
      return Promise.reject(new ChannelError('sdp', 'the peer signalled no SHA-256/384/512 fingerprint'));
    this.#peer = fingerprints;
    this.#verifyPeer = options.verifyPeer;
    this.#acceptedAt = performance.now();
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise<Channel>((resolve, reject) => {
      const timer = setTimeout(() => {
        const worst = this.#worstRefusal;
        this.#fail(
          worst && isVerdict(worst)
            ? worst
            : new ChannelError(
                'timeout',
                `no verified connection from the peer within ${timeoutMs} ms` +
                  (this.#refused ? ` (${this.#refused} connection(s) refused: ${worst?.message})` : ''),
              ),
        );
      }, timeoutMs);
      const onAbort = () => this.#fail(new ChannelError('cancelled', 'cancelled'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      this.#settle = {
        resolve: (c) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.#peerKnown();
    });
  }

  /** Stops listening and drops connections still being verified. */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    for (const s of this.#servers) s.close();
    for (const raw of this.#pending) raw.destroy();
    this.#pending.clear();
    this.#peerKnown();
  }

  #fail(error: ChannelError): void {
    if (this.#done) return;
    this.close();
    this.#settle?.reject(error);
  }

  #refuse(tls: TLSSocket, reason: string, error: ChannelError): void {
    refuseAndClose(tls, reason);
    this.#refused++;
    this.#worstRefusal = mostSevere(this.#worstRefusal ? [this.#worstRefusal, error] : [error]);
    this.#options.log.warn(
      { remote: error.details.remote, reason, error: error.message },
      'channel connection refused',
    );
    this.emit('refused', { remote: error.details.remote ?? '?', error });
  }

  #onConnection(raw: Socket): void {
    const { log, handshakeTimeoutMs, maxPending } = this.#options;
    const remote = formatEndpoint(raw.remoteAddress, raw.remotePort);
    if (this.#done) {
      raw.destroy();
      return;
    }
    if (this.#pending.size >= maxPending) {
      // Full: drop the oldest connection still being verified. The real peer completes in
      // milliseconds, so under a flood it is the slow ones that go.
      const oldest = this.#pending.values().next().value as Socket;
      log.debug(
        { remote: formatEndpoint(oldest.remoteAddress, oldest.remotePort) },
        'channel connection dropped: busy',
      );
      this.#pending.delete(oldest);
      oldest.destroy();
    }
    this.#pending.add(raw);
    raw.on('close', () => this.#pending.delete(raw));
    const tls = new TLSSocket(raw, {
      isServer: true,
      secureContext: this.#options.credentials.secureContext,
      requestCert: true,
      rejectUnauthorized: false, // self-signed by design: the fingerprint check below decides
      ALPNProtocols: [CHANNEL_ALPN],
    });
    const timer = setTimeout(() => {
      log.debug({ remote }, 'channel connection dropped: too slow');
      tls.destroy();
    }, handshakeTimeoutMs);
    tls.on('close', () => clearTimeout(timer));
    tls.on('error', (e: Error) => log.debug({ remote, error: describe(e) }, 'channel connection failed'));
    tls.once('secure', () => {
      this.#verify(tls, remote).then(
        (channel) => {
          clearTimeout(timer);
          if (channel) {
            this.#pending.delete(raw);
            this.close();
            log.info(
              {
                remote,
                role: 'passive',
                setupMs: Math.round(channel.setupMs),
                code: channel.verificationCode,
              },
              'channel established',
            );
            this.#settle?.resolve(channel);
          }
        },
        (e: unknown) => {
          tls.destroy();
          log.debug({ remote, error: describe(e) }, 'channel connection failed');
        },
      );
    });
  }

  /** The checks of one connection; resolves to the Channel when it wins, undefined when it was refused. */
  async #verify(tls: TLSSocket, remote: string): Promise<Channel | undefined> {
    if (tls.getProtocol() !== 'TLSv1.3' || tls.alpnProtocol !== CHANNEL_ALPN) {
      this.#refuse(
        tls,
        'protocol',
        new ChannelError(
          'protocol',
          `${remote} is not a Tsunagu channel peer (TLS 1.3, ALPN ${CHANNEL_ALPN})`,
          { remote },
        ),
      );
      return undefined;
    }
    const cert = tls.getPeerX509Certificate();
    // Connections that come before the answer wait for the peer's fingerprint (bounded by the timer).
    await this.#peerKnownPromise;
    if (this.#done || !this.#peer || tls.destroyed) return undefined;
    if (!cert || !certificateMatches(cert, this.#peer)) {
      this.#refuse(tls, 'certificate', localMismatch(remote, cert?.fingerprint256));
      return undefined;
    }
    const untrusted = this.#verifyPeer?.(cert);
    if (untrusted !== undefined) {
      this.#refuse(
        tls,
        'certificate',
        new ChannelError('untrusted-certificate', `refused ${remote}: ${untrusted}`, {
          detectedBy: 'local',
          remote,
        }),
      );
      return undefined;
    }
    const msg = await readBindingMessage(tls, this.#options.handshakeTimeoutMs, remote);
    if (this.#done) return undefined;
    if (msg.type === 'refuse' && msg.reason === 'certificate') {
      // The peer (its certificate is the signalled one) says ours is not what it was told: the
      // signalling it received was altered, or it reached us through someone else.
      this.#fail(peerMismatch(remote));
      tls.destroy();
      return undefined;
    }
    if (msg.type !== 'hello') {
      this.#refuse(
        tls,
        'protocol',
        new ChannelError('protocol', `${remote} sent ${msg.type} instead of HELLO`, { remote }),
      );
      return undefined;
    }
    if (msg.session !== this.#options.sessionId) {
      this.#refuse(
        tls,
        'session',
        new ChannelError(
          'session-mismatch',
          `refused a connection from ${remote} for another channel session`,
          { remote },
        ),
      );
      return undefined;
    }
    if (this.#won || this.#done) {
      refuseAndClose(tls, 'duplicate');
      return undefined;
    }
    this.#won = true;
    sendBindingMessage(tls, { type: 'accept' });
    return new Channel(
      tls,
      'passive',
      this.#options.sessionId,
      this.#options.credentials.fingerprint,
      cert.fingerprint256,
      performance.now() - this.#acceptedAt,
    );
  }
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, ipv6Only: ipFamily(host) === 6 }, () => {
      server.off('error', onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}
