import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ConnectionRole } from '@tsunagu/protocol';
import { describe } from './binding-io.js';
import { verificationCode } from './verification.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** Why a channel ended: closed here (`local`), by the peer (`peer`), or the connection broke (`error`). */
export interface ChannelCloseInfo {
  readonly by: 'local' | 'peer' | 'error';
  readonly reason: string;
  readonly error?: Error;
}

/** How long close() waits for the peer's close_notify before it drops the connection. */
const CLOSE_GRACE_MS = 2000;

/**
 * A verified peer-to-peer channel: one TLS 1.3 connection, both certificates checked against the
 * signalled fingerprints, bound to the signalled session. `stream` is the connection for the data
 * channel's frames; it starts paused, with nothing consumed after the binding lines.
 *
 * Emits 'close' exactly once, with a {@link ChannelCloseInfo}.
 */
export class Channel extends EventEmitter<{ close: [ChannelCloseInfo] }> {
  /** The TLS connection, as a Duplex for the transfer engine. */
  readonly stream: Duplex;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** The six-digit code both people see (see verificationCode). */
  readonly verificationCode: string;
  readonly protocol: string;
  readonly cipher: string;
  #closeInfo: ChannelCloseInfo | undefined;
  #closing: ChannelCloseInfo | undefined;

  constructor(
    private readonly socket: TLSSocket,
    /** `active`: this end connected (TLS client); `passive`: it accepted. */
    readonly role: ConnectionRole,
    readonly sessionId: string,
    readonly localFingerprint: string,
    readonly peerFingerprint: string,
    /** Milliseconds to the verified channel: from connectChannel (active) or accept() (passive). */
    readonly setupMs: number,
  ) {
    super();
    this.stream = socket;
    this.local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    this.remote = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.verificationCode = verificationCode(localFingerprint, peerFingerprint);
    this.protocol = socket.getProtocol() ?? '';
    this.cipher = socket.getCipher().standardName;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    let error: Error | undefined;
    let peerEnded = false;
    socket.on('error', (e: Error) => (error ??= e));
    socket.on('end', () => (peerEnded = true));
    socket.on('close', () => {
      this.#closeInfo =
        this.#closing ??
        (error
          ? { by: 'error', reason: `connection lost: ${describe(error)}`, error }
          : peerEnded
            ? { by: 'peer', reason: 'the peer closed the channel' }
            : { by: 'error', reason: 'connection lost' });
      this.emit('close', this.#closeInfo);
    });
  }

  get closed(): boolean {
    return this.#closeInfo !== undefined;
  }

  /** Why it closed, once it has. */
  get closeInfo(): ChannelCloseInfo | undefined {
    return this.#closeInfo;
  }

  /**
   * Ends the channel: pending writes are flushed, TLS close_notify is sent, and the connection is
   * dropped if the peer has not closed its side within two seconds. 'close' carries `reason`.
   */
  close(reason = 'closed'): void {
    if (this.#closing || this.#closeInfo) return;
    this.#closing = { by: 'local', reason };
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Drops the connection at once (no close_notify). */
  destroy(reason = 'destroyed'): void {
    if (this.#closeInfo) return;
    this.#closing ??= { by: 'local', reason };
    this.socket.destroy();
  }

  toJSON(): object {
    return {
      role: this.role,
      sessionId: this.sessionId,
      local: this.local,
      remote: this.remote,
      localFingerprint: this.localFingerprint,
      peerFingerprint: this.peerFingerprint,
      verificationCode: this.verificationCode,
      protocol: this.protocol,
      cipher: this.cipher,
      setupMs: this.setupMs,
      closed: this.#closeInfo ?? false,
    };
  }
}
