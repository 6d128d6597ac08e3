import type { TLSSocket } from 'node:tls';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from '../log/logger.js';
import { bind } from './listen.js';
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
import { tlsServerOptions, type TlsCredentials } from './tls.js';

/** Largest SIP message accepted in one WebSocket frame (same bound as the stream framer). */
const MAX_WS_MESSAGE = 320 * 1024;

class WsConnection extends BaseConnection {
  readonly transport = 'WSS' as const;

  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly remote: Endpoint,
    readonly local: Endpoint,
    private readonly maxQueuedBytes: number,
    idleTimeoutMs: number,
    firstMessageTimeoutMs: number,
  ) {
    super(idleTimeoutMs);
    this.#arm(firstMessageTimeoutMs);
  }

  /** Any traffic (a message or a pong) restarts the silence timer. */
  heard(): void {
    this.rearm();
  }

  protected rearm(): void {
    this.#arm(this.silenceMs);
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    if (!this.closed) this.#timer = setTimeout(() => this.close('idle timeout'), ms);
  }

  send(msg: SipMessage): void {
    if (this.closed) return;
    // RFC 7118 §5.1: a SIP message is one WebSocket message; text frames for UTF-8 bodies.
    this.ws.send(serializeMessage(msg).toString('utf8'));
    if (this.ws.bufferedAmount > this.maxQueuedBytes) this.close('peer not reading (send queue full)');
  }

  protected destroy(): void {
    clearTimeout(this.#timer);
    this.ws.terminate();
  }
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface WssListener {
  address: Endpoint;
  close(): Promise<void>;
}

/**
 * SIP over secure WebSocket (RFC 7118), subprotocol `sip`. The same HTTPS listener serves the small
 * HTTP API terminals use before they have SIP credentials (enrolment).
 */
export async function listenWss(
  host: string,
  port: number,
  creds: TlsCredentials,
  limits: TransportLimits,
  events: TransportEvents,
  http: HttpHandler,
  log: Logger,
): Promise<WssListener> {
  const live = new Set<WsConnection>();
  const server = https.createServer({
    ...tlsServerOptions(creds, limits),
    headersTimeout: limits.firstMessageTimeoutMs,
    requestTimeout: limits.firstMessageTimeoutMs,
    maxHeaderSize: 16 * 1024,
  });
  server.maxConnections = limits.maxConnections;
  server.on('tlsClientError', (err, socket) => {
    log.debug({ remote: plainAddress(socket.remoteAddress), err: err.message }, 'TLS handshake failed');
    socket.destroy();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    try {
      http(req, res);
    } catch (err) {
      log.error({ err }, 'HTTP handler failed');
      if (!res.headersSent) res.writeHead(500).end();
    }
  });

  const wss = new WebSocketServer({
    server,
    maxPayload: MAX_WS_MESSAGE,
    handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
  });
  wss.on('connection', (ws, req) => {
    if (ws.protocol !== 'sip') {
      ws.close(1002, 'subprotocol sip required');
      return;
    }
    const sock = req.socket;
    sock.setNoDelay(true);
    const conn = new WsConnection(
      ws,
      { address: plainAddress(sock.remoteAddress), port: sock.remotePort ?? 0 },
      { address: plainAddress(sock.localAddress), port: sock.localPort ?? 0 },
      limits.maxQueuedBytes,
      limits.idleTimeoutMs,
      limits.firstMessageTimeoutMs,
    );
    const tlsSocket = sock as TLSSocket;
    if (tlsSocket.authorized) conn.clientCertificate = tlsSocket.getPeerX509Certificate();
    live.add(conn);
    conn.onClose(() => live.delete(conn));
    ws.on('close', () => conn.close('closed by peer'));
    ws.on('error', (err) => conn.close(`websocket error: ${err.message}`));
    ws.on('pong', () => conn.heard());
    ws.on('message', (data: RawData) => {
      conn.heard();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      // CRLF keepalives are allowed over WebSocket too (RFC 7118 §6 leaves it to the application).
      if (buf.length <= 4 && buf.toString('latin1').trim() === '') return;
      deliver(conn, buf, events);
    });
    events.onConnection?.(conn);
  });

  const address = await bind(server, host, port);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...live]) c.close('server shutting down');
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
