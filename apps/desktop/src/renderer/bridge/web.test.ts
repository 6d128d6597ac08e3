// @vitest-environment node
// Real sockets: a local HTTP + WebSocket server speaking the daemon's side of the web bridge.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TerminalEvent } from '@tsunagu/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsSocket, WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { makeSnapshot } from './fake';
import { connectBridge } from '../state/connect';
import { createAppStore } from '../state/store';
import type { Bridge, BridgeStatus, DroppedItem } from './types';
import { BridgeError } from './types';
import { CLOSE_UNAUTHORIZED, createWebBridge } from './web';

const TOKEN = 'tok_0123456789abcdefghij';

interface Upload {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

/** The daemon's side, scriptable per test. */
class FakeDaemon {
  readonly http: Server;
  readonly wss: WebSocketServer;
  readonly sockets: ServerSocket[] = [];
  readonly authMessages: unknown[] = [];
  readonly commands: Array<{ command: string; params: unknown }> = [];
  readonly uploads: Upload[] = [];
  seq = 0;
  failPut = false;

  constructor() {
    this.http = createServer((req, res) => void this.#onHttp(req, res));
    this.wss = new WebSocketServer({ server: this.http, path: '/bridge' });
    this.wss.on('connection', (ws) => {
      this.sockets.push(ws);
      let authed = false;
      ws.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as Record<string, unknown>;
        if (!authed) {
          this.authMessages.push(msg);
          if (msg.auth !== TOKEN) return ws.close(CLOSE_UNAUTHORIZED, 'bad token');
          authed = true;
          return ws.send(JSON.stringify({ auth: 'ok' }));
        }
        const { id, command, params } = msg as { id: number; command: string; params: unknown };
        this.commands.push({ command, params });
        if (command === 'snapshot') {
          ws.send(JSON.stringify({ id, ok: true, result: makeSnapshot({ seq: this.seq }) }));
        } else if (command === 'transfer.send') {
          const paths = (params as { paths: string[] }).paths;
          ws.send(JSON.stringify({ id, ok: true, result: { transferIds: paths.map((_, i) => `t${i}`) } }));
        } else if (command === 'channel.open') {
          ws.send(JSON.stringify({ id, ok: false, error: { code: 'offline', message: 'bob is offline' } }));
        } else if (command === 'history.list') {
          // never answered: a call in flight when the connection drops
        } else if (command === 'transfer.cancel') {
          ws.send(JSON.stringify({ id, ok: false })); // a failure without its error object
        } else ws.send(JSON.stringify({ id, ok: true, result: {} }));
      });
    });
  }

