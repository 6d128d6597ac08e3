import type tls from 'node:tls';
import { SipFramer, type Limits } from '@tsunagu/server/sip';
import { EmitterImpl, StateTransitionError, TransportState } from 'sip.js';
import type { Emitter, Transport } from 'sip.js';
import { connectPinned, type PinnedTlsOptions } from './pinned-tls.js';

/**
 * sip.js {@link Transport} for SIP over TLS (RFC 3261 §26) over `node:tls`, to the deployment's server
 * with its CA pinned (see pinned-tls.ts).
 *
 * - The state machine is the one sip.js documents in `api/transport.d.ts`: Disconnected → Connecting →
 *   Connected → Disconnecting → Disconnected; `onConnect` on entering Connected, `onDisconnect(error)`
 *   on leaving it (with an Error unless `disconnect()` asked for it). The transport never reconnects by
 *   itself: a lost connection is reported, and recovery is the owner's business (Signalling).
 * - Framing is by Content-Length in bytes with the server's own framer (`@tsunagu/server/sip`), so both
 *   ends cut the stream identically; a message is decoded as UTF-8 only once complete.
 * - RFC 5626 §4.4.1 keepalives: a CRLFCRLF ping at a random 80–100 % of the registrar's Flow-Timer
 *   (95–120 s before one is known), and the flow is dead when no CRLF pong arrives within 10 s.
 */

export interface KeepAliveOptions {
  /** Fixed ping interval range [min, max] in ms; overrides Flow-Timer (tests). */
  intervalMs?: [number, number];
  /** How long to wait for the CRLF pong; default 10 s (RFC 5626 §4.4.1). */
  pongTimeoutMs?: number;
}

export interface TlsTransportOptions extends PinnedTlsOptions {
  keepAlive?: KeepAliveOptions;
  /**
   * Framer limits for what the server sends. Default: the server's own limits, except bodies up to
   * 16 MiB (a contact-list NOTIFY grows with the organisation).
   */
  limits?: Partial<Limits>;
}

