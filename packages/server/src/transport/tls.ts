import tls from 'node:tls';
import type { Logger } from '../log/logger.js';
import { bind } from './listen.js';
import { SipFramer } from '../sip/framer.js';
import { serializeMessage } from '../sip/serialize.js';
import type { SipMessage } from '../sip/message.js';
import {
  BaseConnection,
  deliver,
  plainAddress,
  type Endpoint,
  type TransportEvents,
  type TransportLimits,
} from './connection.js';

export interface TlsCredentials {
  key: string;
  cert: string;
  /** The deployment CA: client certificates (when presented) are checked against it. */
  ca: string;
}

const CRLF = Buffer.from('\r\n');

class TlsConnection extends BaseConnection {
  readonly transport = 'TLS' as const;
  readonly remote: Endpoint;
  readonly local: Endpoint;

  /** False until the first message: a shorter deadline applies before it. */
  started = false;
  /**
   * The first-message deadline. A deadline, not an inactivity timer: bytes trickled one at a time or
   * CRLF keepalives must not let a peer that never sends a message hold a connection slot.
   */
  #firstMessage: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: tls.TLSSocket,
    private readonly maxQueuedBytes: number,
    idleTimeoutMs: number,
    firstMessageTimeoutMs: number,
  ) {
    super(idleTimeoutMs);
    this.remote = { address: plainAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
    this.local = { address: plainAddress(socket.localAddress), port: socket.localPort ?? 0 };
    this.#firstMessage = setTimeout(() => this.close('no message before timeout'), firstMessageTimeoutMs);
  }

  send(msg: SipMessage): void {
    this.write(serializeMessage(msg));
  }

  write(data: Buffer): void {
    if (this.closed) return;
    this.socket.write(data);
    // A peer that stops reading must not make us buffer without bound.
    if (this.socket.writableLength > this.maxQueuedBytes) this.close('peer not reading (send queue full)');
  }

  protected destroy(): void {
    clearTimeout(this.#firstMessage);
    this.socket.destroy();
  }

  protected rearm(): void {
    if (this.started) this.socket.setTimeout(this.silenceMs);
  }

  /** The first complete message arrived: from now on the idle timeout applies. */
  start(): void {
    this.started = true;
    clearTimeout(this.#firstMessage);
    this.rearm();
  }
}

export interface TlsListener {
  address: Endpoint;
  close(): Promise<void>;
}

/**
 * TLS settings of every listener: TLS 1.3 preferred (Node negotiates the highest both support), 1.2 the
 * minimum; a client certificate is asked for but not required (digest authenticates; a certificate,
 * when presented, is checked against the deployment CA).
 */
export function tlsServerOptions(creds: TlsCredentials, limits: TransportLimits): tls.TlsOptions {
  return {
    key: creds.key,
    cert: creds.cert,
    ca: creds.ca,
    minVersion: 'TLSv1.2',
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: limits.handshakeTimeoutMs,
  };
}

/** SIP over TLS (RFC 3261 §26, RFC 5630): one listener, many long-lived terminal flows. */
export async function listenTls(
  host: string,
  port: number,
  creds: TlsCredentials,
  limits: TransportLimits,
  events: TransportEvents,
  log: Logger,
): Promise<TlsListener> {
  const live = new Set<TlsConnection>();
  const server = tls.createServer(tlsServerOptions(creds, limits));
  server.maxConnections = limits.maxConnections;

  server.on('tlsClientError', (err, socket) => {
    log.debug({ remote: plainAddress(socket.remoteAddress), err: err.message }, 'TLS handshake failed');
    socket.destroy();
  });

  server.on('secureConnection', (socket) => {
    // Signalling is small request/response messages: Nagle's algorithm would add delayed-ACK stalls.
    socket.setNoDelay(true);
    const conn = new TlsConnection(
      socket,
      limits.maxQueuedBytes,
      limits.idleTimeoutMs,
      limits.firstMessageTimeoutMs,
    );
    // OpenSSL checked the chain to the deployment CA and the validity period (rejectUnauthorized is off
    // because a certificate is optional: digest authenticates devices without one).
    if (socket.authorized) conn.clientCertificate = socket.getPeerX509Certificate();
    live.add(conn);
    const clog = log.child({ conn: conn.id, remote: `${conn.remote.address}:${conn.remote.port}` });
    clog.debug({ protocol: socket.getProtocol() }, 'connection open');
    const framer = new SipFramer();
    // The silence timer runs from the first message on (conn.start); before it, the deadline applies.
    socket.on('timeout', () => conn.close('idle timeout'));
    socket.on('error', (err) => conn.close(`socket error: ${err.message}`));
    socket.on('close', () => conn.close('closed by peer'));
    conn.onClose((reason) => {
      live.delete(conn);
      clog.debug({ reason }, 'connection closed');
    });
    socket.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (conn.closed) return;
        if (ev.type === 'keepalive') {
          conn.write(CRLF); // RFC 5626 §3.5.1 pong
          continue;
        }
        if (ev.type === 'error') {
          events.onBadMessage(conn, Buffer.alloc(0), ev.error);
          conn.close(`framing error: ${ev.error.message}`);
          return;
        }
        if (!conn.started) conn.start();
        deliver(conn, ev.data, events);
      }
    });
    events.onConnection?.(conn);
  });

  const address = await bind(server, host, port);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of [...live]) c.close('server shutting down');
      }),
  };
}
