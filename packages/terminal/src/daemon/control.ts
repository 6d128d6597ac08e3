import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocketServer, WebSocket } from 'ws';
import {
  CommandError,
  parseCommand,
  type CommandName,
  type CommandReply,
  type Commands,
  type TerminalApi,
  type TerminalEvent,
} from '@tsunagu/protocol';

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
}

export async function serveControl(
  api: TerminalApi,
  o: { profileDir: string; host?: string; port?: number },
): Promise<{ info: DaemonInfo; close(): Promise<void> }> {
  const token = randomBytes(32).toString('base64url');
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({
    server,
    maxPayload: MAX_MESSAGE,
    verifyClient: ({ req }: { req: IncomingMessage }) => authorised(req, token),
  });
  wss.on('connection', (ws) => {
    const off = api.subscribe((event) => send(ws, { event }));
    ws.on('close', off);
    ws.on('message', (data) => {
      let id = -1;
      void (async () => {
        const request = parseCommand(JSON.parse(data.toString()));
        id = request.id;
        const result = await api.call(request.command, request.params as Commands[CommandName]['params']);
        send(ws, { id, ok: true, result } satisfies CommandReply);
      })().catch((err: Error) => {
        const code =
          err instanceof CommandError ? err.code : err instanceof SyntaxError ? 'bad-request' : 'failed';
        send(ws, { id, ok: false, error: { code, message: err.message } } satisfies CommandReply);
      });
    });
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: o.port ?? 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const info: DaemonInfo = { url: `ws://${host}:${port}/`, token, pid: process.pid };
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
  // A page in a browser sends an Origin; nothing but the daemon's own GUI may talk to it (none yet).
  if (req.headers.origin !== undefined) return false;
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(ws: WebSocket, message: unknown): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
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
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners = new Set<(e: TerminalEvent) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as {
      event?: TerminalEvent;
      id?: number;
      ok?: boolean;
      result?: unknown;
      error?: { code: string; message: string };
    };
    if (msg.event) for (const l of listeners) l(msg.event);
    else if (typeof msg.id === 'number') {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.result);
      else p?.reject(new CommandError(msg.error?.code ?? 'failed', msg.error?.message ?? 'failed'));
    }
  });
  ws.on('close', () => {
    for (const p of pending.values()) p.reject(new Error('the daemon closed the connection'));
    pending.clear();
  });
  return {
    call: <N extends CommandName>(command: N, params: Commands[N]['params']) =>
      new Promise<Commands[N]['result']>((resolve, reject) => {
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
