/**
 * Parsers and formatters for the header values a registrar and a proxy act on: SIP/SIPS URIs
 * (RFC 3261 §19.1, IPv6 per RFC 5118), name-addr / addr-spec (§20.10, §25.1), Via (§20.42) and
 * Digest credentials/challenges (§25.1, RFC 2617).
 *
 * Every parser returns undefined on malformed input instead of throwing: the value comes from a peer.
 * Records built from peer data have a null prototype, so names like "__proto__" or "constructor" are
 * plain keys (compare them with `{ ...record }` in tests, deepStrictEqual checks prototypes).
 */
import { isUtf8 } from 'node:buffer';
import { isIPv6 } from 'node:net';

import { dict, isToken, isTokenChar, quote, scanQuoted, scanToken, skipLws, unquote } from './syntax.js';

export interface SipUri {
  scheme: 'sip' | 'sips';
  /** Percent-decoded. */
  user?: string;
  /** Percent-decoded. */
  password?: string;
  /** Lower-cased; IPv6 references keep their brackets ("[2001:db8::1]"). */
  host: string;
  port?: number;
  /** uri-parameters, names lower-cased, names and values percent-decoded; null for a valueless one. */
  params: Record<string, string | null>;
  /** headers after "?", percent-decoded. */
  headers: Record<string, string>;
}

export interface NameAddr {
  /** Unquoted (quoted-pairs resolved), or the token sequence as written. */
  displayName?: string;
  /** The URI exactly as written, without the angle brackets. */
  uri: string;
  /** Header parameters (e.g. tag, expires, q), names lower-cased, values as written (quotes kept). */
  params: Record<string, string | null>;
}

export interface Via {
  /** Transport, upper-cased ("UDP", "TCP", "TLS", "WSS", ...). */
  protocol: string;
  /** sent-by host, lower-cased; IPv6 references keep their brackets. */
  host: string;
  port?: number;
  /** branch, received, rport (null when valueless), alias, ... names lower-cased, values as written. */
  params: Record<string, string | null>;
}

export interface AuthHeader {
  /** As written ("Digest"); compare case-insensitively. */
  scheme: string;
  /** Names lower-cased, quoted values unquoted. */
  params: Record<string, string>;
}

// Character classes of RFC 3261 §25.1 as bit flags, for chars < 128; "%" HEX HEX is handled apart.
const F_USER = 1; // unreserved / user-unreserved
const F_PASS = 2; // unreserved / "&" / "=" / "+" / "$" / ","
const F_PARAM = 4; // paramchar without escaped
const F_HNV = 8; // hname/hvalue chars without escaped
const F_URIC = 16; // uric of an absoluteURI (plus "[" "]" as RFC 3986 allows)
const F_HOST = 32; // hostname chars ("_" tolerated: it occurs in real DNS names)
const F_SCHEME = 64; // ALPHA / DIGIT / "+" / "-" / "."

const CLASS = new Uint8Array(128);
function mark(chars: string, flags: number): void {
  for (const c of chars) CLASS[c.charCodeAt(0)]! |= flags;
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
mark(ALNUM, F_USER | F_PASS | F_PARAM | F_HNV | F_URIC | F_HOST | F_SCHEME);
mark("-_.!~*'()", F_USER | F_PASS | F_PARAM | F_HNV | F_URIC);
mark('&=+$,;?/', F_USER);
mark('&=+$,', F_PASS);
mark('[]/:&+$', F_PARAM);
mark('[]/?:+$', F_HNV);
mark(';/?:@&=+$,[]', F_URIC);
mark('-._', F_HOST);
mark('+-.', F_SCHEME);

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Checks that s[a..b) only holds chars of `flag` or escapes; returns whether it has escapes, or -1. */
function checkPart(s: string, a: number, b: number, flag: number): number {
  let escaped = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= b || hexVal(s.charCodeAt(i + 1)) < 0 || hexVal(s.charCodeAt(i + 2)) < 0) return -1;
      escaped = 1;
      i += 2;
    } else if (c >= 128 || (CLASS[c]! & flag) === 0) return -1;
  }
  return escaped;
}

/**
 * Validated and percent-decoded s[a..b). Decoded bytes must form UTF-8: decoding invalid sequences
 * lossily would let two different users map to the same string.
 */
