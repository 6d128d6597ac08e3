/**
 * The invite ("join") link an admin gives a person: `tsunagu://join?v=1&domain=…&user=…&server=…&https=…&ca=…&token=…`
 *
 * - `domain`  the SIP domain (the AOR is `user@domain`)
 * - `user`    the user the invite is for
 * - `server`  HOST:PORT of the SIP-over-TLS listener (IPv6 in brackets)
 * - `https`   HOST:PORT where the device redeems the token: `POST /enroll` over TLS, on the same
 *             listener as the secure WebSocket
 * - `ca`      `sha256:AB:CD:…` fingerprint of the deployment CA; the device pins it, so the TLS
 *             connections above are verified from the first contact (never trust-on-first-use)
 * - `token`   the one-time invite token (base64url)
 *
 * Values are percent-encoded as in any URL query (`:` and `@` are left readable). Unknown fields
 * are ignored, so later version-1 links may add optional ones; a change that old apps must not
 * misread bumps `v`. Runs in browsers too: no Node APIs.
 */
import { ipFamily } from './sdp/address.js';

export const JOIN_LINK_VERSION = 1;

export interface JoinLink {
  /** SIP over TLS, `host:port` (`[::1]:5061` for IPv6). */
  server: string;
  /** Enrolment over HTTPS (same listener as WSS), `host:port`. */
  https: string;
  /** `sha256:` + 32 upper-case hex bytes separated by colons. */
  caFingerprint: string;
  user: string;
  token: string;
  domain: string;
}

export class JoinLinkError extends Error {
  override readonly name = 'JoinLinkError';
}

const USER = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const FINGERPRINT = /^sha256:(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;
const TOKEN = /^[A-Za-z0-9_-]{22,128}$/;

/** A DNS name such as `example.org` (lower-case; not an IPv4 address). */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.split('.');
  return labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

/** Validates `host:port` / `[ipv6]:port` (port 1–65535); returns it lower-cased, or undefined. */
function checkHostPort(s: string): string | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const v6 = m[1];
  if (v6 !== undefined) return ipFamily(v6) === 6 ? `[${v6.toLowerCase()}]:${port}` : undefined;
  const host = (m[2] ?? '').toLowerCase();
  return ipFamily(host) === 4 || isHostname(host) ? `${host}:${port}` : undefined;
}

type Field = 'domain' | 'user' | 'server' | 'https' | 'ca' | 'token';

const FIELD_RULES: Record<Field, { what: string; check: (s: string) => string | undefined }> = {
  domain: {
    what: 'a DNS name such as example.org',
    check: (s) => (isHostname(s.toLowerCase()) ? s.toLowerCase() : undefined),
  },
  user: {
    what: 'a user name (lower-case letters, digits, ".", "_", "-")',
    check: (s) => (USER.test(s) ? s : undefined),
  },
  server: { what: 'HOST:PORT (IPv6 as [2001:db8::1]:5061)', check: checkHostPort },
  https: { what: 'HOST:PORT (IPv6 as [2001:db8::1]:5443)', check: checkHostPort },
  ca: {
    what: 'sha256: followed by 32 hex bytes separated by colons',
    check: (s) => (FINGERPRINT.test(s) ? `sha256:${s.slice(7).toUpperCase()}` : undefined),
  },
  token: { what: '22 to 128 base64url characters', check: (s) => (TOKEN.test(s) ? s : undefined) },
};

const ORDER: Field[] = ['domain', 'user', 'server', 'https', 'ca', 'token'];

function checkField(field: Field, value: string): string {
  const rule = FIELD_RULES[field];
  const ok = rule.check(value);
  if (ok === undefined) {
    // A malformed token may still hold the real one (a link copied with a trailing character): the
    // message, which may be shown or logged, never carries it.
    const shown = field === 'token' ? `${value.length} characters` : JSON.stringify(value);
    throw new JoinLinkError(`join link: invalid '${field}' (${shown}): expected ${rule.what}`);
  }
  return ok;
}

function encode(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%40/g, '@');
}

/** Builds a join link; throws a JoinLinkError if a field is invalid. */
export function formatJoinLink(link: JoinLink): string {
  const values: Record<Field, string> = {
    domain: checkField('domain', link.domain),
    user: checkField('user', link.user),
    server: checkField('server', link.server),
    https: checkField('https', link.https),
    ca: checkField('ca', link.caFingerprint),
    token: checkField('token', link.token),
  };
  return `tsunagu://join?v=${JOIN_LINK_VERSION}${ORDER.map((f) => `&${f}=${encode(values[f])}`).join('')}`;
}

/** The longest join link accepted anywhere (a real one is about 300 characters). */
export const MAX_JOIN_LINK_LENGTH = 4096;

/**
 * Parses and strictly validates a join link (surrounding whitespace allowed). Throws a
 * JoinLinkError that says exactly what is wrong: scheme, link type, version, a missing, repeated or
 * malformed field.
 */
export function parseJoinLink(text: string): JoinLink {
  // Links come from people, the OS (deep links) and the network: bounded before any parsing.
  if (text.length > MAX_JOIN_LINK_LENGTH) {
    throw new JoinLinkError(`join link: longer than ${MAX_JOIN_LINK_LENGTH} characters`);
  }
  const s = text.trim();
  if (s === '') throw new JoinLinkError('join link: empty');
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new JoinLinkError('not a join link: expected tsunagu://join?v=1&…');
  }
  if (url.protocol !== 'tsunagu:') {
    throw new JoinLinkError(`not a Tsunagu join link: the scheme must be tsunagu: (got ${url.protocol})`);
  }
  if (url.host !== 'join' || (url.pathname !== '' && url.pathname !== '/')) {
    throw new JoinLinkError(
      `not a join link: expected tsunagu://join?… (got tsunagu://${url.host}${url.pathname})`,
    );
  }
  const params = url.searchParams;
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw new JoinLinkError(`join link: field '${name}' appears ${all.length} times`);
    return all[0];
  };
  const v = one('v');
  if (v === undefined) throw new JoinLinkError("join link: missing field 'v' (version)");
  if (v !== String(JOIN_LINK_VERSION)) {
    throw new JoinLinkError(
      `join link version ${JSON.stringify(v)} is not supported: this app understands version ${JOIN_LINK_VERSION}; update the app`,
    );
  }
  const values = {} as Record<Field, string>;
  for (const field of ORDER) {
    const raw = one(field);
    if (raw === undefined || raw === '') throw new JoinLinkError(`join link: missing field '${field}'`);
    values[field] = checkField(field, raw);
  }
  return {
    server: values.server,
    https: values.https,
    caFingerprint: values.ca,
    user: values.user,
    token: values.token,
    domain: values.domain,
  };
}
