import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, relative, sep, isAbsolute } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TerminalApi } from '@tsunagu/protocol';
import { bearerMatches, sameSecret, serveApi, send } from './bridge.js';
import { Uploads } from './uploads.js';

/**
 * The daemon's web GUI (the Syncthing model): the desktop app's renderer bundle, served on loopback,
 * talking to the terminal over a WebSocket at `/bridge`. Guarded three ways:
 * - the Host header must name this listener (a DNS-rebinding page has another host name);
 * - the WebSocket's Origin must be this listener's own origin (no other page may connect);
 * - the per-run token must be the first message (it reaches the page in the URL fragment, which the
 *   browser never sends to a server, so it appears in no request line or log), and uploads carry it as
 *   a bearer header.
 * Files the person drops in the browser have no path the daemon could read, so the page uploads them
 * (`POST /uploads`, `PUT /uploads/BATCH/PATH`) and then sends the staged copies.
 */

export interface GuiServer {
  /** `http://127.0.0.1:PORT/` */
  origin: string;
  /** The access link: the origin with the token in the fragment. */
  link: string;
  close(): Promise<void>;
}

const MAX_MESSAGE = 64 * 1024;
const AUTH_TIMEOUT_MS = 5_000;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export async function serveGui(
  api: TerminalApi,
  o: { root: string; profileDir: string; host: string; port: number },
): Promise<GuiServer> {
  const root = await realpath(o.root);
  const token = randomBytes(32).toString('base64url');
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
  let origin = '';
  let hosts = new Set<string>();
  const uploads = await Uploads.open(join(o.profileDir, 'uploads'), api);

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  server.requestTimeout = 0; // uploads may be long; idle sockets are bounded below instead
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.setTimeout(60_000, (s) => s.destroy());

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hosts.has(req.headers.host ?? '')) return void res.writeHead(421).end('wrong host\n');
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/uploads' || url.pathname.startsWith('/uploads/')) {
      if (
        !bearerMatches(req, token) ||
        (req.headers.origin !== undefined && req.headers.origin !== originNoSlash())
      ) {
        return void res.writeHead(401).end();
      }
      return uploads.handle(req, res, url.pathname);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    await serveStatic(req, res, url.pathname);
  }

  async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return void res.writeHead(400).end();
    }
    if (rel.includes('\0')) return void res.writeHead(400).end();
    if (rel === '/' || rel === '') rel = '/index.html';
    const file = join(root, rel);
    const inside = relative(root, file);
    if (inside.startsWith('..') || isAbsolute(inside)) return void res.writeHead(404).end();
    let real: string;
    try {
      real = await realpath(file);
      if (!(real === root || real.startsWith(root + sep)) || !(await stat(real)).isFile()) throw new Error();
    } catch {
      return void res.writeHead(404).end();
    }
    const ws = `ws://${hostPart}:${(server.address() as AddressInfo).port}`;
    res.writeHead(200, {
      'content-type': TYPES[extname(real)] ?? 'application/octet-stream',
      'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${ws}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': extname(real) === '.html' ? 'no-store' : 'max-age=3600',
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(real).pipe(res);
  }

  const originNoSlash = () => origin.replace(/\/$/, '');

  const wss = new WebSocketServer({
    server,
    path: '/bridge',
    maxPayload: MAX_MESSAGE,
    verifyClient: ({ req }: { req: IncomingMessage }) =>
      hosts.has(req.headers.host ?? '') && req.headers.origin === originNoSlash(),
  });
  wss.on('connection', (ws: WebSocket) => {
    const timer = setTimeout(() => ws.close(4401, 'no token'), AUTH_TIMEOUT_MS);
    ws.once('message', (data) => {
      clearTimeout(timer);
      let given = '';
      try {
        given = String((JSON.parse(data.toString()) as { auth?: unknown }).auth ?? '');
      } catch {
        /* not JSON: refused below */
      }
      if (!sameSecret(given, token)) return ws.close(4401, 'wrong token');
      send(ws, { auth: 'ok' });
      serveApi(ws, api, { onCommand: (request, result) => uploads.noteSent(request, result) });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host, port: o.port }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://${hostPart}:${port}/`;
  hosts = new Set([`${hostPart}:${port}`, `localhost:${port}`]);
  return {
    origin,
    link: `${origin}#token=${token}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await uploads.close();
    },
  };
}
