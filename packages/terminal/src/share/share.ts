import { constants, createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import { basename } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SecureContext, TLSSocket } from 'node:tls';
import { canonicalIp } from '@tsunagu/protocol';

/**
 * `tsunagu share`: one file over HTTPS for hosts outside the system (the seed's "terminal 13"). The
 * device presents its certificate from the deployment CA, so any host that holds only the CA
 * certificate downloads with stock tools (`curl --cacert ca.pem`) and verifies who it talks to.
 *
 * One regular file, GET and HEAD, a single byte range for resuming. The file is fixed when sharing
 * starts: each request opens it again and, if it has been changed, replaced or removed since, answers
 * 409 or 404 instead of sending other bytes than were announced. Bytes are streamed from disk with
 * backpressure; the last chunk of a response is held back until the file has been checked unchanged,
 * so a file that changes while it is being sent ends in a broken connection, never in a complete-looking
 * download with mixed contents.
 */

/** The logging a share does (a pino logger or a child of one): public facts only, never key material. */
export interface ShareLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** One finished response that carried file bytes. */
export interface ShareDownload {
  /** `203.0.113.5:51234` or `[2001:db8::5]:51234` */
  readonly remote: string;
  /** 200 (the whole file) or 206 (a range). */
  readonly status: 200 | 206;
  readonly bytes: number;
  /** From the request to the last byte handed to the operating system (socket buffers may still hold some). */
  readonly ms: number;
  /** For 206: the first and last byte sent. */
  readonly range?: { readonly start: number; readonly end: number };
}

export interface ShareOptions {
  /** The file to share. */
  readonly path: string;
  /**
   * The TLS context with the device's key and CA-issued certificate. Offered to every client that
   * sends a server name (SNI), which every client that verifies a host name does.
   */
  readonly secureContext: SecureContext;
  /** Default: every address of this machine, IPv6 and IPv4 (Node's unspecified address). */
  readonly host?: string;
  /** Default 8443; 0 picks a free port. */
  readonly port?: number;
  readonly log?: ShareLog;
  /** Simultaneous TCP connections; more are dropped on arrival. Default 64. */
  readonly maxConnections?: number;
  /** Called after each response that delivered all its bytes (also logged). */
  readonly onDownload?: (download: ShareDownload) => void;
}

export interface ShareServer {
  /** The download address under `hostname` (a DNS name in the certificate). */
  url(hostname: string): string;
  readonly address: { readonly host: string; readonly port: number };
  readonly file: { readonly name: string; readonly size: number };
  /** Responses that delivered all their bytes (a resumed download counts once per request). */
  readonly downloads: number;
  /** Stops listening and closes every connection (a download in progress is cut; it can be resumed). */
  close(): Promise<void>;
}

export const DEFAULT_SHARE_PORT = 8443;

const LIMITS = {
  maxConnections: 64,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  /** No byte in either direction for this long ends the connection (a stalled reader holds no slot). */
  idleTimeoutMs: 60_000,
  maxHeadersCount: 100,
  maxHeaderSize: 16 * 1024,
} as const;

const silent: ShareLog = { info: () => undefined, warn: () => undefined };

/** What identifies the shared version of the file. */
interface Version {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly dev: number;
}

/** `a` may be a whole `Stats`: only the fields of a version are compared. */
const sameVersion = (a: Version, b: Version) =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.dev === b.dev;

