import type { CommandReply, TerminalEvent } from '@tsunagu/protocol';
import { BridgeError, type Bridge, type BridgeStatus, type DroppedFile, type UploadProgress } from './types';

/**
 * The bridge in a browser, to the daemon's web GUI server:
 *
 * - WebSocket `/bridge`: first message `{"auth": TOKEN}`, answer `{"auth":"ok"}` (a wrong token: close
 *   code 4401); then requests `{"id","command","params"}`, replies `{"id","ok","result"|"error"}` and
 *   events `{"event"}`. A dropped connection is retried with backoff; the store resyncs from a
 *   snapshot when the status is `open` again.
 * - Uploads: a browser cannot name files on disk, so dropped files are staged on the daemon first:
 *   `POST /uploads` → `{"batch","dir"}`, one `PUT /uploads/BATCH/rel/path` per file, then
 *   `transfer.send` with `DIR/<top-level name>` per dropped item.
 */

/** Sends one file's bytes; `onBytes` reports bytes sent so far. */
export type PutFile = (
  url: string,
  token: string,
  file: File,
  onBytes: (sent: number) => void,
) => Promise<void>;

export interface WebBridgeOptions {
  /** Where the daemon serves the page, e.g. `http://127.0.0.1:8384`. */
  origin: string;
  token: string | undefined;
  /** Told when the token changes, and `undefined` when the daemon rejected it (forget it). */
  onToken?: (token: string | undefined) => void;
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  putFile?: PutFile;
  /** Reconnect delays: `initialMs` doubling up to `maxMs`, each ±20 % so many tabs do not stampede. */
  backoff?: { initialMs: number; maxMs: number };
  /** How long the daemon may take to answer the auth message before the connection is retried. */
  authTimeoutMs?: number;
}

/** The close code the daemon uses for a wrong or expired token. */
export const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_NORMAL = 1000;

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