function decodePart(s: string, a: number, b: number, flag: number): string | undefined {
  const escaped = checkPart(s, a, b, flag);
  if (escaped < 0) return undefined;
  if (escaped === 0) return s.slice(a, b);
  const bytes: number[] = [];
  let ascii = true;
  for (let i = a; i < b; i++) {
    let c = s.charCodeAt(i);
    if (c === 0x25) {
      c = hexVal(s.charCodeAt(i + 1)) * 16 + hexVal(s.charCodeAt(i + 2));
      i += 2;
      if (c >= 0x80) ascii = false;
    }
    bytes.push(c);
  }
  // Not String.fromCharCode(...bytes): spreading a long part as arguments overflows the stack (RangeError).
  const buf = Buffer.from(bytes);
  if (ascii) return buf.toString('latin1');
  return isUtf8(buf) ? buf.toString('utf8') : undefined;
}

const HEX = '0123456789ABCDEF';

/** Percent-encodes every char outside `flag` (as UTF-8 bytes). */
function encodePart(s: string, flag: number): string {
  let plain = true;
  for (let i = 0; i < s.length && plain; i++) {
    const c = s.charCodeAt(i);
    plain = c < 128 && (CLASS[c]! & flag) !== 0;
  }
  if (plain) return s;
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    out +=
      byte < 128 && (CLASS[byte]! & flag) !== 0
        ? String.fromCharCode(byte)
        : '%' + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

/** hostname, IPv4address, or an IPv6reference whose contents is an IPv6 address. */
function isValidHost(h: string): boolean {
  if (h.length === 0 || h.length > 255) return false;
  if (h.charCodeAt(0) === 0x5b) {
    if (h.charCodeAt(h.length - 1) !== 0x5d) return false;
    const inner = h.slice(1, -1);
    // A zone id ("%eth0") has no meaning to a remote peer and no agreed escaping in SIP URIs.
    return !inner.includes('%') && isIPv6(inner);
  }
  let labels = 0;
  let numeric = 0;
  let start = 0;
  for (let i = 0; i <= h.length; i++) {
    const c = i < h.length ? h.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      const len = i - start;
      if (len === 0) {
        if (i === h.length && labels > 0) break; // one trailing dot: fully qualified name
        return false;
      }
      labels++;
      let digits = true;
      for (let k = start; k < i && digits; k++) digits = h.charCodeAt(k) >= 0x30 && h.charCodeAt(k) <= 0x39;
      if (digits) numeric++;
      start = i + 1;
    } else if (c >= 128 || (CLASS[c]! & F_HOST) === 0) return false;
  }
  if (numeric !== labels) return true;
  // All-numeric labels only make sense as a dotted quad.
  if (labels !== 4 || h.endsWith('.')) return false;
  return h.split('.').every((o) => o.length <= 3 && Number(o) <= 255);
}

/** Scans a host at s[i]; returns [lower-cased host, end] or undefined. */
function scanHost(s: string, i: number): [string, number] | undefined {
  let end: number;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0) return undefined;
    end = close + 1;
  } else {
    end = i;
    while (end < s.length) {
      const c = s.charCodeAt(end);
      if (c >= 128 || (CLASS[c]! & F_HOST) === 0) break;
      end++;
    }
  }
  const host = s.slice(i, end).toLowerCase();
  return isValidHost(host) ? [host, end] : undefined;
}

/** Scans 1*DIGIT at s[i] as a port; returns [port, end] or undefined. */
function scanPort(s: string, i: number): [number, number] | undefined {
  let end = i;
  while (end < s.length && s.charCodeAt(end) >= 0x30 && s.charCodeAt(end) <= 0x39) end++;
  if (end === i || end - i > 5) return undefined;
  const port = Number(s.slice(i, end));
  return port <= 65535 ? [port, end] : undefined;
}

/** Index of the ":" ending a scheme that starts at s[start], or -1. */
function schemeEnd(s: string, start: number): number {
  const c0 = s.charCodeAt(start) | 0x20;
  if (!(c0 >= 0x61 && c0 <= 0x7a)) return -1;
  let i = start + 1;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 128 || (CLASS[c]! & F_SCHEME) === 0) break;
    i++;
  }
  return s.charCodeAt(i) === 0x3a ? i : -1;
}

/** Lower-cased scheme when s starts with `scheme ":"`, else undefined. */
export function uriScheme(s: string): string | undefined {
  const end = schemeEnd(s, 0);
  return end < 0 ? undefined : s.slice(0, end).toLowerCase();
}

/** True when the scheme is sip or sips (a Request-URI with another scheme deserves a 416). */
export function isSipUri(uri: string): boolean {
  const scheme = uriScheme(uri);
  return scheme === 'sip' || scheme === 'sips';
}