  async #onHttp(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const upload = {
      method: req.method ?? '',
      url: req.url ?? '',
      auth: req.headers.authorization,
      body: Buffer.concat(chunks).toString(),
    };
    this.uploads.push(upload);
    if (upload.auth !== `Bearer ${TOKEN}`)
      return void res.writeHead(401).end('{"error":{"message":"bad token"}}');
    if (req.method === 'POST' && req.url === '/uploads') {
      res.writeHead(201, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ batch: 'B1', dir: '/staging/B1' }));
    }
    if (req.method === 'PUT' && req.url?.startsWith('/uploads/B1/')) {
      if (this.failPut) return void res.writeHead(507).end('{"error":{"message":"disk full"}}');
      return void res.writeHead(201).end();
    }
    res.writeHead(404).end();
  }

  /** Sends `message` as it is on every open socket. */
  sendRaw(message: unknown): void {
    for (const ws of this.sockets) if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  emit(event: Omit<TerminalEvent, 'seq'>): void {
    this.sendRaw({ event: { ...event, seq: ++this.seq } });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise((r) => this.wss.close(r));
    await new Promise((r) => this.http.close(r));
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(token: string | null = TOKEN) {
  const daemon = new FakeDaemon();
  const origin = await daemon.listen();
  const tokens: Array<string | undefined> = [];
  const bridge = createWebBridge({
    origin,
    token: token ?? undefined,
    onToken: (t) => tokens.push(t),
    WebSocket: WsSocket as unknown as typeof WebSocket,
    backoff: { initialMs: 20, maxMs: 50 },
  });
  const statuses: BridgeStatus[] = [];
  bridge.onStatus((s) => statuses.push(s));
  cleanups.push(
    () => daemon.close(),
    () => bridge.close(),
  );
  return { daemon, bridge, statuses, tokens, origin };
}

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const isOpen = (b: Bridge) => () => b.status.state === 'open';

describe('web bridge', () => {
  it('authenticates first, then calls commands and receives events', async () => {
    const { daemon, bridge } = await start();
    await until(isOpen(bridge), 'open');
    expect(daemon.authMessages).toEqual([{ auth: TOKEN }]);

    const snap = await bridge.call('snapshot', {});
    expect(snap.seq).toBe(0);
    await expect(bridge.call('channel.open', { user: 'bob' })).rejects.toMatchObject({
      name: 'BridgeError',
      code: 'offline',
      message: 'bob is offline',
    });

    const events: TerminalEvent[] = [];
    bridge.subscribe((e) => events.push(e));
    daemon.emit({ type: 'connection', data: { state: 'registered' } });
    await until(() => events.length === 1, 'event');
    expect(events[0]).toEqual({ seq: 1, type: 'connection', data: { state: 'registered' } });
  });

  it('settles a call whose failure came without an error, and ignores events it cannot place', async () => {
    const { daemon, bridge } = await start();
    await until(isOpen(bridge), 'open');
    await expect(bridge.call('transfer.cancel', { transferId: 't1' })).rejects.toMatchObject({
      name: 'BridgeError',
      code: 'failed',
    });

    const events: TerminalEvent[] = [];
    bridge.subscribe((e) => events.push(e));
    daemon.sendRaw({ event: null });
    daemon.sendRaw({ event: { type: 'contacts', data: [] } });
    daemon.emit({ type: 'connection', data: { state: 'registered' } });
    await until(() => events.length > 0, 'event');
    expect(events).toEqual([{ seq: 1, type: 'connection', data: { state: 'registered' } }]);
  });

  it('asks for a new access link when the daemon refuses the token (4401), and stops retrying', async () => {
    const { daemon, bridge, tokens } = await start('wrong_token_0123456789');
    await until(() => bridge.status.state === 'needs-access', 'needs-access');
    expect(bridge.status).toEqual({ state: 'needs-access', reason: 'rejected' });
    expect(tokens).toEqual([undefined]); // forgotten, so a reload does not try it again
    await new Promise((r) => setTimeout(r, 120)); // several backoff periods
    expect(daemon.sockets).toHaveLength(1);
    await expect(bridge.call('snapshot', {})).rejects.toBeInstanceOf(BridgeError);

    bridge.useAccessToken?.(TOKEN);
    await until(isOpen(bridge), 'open with the pasted token');
    expect(tokens).toEqual([undefined, TOKEN]);
  });

  it('starts without a token in needs-access and connects nowhere', async () => {
    const { daemon, bridge } = await start(null);
    expect(bridge.status).toEqual({ state: 'needs-access', reason: 'missing' });
    await new Promise((r) => setTimeout(r, 50));
    expect(daemon.sockets).toHaveLength(0);
  });

  it('reconnects after a drop, fails calls in flight, and the store resyncs from a new snapshot', async () => {
    const { daemon, bridge, statuses } = await start();
    const store = createAppStore();
    cleanups.push(connectBridge(bridge, store));
    await until(() => store.getState().synced, 'first snapshot');

    const inFlight = bridge.call('history.list', {});
    await until(() => daemon.commands.some((c) => c.command === 'history.list'), 'call sent');
    daemon.sockets[0]!.terminate();
    await expect(inFlight).rejects.toMatchObject({ code: 'disconnected' });
    await until(() => store.getState().bridge.state === 'reconnecting', 'reconnecting in the store');
    expect(store.getState().bridge).toEqual({
      state: 'reconnecting',
      reason: 'lost contact with the daemon',
    });

    daemon.seq = 41; // events happened while the page was away
    await until(() => store.getState().bridge.state === 'open' && store.getState().seq === 41, 'resynced');
    expect(daemon.sockets).toHaveLength(2);
    expect(daemon.authMessages).toEqual([{ auth: TOKEN }, { auth: TOKEN }]);
    expect(daemon.commands.filter((c) => c.command === 'snapshot')).toHaveLength(2);
    expect(statuses.map((s) => s.state)).toEqual(['open', 'reconnecting', 'open']);

    daemon.emit({
      type: 'contacts',
      data: [{ user: 'bob', aor: 'sip:bob@example.org', online: true, devices: [] }],
    });
    await until(() => store.getState().contacts.length === 1, 'event after resync');
  });

  it('retries with backoff while the daemon is unreachable', async () => {
    const { daemon, bridge, origin } = await start();
    await until(isOpen(bridge), 'open');
    await daemon.close();
    await until(() => bridge.status.state === 'reconnecting', 'reconnecting');
    // A new daemon on the same port comes back: the bridge finds it on its own.
    const again = new FakeDaemon();
    const port = Number(new URL(origin).port);
    await new Promise<void>((r) => again.http.listen(port, '127.0.0.1', r));
    cleanups.push(() => again.close());
    await until(isOpen(bridge), 'open again');
    expect(again.authMessages).toEqual([{ auth: TOKEN }]);
  });

  it('uploads dropped files and folders, then sends them from the staging folder', async () => {
    const { daemon, bridge } = await start();
    await until(isOpen(bridge), 'open');
    const file = (text: string, name: string) => new File([text], name);
    const items: DroppedItem[] = [
      {
        name: 'a.txt',
        file: file('hello', 'a.txt'),
        files: async () => [{ file: file('hello', 'a.txt'), path: 'a.txt' }],
      },
      {
        name: 'photos',
        files: async () => [
          { file: file('jpeg bytes', 'a b.jpg'), path: 'photos/2024/a b.jpg' },
          { file: file('png', '#1?.png'), path: 'photos/#1?.png' },
        ],
      },
    ];
    const progress: number[] = [];
    const ids = await bridge.sendDropped('chan1', items, (p) => progress.push(p.bytesDone));
    expect(ids).toEqual(['t0', 't1']);

    expect(daemon.uploads.map((u) => [u.method, u.url, u.auth, u.body])).toEqual([
      ['POST', '/uploads', `Bearer ${TOKEN}`, ''],
      ['PUT', '/uploads/B1/a.txt', `Bearer ${TOKEN}`, 'hello'],
      ['PUT', '/uploads/B1/photos/2024/a%20b.jpg', `Bearer ${TOKEN}`, 'jpeg bytes'],
      ['PUT', '/uploads/B1/photos/%231%3F.png', `Bearer ${TOKEN}`, 'png'],
    ]);
    expect(daemon.commands.at(-1)).toEqual({
      command: 'transfer.send',
      params: { channelId: 'chan1', paths: ['/staging/B1/a.txt', '/staging/B1/photos'] },
    });
    expect(progress.at(-1)).toBe(5 + 10 + 3);
  });

  it('reports an upload the daemon refuses and sends nothing', async () => {
    const { daemon, bridge } = await start();
    await until(isOpen(bridge), 'open');
    daemon.failPut = true;
    const f = new File(['x'], 'a.txt');
    await expect(
      bridge.sendDropped('chan1', [
        { name: 'a.txt', file: f, files: async () => [{ file: f, path: 'a.txt' }] },
      ]),
    ).rejects.toThrow(/uploading a\.txt failed \(HTTP 507: disk full\)/);
    expect(daemon.commands.some((c) => c.command === 'transfer.send')).toBe(false);
  });

  it('refuses to send only empty folders', async () => {
    const { daemon, bridge } = await start();
    await until(isOpen(bridge), 'open');
    await expect(bridge.sendDropped('chan1', [{ name: 'empty', files: async () => [] }])).rejects.toThrow(
      /empty/,
    );
    expect(daemon.uploads).toHaveLength(0);
  });
});