export function createWebBridge(o: WebBridgeOptions): Bridge {
  const Socket = o.WebSocket ?? globalThis.WebSocket;
  const doFetch = o.fetch ?? globalThis.fetch.bind(globalThis);
  const putFile = o.putFile ?? (typeof XMLHttpRequest === 'function' ? xhrPut : fetchPut(doFetch));
  const backoff = o.backoff ?? { initialMs: 500, maxMs: 5000 };
  const wsUrl = `${o.origin.replace(/^http/, 'ws')}/bridge`;

  let token = o.token;
  let status: BridgeStatus = token ? { state: 'connecting' } : { state: 'needs-access', reason: 'missing' };
  let socket: WebSocket | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Set<(e: TerminalEvent) => void>();
  const statusListeners = new Set<(s: BridgeStatus) => void>();

  const setStatus = (next: BridgeStatus): void => {
    status = next;
    for (const l of [...statusListeners]) l(next);
  };

  const failPending = (message: string): void => {
    for (const p of pending.values()) p.reject(new BridgeError('disconnected', message));
    pending.clear();
  };

  const scheduleRetry = (): void => {
    const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
    attempt++;
    retry = setTimeout(connect, base * (0.8 + Math.random() * 0.4));
  };

  function connect(): void {
    retry = undefined;
    if (closed || !token) return;
    const auth = token;
    const ws = new Socket(wsUrl);
    socket = ws;
    let authed = false;
    const authTimer = setTimeout(() => ws.close(CLOSE_NORMAL), o.authTimeoutMs ?? 10_000);

    ws.onopen = () => ws.send(JSON.stringify({ auth }));
    ws.onerror = () => undefined; // a close event always follows, and that is where we act
    ws.onmessage = (ev: MessageEvent) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return; // not ours to interpret; the daemon only sends JSON
      }
      if (!isRecord(msg)) return;
      if (!authed) {
        if (msg.auth !== 'ok') return;
        authed = true;
        attempt = 0;
        clearTimeout(authTimer);
        setStatus({ state: 'open' });
        return;
      }
      if ('event' in msg) {
        const event = msg.event;
        // The store places events by their seq: one without it could only be misapplied.
        if (!isRecord(event) || typeof event.seq !== 'number') return;
        for (const l of [...listeners]) l(event as unknown as TerminalEvent);
        return;
      }
      const reply = msg as CommandReply;
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (reply.ok === true) p.resolve(reply.result);
      else p.reject(replyError(reply.error));
    };
    ws.onclose = (ev: CloseEvent) => {
      clearTimeout(authTimer);
      if (socket !== ws) return; // replaced by a newer connection
      socket = undefined;
      failPending('lost contact with the daemon before it answered');
      if (closed) return;
      if (ev.code === CLOSE_UNAUTHORIZED) {
        token = undefined;
        o.onToken?.(undefined);
        setStatus({ state: 'needs-access', reason: 'rejected' });
        return;
      }
      setStatus({
        state: 'reconnecting',
        reason: authed ? 'lost contact with the daemon' : 'cannot reach the daemon',
      });
      scheduleRetry();
    };
  }

  const call: Bridge['call'] = (command, params) =>
    new Promise((resolve, reject) => {
      const ws = socket;
      if (!ws || status.state !== 'open') {
        reject(new BridgeError('disconnected', 'not connected to the daemon — try again when it reconnects'));
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      ws.send(JSON.stringify({ id, command, params }));
    });

  const authHeader = (): Record<string, string> => ({ Authorization: `Bearer ${token ?? ''}` });

  async function upload(files: DroppedFile[], onProgress?: (p: UploadProgress) => void): Promise<string> {
    const res = await doFetch(`${o.origin}/uploads`, { method: 'POST', headers: authHeader() });
    if (!res.ok) throw await httpError(res, 'the daemon refused the upload');
    const { batch, dir } = (await res.json()) as { batch: string; dir: string };
    const progress: UploadProgress = {
      files: files.length,
      filesDone: 0,
      bytes: files.reduce((n, f) => n + f.file.size, 0),
      bytesDone: 0,
    };
    onProgress?.({ ...progress });
    for (const f of files) {
      const url = `${o.origin}/uploads/${encodeURIComponent(batch)}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
      const before = progress.bytesDone;
      await putFile(url, token ?? '', f.file, (sent) => {
        progress.bytesDone = before + Math.min(sent, f.file.size);
        onProgress?.({ ...progress });
      });
      progress.bytesDone = before + f.file.size;
      progress.filesDone++;
      onProgress?.({ ...progress });
    }
    return dir;
  }

  connect();

  return {
    host: 'web',
    get status() {
      return status;
    },
    onStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    call,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async sendDropped(channelId, items, onProgress) {
      const groups = await Promise.all(items.map(async (i) => ({ name: i.name, files: await i.files() })));
      const files = groups.flatMap((g) => g.files);
      if (files.length === 0) throw new BridgeError('empty', 'nothing to send: the folders are empty');
      const dir = await upload(files, onProgress);
      const tops = [...new Set(groups.filter((g) => g.files.length > 0).map((g) => g.name))];
      const { transferIds } = await call('transfer.send', {
        channelId,
        paths: tops.map((n) => `${dir}/${n}`),
      });
      return transferIds;
    },
    useAccessToken(next) {
      token = next;
      o.onToken?.(next);
      attempt = 0;
      clearTimeout(retry);
      const old = socket;
      socket = undefined;
      old?.close(CLOSE_NORMAL);
      failPending('the connection was restarted');
      setStatus({ state: 'connecting' });
      connect();
    },
    close() {
      closed = true;
      clearTimeout(retry);
      const old = socket;
      socket = undefined;
      old?.close(CLOSE_NORMAL);
      failPending('the page closed its connection to the daemon');
    },
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A failed reply's error; a malformed one still settles the call rather than leaving it pending. */
function replyError(error: unknown): BridgeError {
  const e = isRecord(error) ? error : {};
  return new BridgeError(
    typeof e.code === 'string' ? e.code : 'failed',
    typeof e.message === 'string' ? e.message : 'the daemon reported a failure without a reason',
  );
}

async function httpError(res: Response, what: string): Promise<BridgeError> {
  let detail = '';
  try {
    const text = (await res.text()).trim();
    try {
      const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
      const m = typeof body.error === 'string' ? body.error : (body.error?.message ?? body.message);
      detail = typeof m === 'string' ? m : text;
    } catch {
      detail = text;
    }
  } catch {
    /* no body */
  }
  const code = res.status === 401 ? 'unauthorized' : 'upload-failed';
  return new BridgeError(code, `${what} (HTTP ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ''})`);
}

/** The browser's way: XMLHttpRequest is the only API that reports upload progress for a plain PUT. */
const xhrPut: PutFile = (url, token, file, onBytes) =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onBytes(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else
        reject(
          new BridgeError(
            'upload-failed',
            `uploading ${file.name} failed (HTTP ${xhr.status}${xhr.responseText ? `: ${xhr.responseText.slice(0, 200)}` : ''})`,
          ),
        );
    };
    xhr.onerror = () =>
      reject(new BridgeError('upload-failed', `uploading ${file.name} failed: no answer from the daemon`));
    xhr.send(file);
  });

/** Without XMLHttpRequest (tests in Node): progress per finished file only. */
const fetchPut =
  (doFetch: typeof fetch): PutFile =>
  async (url, token, file) => {
    const res = await doFetch(url, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}` },
      body: file,
    });
    if (!res.ok) throw await httpError(res, `uploading ${file.name} failed`);
  };