/** Serves `o.path` over HTTPS until `close()`. Throws, before listening, if the path is not one readable file. */
export async function serveShare(o: ShareOptions): Promise<ShareServer> {
  const log = o.log ?? silent;
  const { path } = o;
  const version = await readableFile(path);
  const name = basename(path);
  const urlPath = `/${encodePathSegment(name)}`;
  const etag = `"${version.size.toString(16)}-${Math.trunc(version.mtimeMs * 1000).toString(16)}"`;
  const lastModified = new Date(version.mtimeMs).toUTCString();
  const disposition = contentDisposition(name);
  let downloads = 0;

  const server = https.createServer(
    {
      // The real context is handed out per connection; the default one has no certificate, so a client
      // that names no server fails its handshake (it could not check a host name anyway).
      SNICallback: (_servername, cb) => cb(null, o.secureContext),
      minVersion: 'TLSv1.2', // outside hosts may be old; TLS 1.3 is chosen whenever both ends have it
      handshakeTimeout: LIMITS.handshakeTimeoutMs,
      headersTimeout: LIMITS.headersTimeoutMs,
      requestTimeout: LIMITS.requestTimeoutMs,
      keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
      maxHeaderSize: LIMITS.maxHeaderSize,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        log.warn({ remote: remoteOf(req.socket), error: (e as Error).message }, 'share request failed');
        if (!res.headersSent) send(res, 500, 'internal error');
        else res.destroy();
      });
    },
  );
  server.maxHeadersCount = LIMITS.maxHeadersCount;
  server.maxConnections = o.maxConnections ?? LIMITS.maxConnections;
  server.timeout = LIMITS.idleTimeoutMs;

  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
    // A client that does not trust the certificate says so with an alert: worth a line, it explains a
    // failed download on the other side. No certificate or key material is in these messages.
    const reason = s.servername ? err.message : 'the client sent no server name (SNI)';
    log.info({ remote: remoteOf(s), reason, code: err.code }, 'share TLS handshake failed');
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const remote = remoteOf(req.socket);
    const target = (req.url ?? '/').split('?', 1)[0]!;
    if (target !== '/' && !samePath(target, urlPath)) return send(res, 404, 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });

    let fh: FileHandle;
    try {
      fh = await open(path, READ_FLAGS);
    } catch {
      return send(res, 404, 'the shared file is no longer there');
    }
    try {
      const now = await fh.stat();
      if (!now.isFile()) return send(res, 404, 'the shared file is no longer there');
      if (!sameVersion(now, version))
        return send(
          res,
          409,
          'the shared file has changed since it was shared; ask for it to be shared again',
        );

      const { size } = version;
      const rangeHeader = req.headers.range;
      const ifRange = req.headers['if-range'];
      const range =
        rangeHeader === undefined || (ifRange !== undefined && ifRange !== etag && ifRange !== lastModified)
          ? undefined
          : parseRange(rangeHeader, size);
      const headers: Record<string, string | number> = {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': disposition,
        'Accept-Ranges': 'bytes',
        ETag: etag,
        'Last-Modified': lastModified,
      };
      if (range === 'unsatisfiable')
        return send(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
      const start = range?.start ?? 0;
      const end = range?.end ?? size - 1; // -1 for an empty file: nothing to read
      const length = end - start + 1;
      if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      headers['Content-Length'] = length;
      res.writeHead(range ? 206 : 200, { ...SAFE_HEADERS, ...headers });
      if (req.method === 'HEAD' || length === 0) {
        res.end();
        if (req.method === 'GET') finished(200, 0);
        return;
      }

      const check = new HoldLast(length, async () => sameVersion(await fh.stat(), version));
      try {
        await pipeline(
          createReadStream(path, { fd: fh, start, end, autoClose: false, highWaterMark: 256 * 1024 }),
          check,
          res,
        );
      } catch (e) {
        log.warn(
          {
            remote,
            bytes: check.passed,
            ms: Math.round(performance.now() - started),
            error: (e as Error).message,
          },
          'share download interrupted',
        );
        res.destroy();
        return;
      }
      finished(range ? 206 : 200, check.passed, range);
    } finally {
      await fh.close().catch(() => undefined);
    }

    function finished(status: 200 | 206, bytes: number, r?: { start: number; end: number }): void {
      downloads++;
      const d: ShareDownload = {
        remote,
        status,
        bytes,
        ms: Math.round(performance.now() - started),
        ...(r ? { range: r } : {}),
      };
      log.info(d, 'share download finished');
      o.onDownload?.(d);
    }
  }

  const port = o.port ?? DEFAULT_SHARE_PORT;
  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error & { code?: string }) =>
      reject(
        new Error(
          `cannot listen on ${formatHostPort(o.host ?? '*', port)}: ${e.code === 'EADDRINUSE' ? 'the address is in use' : e.code === 'EACCES' ? 'permission denied' : e.message}`,
        ),
      );
    server.once('error', failed);
    const ready = () => {
      server.off('error', failed);
      resolve();
    };
    if (o.host === undefined) server.listen(port, ready);
    else server.listen(port, o.host, ready);
  });
  server.on('error', (e: Error) => log.warn({ error: e.message }, 'share server error'));
  const bound = server.address() as net.AddressInfo;
  const address = { host: bound.address, port: bound.port };
  log.info({ file: name, size: version.size, ...address }, 'share listening');

  let closing: Promise<void> | undefined;
  return {
    url: (hostname: string) =>
      `https://${formatHostPort(hostname, address.port).replace(/:443$/, '')}${urlPath}`,
    address,
    file: { name, size: version.size },
    get downloads() {
      return downloads;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy(); // also those still in their TLS handshake
      });
      return closing;
    },
  };
}

/** Non-blocking, so that a FIFO put in the file's place cannot hang the open (no effect on regular files). */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

const SAFE_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' } as const;

