import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { bind } from './listen.js';
import { SipFramer } from '../sip/framer.js';
import { serializeMessage } from '../sip/serialize.js';
import type { SipMessage } from '../sip/message.js';
import {
  BaseConnection,
  deliver,
  plainAddress,
  type Connection,
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

/** A SIP stream connection: TLS, or plain TCP for a federation peer configured as insecure. */
class StreamConnection extends BaseConnection {
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
    readonly socket: net.Socket,
    readonly transport: 'TLS' | 'TCP',
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
 * when presented, is checked against the deployment CA, or against a federation peer's CA). The CA
 * certificate follows ours, so that a peer server configured with its fingerprint can check the chain.
 */
export function tlsServerOptions(creds: TlsCredentials, limits: TransportLimits): tls.TlsOptions {
  return {
    key: creds.key,
    cert: certificateChain(creds),
    ca: creds.ca,
    minVersion: 'TLSv1.2',
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: limits.handshakeTimeoutMs,
  };
}

/** Our certificate followed by the CA's. */
export const certificateChain = (creds: TlsCredentials): string =>
  `${creds.cert.trim()}\n${creds.ca.trim()}\n`;

/** The certificates a TLS peer presented, its own first (empty when it presented none). */
export function presentedChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  // The issuer links form a cycle at a self-signed root; bounded anyway against a hostile chain.
  while (c?.raw && !seen.has(c.fingerprint256) && chain.length < 8) {
    seen.add(c.fingerprint256);
    chain.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return chain;
}

/** What both transports tell the SIP layer about a new connection, beyond the connection itself. */
export interface StreamEvents extends TransportEvents {
  /** A TLS client that presented a certificate not from the deployment CA (a federation peer, maybe). */
  onForeignCertificate?: (conn: Connection, chain: X509Certificate[]) => void;
}

class Streams {
  readonly live = new Set<StreamConnection>();

  constructor(
    private readonly limits: TransportLimits,
    private readonly events: StreamEvents,
    private readonly log: Logger,
  ) {}

  /** Frames, answers keepalives and hands messages on for one established socket. */
  serve(
    socket: net.Socket,
    transport: 'TLS' | 'TCP',
    prepare?: (conn: StreamConnection) => void,
  ): Connection {
    const { limits, events } = this;
    // Signalling is small request/response messages: Nagle's algorithm would add delayed-ACK stalls.
    socket.setNoDelay(true);
    const conn = new StreamConnection(
      socket,
      transport,
      limits.maxQueuedBytes,
      limits.idleTimeoutMs,
      limits.firstMessageTimeoutMs,
    );
    prepare?.(conn);
    this.live.add(conn);
    const clog = this.log.child({ conn: conn.id, remote: `${conn.remote.address}:${conn.remote.port}` });
    clog.debug(
      { protocol: socket instanceof tls.TLSSocket ? socket.getProtocol() : 'tcp' },
      'connection open',
    );
    const framer = new SipFramer();
    // The silence timer runs from the first message on (conn.start); before it, the deadline applies.
    socket.on('timeout', () => conn.close('idle timeout'));
    socket.on('error', (err) => conn.close(`socket error: ${err.message}`));
    socket.on('close', () => conn.close('closed by peer'));
    conn.onClose((reason) => {
      this.live.delete(conn);
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
    return conn;
  }

  /** Binds `server`; closing it also closes every connection it (or an outbound connect) made. */
  async listen(server: net.Server, host: string, port: number): Promise<TlsListener> {
    const address = await bind(server, host, port);
    return {
      address,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const c of [...this.live]) c.close('server shutting down');
        }),
    };
  }
}

/** SIP over TLS (RFC 3261 §26, RFC 5630): one listener, many long-lived terminal flows and peer links. */
export async function listenTls(
  host: string,
  port: number,
  creds: TlsCredentials,
  limits: TransportLimits,
  events: StreamEvents,
  log: Logger,
): Promise<TlsListener & { connect: ConnectFn }> {
  const streams = new Streams(limits, events, log);
  const server = tls.createServer(tlsServerOptions(creds, limits));
  server.maxConnections = limits.maxConnections;

  server.on('tlsClientError', (err, socket) => {
    log.debug({ remote: plainAddress(socket.remoteAddress), err: err.message }, 'TLS handshake failed');
    socket.destroy();
  });

  server.on('secureConnection', (socket) => {
    const conn = streams.serve(socket, 'TLS', (c) => {
      // OpenSSL checked the chain to the deployment CA and the validity period (rejectUnauthorized is
      // off because a certificate is optional: digest authenticates devices without one).
      if (socket.authorized) c.clientCertificate = socket.getPeerX509Certificate();
    });
    if (!socket.authorized) {
      const chain = presentedChain(socket);
      if (chain.length > 0) events.onForeignCertificate?.(conn, chain);
    }
    events.onConnection?.(conn);
  });

  const connect: ConnectFn = (to, o) => connectStream(streams, creds, limits, events, to, o);
  return { ...(await streams.listen(server, host, port)), connect };
}

/**
 * Plain SIP over TCP, for federation peers an admin configured as insecure (`peer add --insecure-tcp`)
 * and nothing else: a connection from any other address is closed before it is read.
 */
export async function listenTcp(
  host: string,
  port: number,
  limits: TransportLimits,
  events: StreamEvents,
  log: Logger,
  admit: (remote: string) => boolean,
): Promise<TlsListener> {
  const streams = new Streams(limits, events, log);
  const server = net.createServer((socket) => {
    if (!admit(plainAddress(socket.remoteAddress))) {
      log.info(
        { remote: plainAddress(socket.remoteAddress) },
        'plain TCP connection from a non-peer refused',
      );
      socket.destroy();
      return;
    }
    events.onConnection?.(streams.serve(socket, 'TCP'));
  });
  server.maxConnections = limits.maxConnections;
  return streams.listen(server, host, port);
}

/** Where and how to open an outbound link to a peer server. */
export interface ConnectTarget {
  host: string;
  port: number;
  transport: 'TLS' | 'TCP';
  /** SNI: the peer's domain. */
  servername?: string;
}

export type ConnectFn = (
  to: ConnectTarget,
  o: { timeoutMs: number; check?: (chain: X509Certificate[]) => string | undefined },
) => Promise<Connection>;

/**
 * Opens a link to a peer server, presenting our certificate and chain. `check` judges the peer's
 * chain (its CA must be the one configured for it); a refusal closes the socket before any SIP.
 */
function connectStream(
  streams: Streams,
  creds: TlsCredentials,
  limits: TransportLimits,
  events: StreamEvents,
  to: ConnectTarget,
  o: { timeoutMs: number; check?: (chain: X509Certificate[]) => string | undefined },
): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket =
      to.transport === 'TLS'
        ? tls.connect({
            host: to.host,
            port: to.port,
            key: creds.key,
            cert: certificateChain(creds),
            minVersion: 'TLSv1.2',
            // The peer's CA is not the deployment CA: `check` verifies the chain against its fingerprint.
            rejectUnauthorized: false,
            ...(to.servername ? { servername: to.servername } : {}),
          })
        : net.connect({ host: to.host, port: to.port });
    const timer = setTimeout(() => fail(new Error(`no connection within ${o.timeoutMs} ms`)), o.timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once(to.transport === 'TLS' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      if (socket instanceof tls.TLSSocket) {
        const problem = o.check?.(presentedChain(socket));
        if (problem) return fail(new PeerRefusedError(problem));
      }
      const conn = streams.serve(socket, to.transport);
      // RFC 5626 §4.4.1 keepalives from the side that opened the link, well within the peer's idle timeout.
      const ping = setInterval(() => socket.write('\r\n\r\n'), Math.max(1000, limits.idleTimeoutMs / 3));
      ping.unref();
      conn.onClose(() => clearInterval(ping));
      events.onConnection?.(conn);
      resolve(conn);
    });
  });
}

/** The peer's certificate was not acceptable: not its configured CA, not its domain, or out of date. */
export class PeerRefusedError extends Error {
  override readonly name = 'PeerRefusedError';
}
