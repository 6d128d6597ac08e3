import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { checkPinnedCa, connectPinned } from '../sip/pinned-tls.js';

/** `host:port` / `[v6]:port` → parts. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65535))
    throw new TypeError(`expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const MAX_RESPONSE = 64 * 1024;

/** One HTTP/1.1 request over an already connected (and, where it matters, verified) TLS socket. */
export function requestOver(
  socket: tls.TLSSocket,
  o: { method: 'GET' | 'POST'; hostPort: string; path: string; body?: string; timeoutMs: number },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host: o.hostPort, accept: 'application/json, */*' };
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(o.body);
    }
    const req = http.request(
      { method: o.method, path: o.path, headers, createConnection: () => socket },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) {
            req.destroy(
              new Error(`the response to ${o.method} ${o.path} is larger than ${MAX_RESPONSE} bytes`),
            );
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          socket.end();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', fail);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`${o.method} https://${o.hostPort}${o.path} timed out`)),
      o.timeoutMs,
    );
    function fail(err: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    req.on('error', fail);
    req.end(o.body);
  });
}

/**
 * Fetches the deployment CA certificate (`GET /ca.pem`) and checks it against the pinned fingerprint.
 * The connection is not verified — we do not have the CA yet — and needs not be: the certificate is
 * public and only trusted if its fingerprint is the pinned one. No secret travels on it.
 */
export async function fetchPinnedCa(hostPort: string, pin: string, timeoutMs: number): Promise<string> {
  const { host, port } = splitHostPort(hostPort);
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      ...(net.isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    const timer = setTimeout(
      () => s.destroy(new Error(`TLS connection to ${hostPort} timed out`)),
      timeoutMs,
    );
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  socket.on('error', () => undefined);
  const res = await requestOver(socket, { method: 'GET', hostPort, path: '/ca.pem', timeoutMs });
  if (res.status !== 200) {
    throw new Error(`${hostPort} did not serve its CA certificate (GET /ca.pem answered ${res.status})`);
  }
  checkPinnedCa(res.body, pin, `the CA certificate served by ${hostPort}`);
  return res.body;
}

/** A TLS connection to `hostPort` proven to present a certificate from the pinned CA. */
export async function connectVerified(
  hostPort: string,
  caPem: string,
  pin: string,
  timeoutMs: number,
): Promise<tls.TLSSocket> {
  const { host, port } = splitHostPort(hostPort);
  // connectPinned's failures already say what they mean (explainTlsError).
  const socket = await connectPinned({ host, port, ca: caPem, caFingerprint: pin, timeoutMs });
  socket.on('error', () => undefined);
  return socket;
}
