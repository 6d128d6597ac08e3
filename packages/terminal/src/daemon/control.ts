import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocketServer, WebSocket } from 'ws';
import {
  CommandError,
  type CommandName,
  type Commands,
  type TerminalApi,
  type TerminalEvent,
} from '@tsunagu/protocol';
import { bearerMatches, serveApi } from './bridge.js';

/**
 * The daemon's local control endpoint: the terminal's API over a WebSocket on loopback only, for the
 * CLI (and, next, the web GUI). Every connection must present the per-run token (a bearer header, never
 * in a URL); browsers' cross-site requests are refused by their Origin. The address and token are
 * written to `daemon.json` (0600) in the profile, where the CLI finds them.
 */

export const DAEMON_FILE = 'daemon.json';
const MAX_MESSAGE = 64 * 1024;

export interface DaemonInfo {
  url: string;
  token: string;
  pid: number;
  /** The web GUI's access link (token in the fragment), when the daemon serves one. */
  gui?: string;
}

export async function serveControl(
  api: TerminalApi,
  o: { profileDir: string; host?: string; port?: number; gui?: string },
): Promise<{ info: DaemonInfo; close(): Promise<void> }> {
  const token = randomBytes(32).toString('base64url');
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({
    server,
    maxPayload: MAX_MESSAGE,
    verifyClient: ({ req }: { req: IncomingMessage }) => authorised(req, token),
  });
  wss.on('connection', (ws) => serveApi(ws, api));
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: o.port ?? 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const info: DaemonInfo = {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    token,
    pid: process.pid,
    ...(o.gui ? { gui: o.gui } : {}),
  };
  const file = join(o.profileDir, DAEMON_FILE);
  await writeFile(file, JSON.stringify(info), { mode: 0o600 });
  return {
    info,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      await unlink(file).catch(() => undefined);
    },
  };
}

function authorised(req: IncomingMessage, token: string): boolean {
  // A page in a browser sends an Origin; no page may talk to the CLI's endpoint (the GUI has its own).
  if (req.headers.origin !== undefined) return false;
  return bearerMatches(req, token);
}

/** The API of a running daemon, over its control endpoint. */
export async function connectControl(info: DaemonInfo): Promise<TerminalApi & { close(): void }> {
  const ws = new WebSocket(info.url, {
    headers: { authorization: `Bearer ${info.token}` },
    maxPayload: 16 * 1024 * 1024,
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  let closed = false;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners = new Set<(e: TerminalEvent) => void>();
  // After the handshake an error is followed by 'close', which settles every pending call.
  ws.on('error', () => undefined);
  ws.on('message', (data) => {
    let msg: {
      event?: TerminalEvent;
      id?: number;
      ok?: boolean;
      result?: unknown;
      error?: { code: string; message: string };
    };
    try {
      msg = JSON.parse(data.toString()) as typeof msg;
    } catch {
      return ws.close(1007, 'not JSON');
    }
    if (msg.event) for (const l of listeners) l(msg.event);
    else if (typeof msg.id === 'number') {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.result);
      else p?.reject(new CommandError(msg.error?.code ?? 'failed', msg.error?.message ?? 'failed'));
    }
  });
  ws.on('close', () => {
    closed = true;
    for (const p of pending.values()) p.reject(new Error('the daemon closed the connection'));
    pending.clear();
  });
  return {
    call: <N extends CommandName>(command: N, params: Commands[N]['params']) =>
      new Promise<Commands[N]['result']>((resolve, reject) => {
        if (closed) return reject(new Error('the daemon closed the connection'));
        const id = nextId++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        ws.send(JSON.stringify({ id, command, params }));
      }),
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: () => ws.close(),
  };
}