/**
 * Syntactic validity of a URI found in a SIP message: SIP/SIPS URIs are fully parsed, any other scheme
 * must be an absoluteURI (RFC 3261 §25.1) so that unknown schemes are accepted (RFC 4475 §3.3.2, §3.3.4).
 */
export function isValidUri(uri: string): boolean {
  const scheme = uriScheme(uri);
  if (scheme === undefined) return false;
  if (scheme === 'sip' || scheme === 'sips') return parseUri(uri) !== undefined;
  const a = scheme.length + 1;
  return a < uri.length && checkPart(uri, a, uri.length, F_URIC) >= 0;
}

export function parseUri(s: string): SipUri | undefined {
  const scheme = uriScheme(s);
  if (scheme !== 'sip' && scheme !== 'sips') return undefined;
  const n = s.length;
  let i = scheme.length + 1;
  const uri: SipUri = { scheme, host: '', params: dict(), headers: dict() };

  // "@" is allowed nowhere after the userinfo (not in host, params or headers), so the first one ends it;
  // user itself may hold ";", "?" and "/" (RFC 4475 §3.1.1.9).
  const at = s.indexOf('@', i);
  if (at >= 0) {
    let colon = s.indexOf(':', i);
    if (colon > at) colon = -1;
    const userEnd = colon < 0 ? at : colon;
    if (userEnd === i) return undefined;
    const user = decodePart(s, i, userEnd, F_USER);
    if (user === undefined) return undefined;
    uri.user = user;
    if (colon >= 0) {
      const password = decodePart(s, colon + 1, at, F_PASS);
      if (password === undefined) return undefined;
      uri.password = password;
    }
    i = at + 1;
  }

  const host = scanHost(s, i);
  if (host === undefined) return undefined;
  [uri.host, i] = host;
  if (s.charCodeAt(i) === 0x3a) {
    const port = scanPort(s, i + 1);
    if (port === undefined) return undefined;
    [uri.port, i] = port;
  }

  while (s.charCodeAt(i) === 0x3b) {
    const start = i + 1;
    let end = start;
    while (end < n && s.charCodeAt(end) !== 0x3b && s.charCodeAt(end) !== 0x3f) end++;
    // Search "=" within this parameter only: an unbounded indexOf would rescan the rest of the URI for
    // every valueless parameter (quadratic on ";a;b;c;..." Request-URIs, which only maxHeaderBytes bounds).
    let eq = start;
    while (eq < end && s.charCodeAt(eq) !== 0x3d) eq++;
    if (eq === start) return undefined;
    const name = decodePart(s, start, eq, F_PARAM)?.toLowerCase();
    if (name === undefined || name in uri.params) return undefined;
    let value: string | null = null;
    if (eq < end) {
      if (eq + 1 === end) return undefined;
      const v = decodePart(s, eq + 1, end, F_PARAM);
      if (v === undefined) return undefined;
      value = v;
    }
    uri.params[name] = value;
    i = end;
  }

  if (s.charCodeAt(i) === 0x3f) {
    i++;
    for (;;) {
      let end = s.indexOf('&', i);
      if (end < 0) end = n;
      const eq = s.indexOf('=', i);
      if (eq <= i || eq > end) return undefined;
      const name = decodePart(s, i, eq, F_HNV);
      const value = decodePart(s, eq + 1, end, F_HNV);
      if (name === undefined || value === undefined || name in uri.headers) return undefined;
      uri.headers[name] = value;
      i = end;
      if (i === n) break;
      i++;
    }
  }
  return i === n ? uri : undefined;
}

export function formatUri(u: SipUri): string {
  let out = u.scheme + ':';
  if (u.user !== undefined) {
    out += encodePart(u.user, F_USER);
    if (u.password !== undefined) out += ':' + encodePart(u.password, F_PASS);
    out += '@';
  }
  out += u.host;
  if (u.port !== undefined) out += ':' + u.port;
  for (const [k, v] of Object.entries(u.params)) {
    out += ';' + encodePart(k, F_PARAM);
    if (v !== null) out += '=' + encodePart(v, F_PARAM);
  }
  const headers = Object.entries(u.headers);
  if (headers.length > 0) {
    out += '?' + headers.map(([k, v]) => encodePart(k, F_HNV) + '=' + encodePart(v, F_HNV)).join('&');
  }
  return out;
}

/**
 * Canonical address-of-record: "sip:user@host" with scheme sip (sips and sip name the same resource),
 * user case preserved and minimally escaped, host lower-cased, no port, parameters or headers.
 */