function send(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...SAFE_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...extra,
    // An error answer does not read what the client may still be sending.
    ...(status >= 400 && status !== 404 && status !== 409 && status !== 416 ? { Connection: 'close' } : {}),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** The version of `path` if it is one regular file this process can read; a message for people otherwise. */
async function readableFile(path: string): Promise<Version> {
  let fh: FileHandle;
  try {
    fh = await open(path, READ_FLAGS);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EISDIR') throw new Error(`share serves one file; ${path} is a folder`, { cause: e });
    throw new Error(`cannot read ${path}: ${reasonOf(code, (e as Error).message)}`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new Error(`share serves one file; ${path} is a folder`);
    if (!st.isFile()) throw new Error(`share serves one regular file; ${path} is not one`);
    return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev };
  } finally {
    await fh.close();
  }
}

function reasonOf(code: string | undefined, fallback: string): string {
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return fallback;
}

/**
 * A single `bytes=` range of a file of `size` bytes (RFC 9110 §14.1.2): the bytes to send, `'unsatisfiable'`
 * (416), or undefined when the header is to be ignored (malformed, or several ranges: the whole file).
 */
export function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // not a valid range: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) };
}

/**
 * Passes bytes through, holding the last chunk until `expected` bytes went by and `unchanged()` says
 * the file is still the shared version; otherwise it fails, which breaks the connection before the
 * response is complete.
 */
class HoldLast extends Transform {
  #held: Buffer | undefined;
  #seen = 0;
  /** Bytes handed on so far. */
  passed = 0;

  constructor(
    private readonly expected: number,
    private readonly unchanged: () => Promise<boolean>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    const previous = this.#held;
    this.#held = chunk;
    if (previous) this.passed += previous.length;
    cb(null, previous);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#seen !== this.expected) {
      cb(new Error(`the shared file changed while it was sent (${this.#seen} of ${this.expected} bytes)`));
      return;
    }
    this.unchanged().then(
      (ok) => {
        if (!ok) return cb(new Error('the shared file changed while it was sent'));
        this.passed += this.#held?.length ?? 0;
        cb(null, this.#held);
      },
      (e: Error) => cb(e),
    );
  }
}

/** encodeURIComponent, and also the characters it leaves as they are that `also` matches. */
function percentEncode(text: string, also: RegExp): string {
  return encodeURIComponent(text).replace(also, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `attachment` with the name as RFC 5987 UTF-8 (RFC 6266), and an ASCII stand-in for old clients. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${percentEncode(name, /['()*]/g)}`;
}

/** A path segment for `name`: RFC 3986 unreserved characters as they are, everything else escaped. */
const encodePathSegment = (name: string) => percentEncode(name, /[!'()*]/g);

/** Whether a request target names the file, however its characters were escaped. */
function samePath(target: string, urlPath: string): boolean {
  try {
    return decodeURIComponent(target) === decodeURIComponent(urlPath);
  } catch {
    return false;
  }
}

/** The peer as `host:port`, an IPv4 client of a dual-stack listener as IPv4 (not `::ffff:…`). */
function remoteOf(socket: Socket): string {
  const address = socket.remoteAddress ?? '?';
  return formatHostPort(canonicalIp(address) ?? address, socket.remotePort ?? 0);
}

function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * `--listen`: `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every address). Port 0 picks a free one. Throws a
 * TypeError naming the expected form.
 */
export function parseListen(text: string): { host?: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|([\w.-]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2];
  const valid =
    m !== null &&
    port <= 65535 &&
    (m[1] === undefined
      ? host === '' || net.isIPv4(host!) || /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(host!)
      : net.isIPv6(host!.split('%')[0]!));
  if (!valid)
    throw new TypeError(
      `expected HOST:PORT, [IPv6]:PORT or :PORT (e.g. 0.0.0.0:8443, [::]:8443, :8443), got ${JSON.stringify(text)}`,
    );
  return host ? { host, port } : { port };
}

export { dnsNames } from '@tsunagu/server/ca';

/**
 * Refuses a device whose certificate is not from the deployment CA: outside hosts trust only the CA,
 * so a self-signed certificate could not be verified by anyone.
 */
export function requireCaCertificate(
  identity: { readonly selfSigned: boolean; readonly notAfter: Date },
  now = new Date(),
): void {
  if (identity.selfSigned)
    throw new Error(
      'this device has no certificate from the deployment CA: join a server first (`tsunagu enroll LINK`)',
    );
  if (identity.notAfter.getTime() <= now.getTime())
    throw new Error(
      `this device's certificate from the deployment CA expired on ${identity.notAfter.toISOString()} and could not be renewed: try again while the server is reachable`,
    );
}
