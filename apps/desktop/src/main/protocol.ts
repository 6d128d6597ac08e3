/**
 * The `app://tsunagu/` origin: the built renderer is served from here, never from `file://`, so the page
 * has a real origin that IPC checks can name, a CSP header, and no access to the rest of the disk.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative } from 'node:path';
import type { Protocol } from 'electron';

export const APP_SCHEME = 'app';
export const APP_HOST = 'tsunagu';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/** Scripts and styles from the bundle only, no inline code, no eval, no remote anything. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * True when `url` has exactly the origin `origin` (scheme and host, no credentials). Compared by parts:
 * for a custom scheme WHATWG `URL.origin` is the opaque `"null"`, which would match every such URL.
 */
export function hasOrigin(url: string, origin: string): boolean {
  try {
    const u = new URL(url);
    const o = new URL(origin);
    return u.protocol === o.protocol && u.host === o.host && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

export const isAppUrl = (url: string): boolean => hasOrigin(url, APP_ORIGIN);

/** Must run before the app is ready: privileges are fixed when Chromium starts. */
export function registerAppScheme(protocol: Pick<Protocol, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

export function serveApp(protocol: Pick<Protocol, 'handle'>, rootDir: string): void {
  protocol.handle(APP_SCHEME, (request) => resolveAppRequest(rootDir, request));
}

function respond(
  status: number,
  body: Uint8Array | string,
  contentType: string,
  extra: Record<string, string> = {},
) {
  return new Response(typeof body === 'string' ? body : new Uint8Array(body), {
    status,
    headers: {
      'Content-Type': contentType,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
      ...extra,
    },
  });
}

const fail = (status: number, text: string, extra?: Record<string, string>) =>
  respond(status, text, 'text/plain; charset=utf-8', extra);

/** A percent-decoded path segment that names a plain entry, or undefined (traversal, separators, NUL, drives). */
function safeSegment(raw: string): string | undefined {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (s === '' || s === '.' || s === '..' || /[/\\:\0]/.test(s)) return undefined;
  return s;
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/**
 * Answers one request for the built renderer in `rootDir`: GET only, host `tsunagu` only, files only
 * (after resolving symlinks) inside the root. `/` is `index.html`.
 */
export async function resolveAppRequest(
  rootDir: string,
  request: { readonly method: string; readonly url: string },
): Promise<Response> {
  if (request.method !== 'GET') return fail(405, 'method not allowed', { Allow: 'GET' });
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return fail(400, 'bad url');
  }
  if (!isAppUrl(url.href)) return fail(403, 'forbidden');

  const path = url.pathname === '' || url.pathname === '/' ? '/index.html' : url.pathname;
  const segments = path.slice(1).split('/').map(safeSegment);
  if (!path.startsWith('/') || segments.some((s) => s === undefined)) return fail(403, 'forbidden');

  const candidate = join(rootDir, ...(segments as string[]));
  if (!inside(rootDir, candidate)) return fail(403, 'forbidden');
  try {
    // Symlinks are followed only as far as they stay within the (resolved) root.
    const [root, file] = await Promise.all([realpath(rootDir), realpath(candidate)]);
    if (!inside(root, file)) return fail(403, 'forbidden');
    if (!(await stat(file)).isFile()) return fail(404, 'not found');
    return respond(200, await readFile(file), contentTypeOf(file));
  } catch {
    return fail(404, 'not found');
  }
}