export function aorOf(uri: SipUri): string;
export function aorOf(uri: string): string | undefined;
export function aorOf(uri: SipUri | string): string | undefined {
  const u = typeof uri === 'string' ? parseUri(uri) : uri;
  if (u === undefined) return undefined;
  return u.user === undefined ? `sip:${u.host}` : `sip:${encodePart(u.user, F_USER)}@${u.host}`;
}

/** gen-value chars outside quoted-string: token, or host (":" "[" "]" for IPv6 such as received=). */
function isGenValueChar(c: number): boolean {
  return isTokenChar(c) || c === 0x3a || c === 0x5b || c === 0x5d;
}

/** *( SEMI generic-param ) from s[i] to the end of s; undefined if anything else is left over. */
function parseParams(s: string, i: number): Record<string, string | null> | undefined {
  const params: Record<string, string | null> = dict();
  for (;;) {
    i = skipLws(s, i);
    if (i === s.length) return params;
    if (s.charCodeAt(i) !== 0x3b) return undefined;
    i = skipLws(s, i + 1);
    const ns = i;
    i = scanToken(s, i);
    if (i === ns) return undefined;
    const name = s.slice(ns, i).toLowerCase();
    // A repeated parameter would let two elements disagree on, e.g., which branch or tag applies.
    if (name in params) return undefined;
    i = skipLws(s, i);
    if (s.charCodeAt(i) !== 0x3d) {
      params[name] = null;
      continue;
    }
    i = skipLws(s, i + 1);
    const vs = i;
    if (s.charCodeAt(i) === 0x22) {
      i = scanQuoted(s, i);
      if (i < 0) return undefined;
    } else {
      while (i < s.length && isGenValueChar(s.charCodeAt(i))) i++;
      if (i === vs) return undefined;
    }
    params[name] = s.slice(vs, i);
  }
}

function isGenValue(v: string): boolean {
  if (v.length === 0) return false;
  if (v.charCodeAt(0) === 0x22) return scanQuoted(v, 0) === v.length;
  for (let i = 0; i < v.length; i++) if (!isGenValueChar(v.charCodeAt(i))) return false;
  return true;
}

/** ";name=value" list; a value that is neither a token/host nor a quoted-string gets quoted. */
export function formatParams(params: Record<string, string | null>): string {
  let out = '';
  for (const [k, v] of Object.entries(params)) {
    out += ';' + k;
    if (v !== null) out += '=' + (isGenValue(v) ? v : quote(v));
  }
  return out;
}

/**
 * name-addr (`"Name" <uri>;tag=x`, `Name <uri>`, `<uri>`) or bare addr-spec (`sip:a@b;tag=x`, whose
 * parameters belong to the header, RFC 3261 §20). A bare URI containing "?" or "," must have been
 * bracketed (§20.10, RFC 4475 §3.1.2.13); whitespace inside the brackets is rejected (§3.1.2.14).
 */
export function parseNameAddr(value: string): NameAddr | undefined {
  const s = value;
  let i = skipLws(s, 0);
  let displayName: string | undefined;
  let uri: string;
  if (schemeEnd(s, i) >= 0) {
    const start = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 0x3b || c === 0x20 || c === 0x09) break;
      i++;
    }
    uri = s.slice(start, i);
    if (uri.includes('?') || uri.includes(',')) return undefined;
  } else {
    if (s.charCodeAt(i) === 0x22) {
      const end = scanQuoted(s, i);
      if (end < 0) return undefined;
      displayName = unquote(s.slice(i, end));
      i = skipLws(s, end);
    } else if (s.charCodeAt(i) !== 0x3c) {
      // display-name = *(token LWS): tokens separated by whitespace, up to "<".
      const start = i;
      let last = i;
      while (i < s.length && s.charCodeAt(i) !== 0x3c) {
        const e = scanToken(s, i);
        if (e === i) return undefined;
        last = e;
        i = skipLws(s, e);
      }
      displayName = s.slice(start, last);
    }
    if (s.charCodeAt(i) !== 0x3c) return undefined;
    const close = s.indexOf('>', i + 1);
    if (close < 0) return undefined;
    uri = s.slice(i + 1, close);
    i = close + 1;
  }
  if (!isValidUri(uri)) return undefined;
  const params = parseParams(s, i);
  if (params === undefined) return undefined;
  return displayName === undefined ? { uri, params } : { displayName, uri, params };
}

