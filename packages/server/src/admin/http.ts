import http from 'node:http';
import { bind } from '../transport/listen.js';
import type { Metrics } from './metrics.js';

/** `/healthz` and Prometheus `/metrics`, on a loopback address by default (they are not for the world). */
export async function listenAdmin(
  host: string,
  port: number,
  metrics: Metrics,
  health: () => { ok: boolean; detail: Record<string, unknown> },
): Promise<{ address: { address: string; port: number }; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (req.url === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: h.ok ? 'ok' : 'unavailable', ...h.detail }));
      return;
    }
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const address = await bind(server, host, port);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