/** The bit of sip.js's Logger this transport uses. */
interface SipLogger {
  debug(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Until the registrar sends Flow-Timer, RFC 5626 §4.4.1 says ping every 95–120 s. */
const DEFAULT_INTERVAL_MS: [number, number] = [95_000, 120_000];
const DEFAULT_PONG_TIMEOUT_MS = 10_000;
/** How long an orderly close may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;
const PING = '\r\n\r\n';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export class TlsTransport implements Transport {
  readonly protocol = 'TLS';
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;

  readonly #options: TlsTransportOptions;
  readonly #logger: SipLogger;
  readonly #stateChange = new EmitterImpl<TransportState>();
  #state = TransportState.Disconnected;
  #transitioning = false;
  #socket: tls.TLSSocket | undefined;
  #connect: { promise: Promise<void>; resolve(): void; reject(e: Error): void } | undefined;
  #disconnect: { promise: Promise<void>; resolve(): void; reject(e: Error): void } | undefined;
  /** Why the current socket is going away, if we know better than "closed". */
  #closeReason: Error | undefined;
  #intervalMs: [number, number];
  #pingTimer: NodeJS.Timeout | undefined;
  #pongTimer: NodeJS.Timeout | undefined;
  #disposed = false;

  constructor(logger: SipLogger, options: TlsTransportOptions) {
    this.#logger = logger;
    this.#options = options;
    this.#intervalMs = options.keepAlive?.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  get state(): TransportState {
    return this.#state;
  }

  get stateChange(): Emitter<TransportState> {
    return this.#stateChange;
  }

  /** The TLS socket while connected (its local address tells which network interface the flow uses). */
  get socket(): tls.TLSSocket | undefined {
    return this.#state === TransportState.Connected ? this.#socket : undefined;
  }

  isConnected(): boolean {
    return this.#state === TransportState.Connected;
  }

  /**
   * The registrar's Flow-Timer (RFC 5626 §4.4.1): from now on ping at a random 80–100 % of it.
   * Ignored when fixed intervals were configured.
   */
  setFlowTimer(seconds: number): void {
    if (this.#options.keepAlive?.intervalMs || !Number.isFinite(seconds) || seconds <= 0) return;
    this.#intervalMs = [seconds * 800, seconds * 1000];
    if (this.#pingTimer && !this.#pongTimer) this.#schedulePing();
  }

  /** Sends a keepalive now (unless one is outstanding): a quick check that the flow still works. */
  ping(): void {
    if (this.#state !== TransportState.Connected || this.#pongTimer) return;
    this.#sendPing();
  }

  connect(): Promise<void> {
    switch (this.#state) {
      case TransportState.Connecting:
        if (this.#transitioning) return Promise.reject(this.#loop(TransportState.Connecting));
        return this.#connect!.promise;
      case TransportState.Connected:
        if (this.#transitioning) return Promise.reject(this.#loop(TransportState.Connecting));
        return Promise.resolve();
      case TransportState.Disconnecting:
      case TransportState.Disconnected:
        break;
    }
    if (this.#disposed) return Promise.reject(new Error('transport disposed'));
    const pending = deferred();
    this.#connect = pending;
    // A socket still closing from before is forgotten: its late events must not touch the new attempt.
    this.#socket = undefined;
    try {
      this.#transition(TransportState.Connecting);
    } catch (e) {
      this.#connect = undefined;
      if (e instanceof StateTransitionError) return Promise.reject(e);
      throw e;
    }
    this.#open();
    return pending.promise;
  }

  disconnect(): Promise<void> {
    switch (this.#state) {
      case TransportState.Disconnecting:
        if (this.#transitioning) return Promise.reject(this.#loop(TransportState.Disconnecting));
        return this.#disconnect!.promise;
      case TransportState.Disconnected:
        if (this.#transitioning) return Promise.reject(this.#loop(TransportState.Disconnecting));
        return Promise.resolve();
      case TransportState.Connecting:
      case TransportState.Connected:
        break;
    }
    const pending = deferred();
    this.#disconnect = pending;
    try {
      this.#transition(TransportState.Disconnecting);
    } catch (e) {
      this.#disconnect = undefined;
      if (e instanceof StateTransitionError) return Promise.reject(e);
      throw e;
    }
    const socket = this.#socket;
    if (socket) {
      // close_notify and FIN, then give the peer a moment before tearing the socket down.
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    // While Connecting without a socket yet, #open sees the state and gives up.
    return pending.promise;
  }

  dispose(): Promise<void> {
    this.#disposed = true;
    return this.disconnect();
  }

  send(message: string): Promise<void> {
    const socket = this.#socket;
    if (this.#state !== TransportState.Connected || !socket) {
      return Promise.reject(new Error(`not connected (transport ${this.#state})`));
    }
    return new Promise((resolve, reject) => {
      socket.write(message, 'utf8', (err) => (err ? reject(err) : resolve()));
    });
  }

  #open(): void {
    connectPinned(this.#options).then(
      (socket) => {
        if (this.#state !== TransportState.Connecting) {
          // disconnect() was called while the handshake ran.
          socket.destroy();
          if (this.#state === TransportState.Disconnecting) this.#transition(TransportState.Disconnected);
          return;
        }
        this.#attach(socket);
        this.#transition(TransportState.Connected);
      },
      (err: Error) => {
        if (this.#state === TransportState.Connecting) this.#transition(TransportState.Disconnected, err);
        else if (this.#state === TransportState.Disconnecting) this.#transition(TransportState.Disconnected);
      },
    );
  }

  #attach(socket: tls.TLSSocket): void {
    this.#socket = socket;
    this.#closeReason = undefined;
    socket.setNoDelay(true);
    const framer = new SipFramer({ maxBodyBytes: MAX_BODY_BYTES, ...this.#options.limits });
    /** Bytes received, and bytes that belonged to messages: the rest were CRLF keepalives. */
    let received = 0;
    let inMessages = 0;
    let crlfBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.#socket) return;
      received += chunk.length;
      const events = framer.push(chunk);
      for (const ev of events) {
        if (ev.type === 'message') inMessages += ev.data.length;
      }
      // Bytes neither in a message nor waiting in the framer are CRLFs between messages: a pong.
      const crlfs = received - inMessages - framer.pending;
      if (crlfs > crlfBytes) {
        crlfBytes = crlfs;
        this.#onPong();
      }
      for (const ev of events) {
        if (ev.type === 'message') {
          if (this.#state !== TransportState.Connected || socket !== this.#socket) return;
          this.#deliver(ev.data.toString('utf8'));
        } else if (ev.type === 'error') {
          this.#drop(
            socket,
            new Error(`the server sent a stream that cannot be framed: ${ev.error.message}`),
          );
          return;
        }
        // A 'keepalive' event is a CRLFCRLF from the server: RFC 5626 has the client ping, not the server,
        // and answering would desynchronise the server's own ping/pong count; it only proves liveness.
      }
    });
    socket.on('error', (err: Error) => {
      if (socket === this.#socket) this.#closeReason ??= err;
    });
    socket.on('close', () => {
      if (socket !== this.#socket) return;
      this.#socket = undefined;
      this.#stopKeepAlive();
      const reason = this.#closeReason;
      if (this.#state === TransportState.Disconnecting) {
        this.#transition(TransportState.Disconnected);
      } else if (this.#state === TransportState.Connected) {
        const error = new Error(
          `connection to ${this.#options.host}:${this.#options.port} lost: ${reason?.message ?? 'closed by the server'}`,
          { cause: reason },
        );
        this.#transition(TransportState.Disconnected, error);
      }
    });
  }

  #deliver(message: string): void {
    try {
      this.onMessage?.(message);
    } catch (e) {
      // A bug in message handling must not take the connection down with it.
      this.#logger.error(`exception while handling a received message: ${(e as Error).stack ?? String(e)}`);
    }
  }

  /** Ends the socket because the flow is unusable; 'close' then reports the error. */
  #drop(socket: tls.TLSSocket, reason: Error): void {
    if (socket === this.#socket) this.#closeReason = reason;
    socket.destroy();
  }

  #schedulePing(): void {
    clearTimeout(this.#pingTimer);
    const [min, max] = this.#intervalMs;
    this.#pingTimer = setTimeout(() => this.#sendPing(), min + Math.random() * (max - min));
    this.#pingTimer.unref();
  }

  #sendPing(): void {
    const socket = this.#socket;
    if (!socket || this.#state !== TransportState.Connected) return;
    clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    const timeout = this.#options.keepAlive?.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS;
    this.#pongTimer = setTimeout(() => {
      this.#pongTimer = undefined;
      this.#logger.warn('no keepalive pong: the flow is dead');
      this.#drop(
        socket,
        new Error(`no keepalive response within ${timeout / 1000} s: the flow is dead (RFC 5626 §4.4.1)`),
      );
    }, timeout);
    this.#pongTimer.unref();
    socket.write(PING);
  }

  #onPong(): void {
    if (!this.#pongTimer) return;
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
    this.#schedulePing();
  }

  #stopKeepAlive(): void {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    this.#pingTimer = this.#pongTimer = undefined;
  }

  #loop(to: TransportState): StateTransitionError {
    const message =
      `transport state transition loop: ${this.#state} → ${to} before the previous transition completed ` +
      '(connect()/disconnect() called synchronously from a callback?)';
    this.#logger.error(message);
    return new StateTransitionError(message);
  }

  #transition(to: TransportState, error?: Error): void {
    if (this.#transitioning) throw this.#loop(to);
    const from = this.#state;
    const allowed: Record<TransportState, TransportState[]> = {
      [TransportState.Connecting]: [
        TransportState.Connected,
        TransportState.Disconnecting,
        TransportState.Disconnected,
      ],
      [TransportState.Connected]: [TransportState.Disconnecting, TransportState.Disconnected],
      [TransportState.Disconnecting]: [TransportState.Connecting, TransportState.Disconnected],
      [TransportState.Disconnected]: [TransportState.Connecting],
    };
    if (!allowed[from].includes(to)) throw new Error(`invalid transport state transition ${from} → ${to}`);
    this.#transitioning = true;
    try {
      this.#state = to;
      const connect = from === TransportState.Connecting ? this.#connect : undefined;
      const disconnect = from === TransportState.Disconnecting ? this.#disconnect : undefined;
      if (connect) this.#connect = undefined;
      if (disconnect) this.#disconnect = undefined;
      this.#logger.debug(`transport ${from} → ${to}${error ? ` (${error.message})` : ''}`);
      this.#stateChange.emit(to);
      if (to === TransportState.Connected) {
        this.#schedulePing();
        this.onConnect?.();
      }
      if (from === TransportState.Connected) {
        this.#stopKeepAlive();
        if (error) this.onDisconnect?.(error);
        else this.onDisconnect?.();
      }
      if (connect) {
        if (to === TransportState.Connected) connect.resolve();
        else connect.reject(error ?? new Error('connect aborted by disconnect()'));
      }
      if (disconnect) {
        if (to === TransportState.Disconnected) disconnect.resolve();
        else disconnect.reject(error ?? new Error('disconnect aborted by connect()'));
      }
    } finally {
      this.#transitioning = false;
    }
  }
}

function deferred(): { promise: Promise<void>; resolve(): void; reject(e: Error): void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A rejection nobody awaits (e.g. an aborted connect) must not crash the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