/** Always the bracketed form, which is valid whatever the URI holds. */
export function formatNameAddr(na: NameAddr): string {
  const name = na.displayName !== undefined && na.displayName !== '' ? quote(na.displayName) + ' ' : '';
  return `${name}<${na.uri}>${formatParams(na.params)}`;
}

/**
 * One via-parm (split comma-joined Via values first, e.g. with headerValues):
 * `SIP / 2.0 / TLS host[:port] *(; param)`, LWS allowed around "/", ":", ";" and "=" (RFC 4475 §3.1.1.1).
 */
export function parseVia(value: string): Via | undefined {
  const s = value;
  let i = skipLws(s, 0);
  let transport = '';
  for (let part = 0; part < 3; part++) {
    if (part > 0) {
      if (s.charCodeAt(i) !== 0x2f) return undefined;
      i = skipLws(s, i + 1);
    }
    const start = i;
    i = scanToken(s, i);
    if (i === start) return undefined;
    transport = s.slice(start, i);
    i = skipLws(s, i);
  }
  if (!(i > 0 && (s.charCodeAt(i - 1) === 0x20 || s.charCodeAt(i - 1) === 0x09))) return undefined;
  const host = scanHost(s, i);
  if (host === undefined) return undefined;
  const via: Via = { protocol: transport.toUpperCase(), host: host[0], params: dict() };
  i = skipLws(s, host[1]);
  if (s.charCodeAt(i) === 0x3a) {
    const port = scanPort(s, skipLws(s, i + 1));
    if (port === undefined) return undefined;
    [via.port, i] = port;
  }
  const params = parseParams(s, i);
  if (params === undefined) return undefined;
  via.params = params;
  return via;
}

export function formatVia(v: Via): string {
  return `SIP/2.0/${v.protocol} ${v.host}${v.port !== undefined ? ':' + v.port : ''}${formatParams(v.params)}`;
}

/**
 * `scheme auth-param *(COMMA auth-param)` as in Authorization, Proxy-Authorization, WWW-Authenticate and
 * Proxy-Authenticate. Unknown schemes parse too (RFC 4475 §3.3.7); a repeated parameter is rejected so
 * that nobody can smuggle a second username or realm past a check.
 */
export function parseAuthHeader(value: string): AuthHeader | undefined {
  const s = value;
  let i = skipLws(s, 0);
  const ss = i;
  i = scanToken(s, i);
  if (i === ss) return undefined;
  const auth: AuthHeader = { scheme: s.slice(ss, i), params: dict() };
  const schemeEnd = i;
  i = skipLws(s, i);
  if (i === s.length) return auth;
  if (i === schemeEnd) return undefined;
  while (i < s.length) {
    if (s.charCodeAt(i) === 0x2c) {
      i = skipLws(s, i + 1);
      continue;
    }
    const ns = i;
    i = scanToken(s, i);
    if (i === ns) return undefined;
    const name = s.slice(ns, i).toLowerCase();
    i = skipLws(s, i);
    if (s.charCodeAt(i) !== 0x3d) return undefined;
    i = skipLws(s, i + 1);
    let v: string;
    if (s.charCodeAt(i) === 0x22) {
      const end = scanQuoted(s, i);
      if (end < 0) return undefined;
      v = unquote(s.slice(i, end));
      i = end;
    } else {
      const vs = i;
      i = scanToken(s, i);
      if (i === vs) return undefined;
      v = s.slice(vs, i);
    }
    if (name in auth.params) return undefined;
    auth.params[name] = v;
    i = skipLws(s, i);
    if (i < s.length && s.charCodeAt(i) !== 0x2c) return undefined;
  }
  return auth;
}

// Parameters whose grammar is a bare token (RFC 2617 §3.2.1-2, RFC 3261 §25.1, RFC 8760); the others
// are quoted-strings. qop is a quoted list in a challenge but a token in credentials.
const CHALLENGE_TOKENS = new Set(['algorithm', 'stale', 'userhash']);
const CREDENTIAL_TOKENS = new Set(['algorithm', 'nc', 'qop', 'userhash']);

/** `name="value", name=token` list to follow "Digest " in a challenge or in credentials. */
export function formatAuthParams(params: Record<string, string>, kind: 'challenge' | 'credentials'): string {
  const bare = kind === 'challenge' ? CHALLENGE_TOKENS : CREDENTIAL_TOKENS;
  return Object.entries(params)
    .map(([k, v]) => `${k}=${bare.has(k.toLowerCase()) && isToken(v) ? v : quote(v)}`)
    .join(', ');
}
