/**
 * SIP message parser (RFC 3261 §7, §25), tolerant where RFC 4475 §3.1.1 asks for tolerance and strict
 * where §3.1.2 and §3.3 expect a rejection. Input is untrusted: every loop is linear, no regular
 * expression runs over it, and sizes are bounded by Limits before any work proportional to them.
 */
import { isUtf8 } from 'node:buffer';

import { SipParseError } from './errors.js';
import { resolveLimits, type Limits } from './limits.js';
import { splitList, type Header, type SipMessage } from './message.js';
import { digitsValue, isDigits, isLws, isToken, show, skipLws, trimLws } from './syntax.js';
import { isValidUri, parseNameAddr, parseUri, parseVia, uriScheme } from './uri.js';

const CR = 0x0d;
const LF = 0x0a;
const HTAB = 0x09;
const BACKSLASH = 0x5c;
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** RFC 3261 §7.3.3 and the registry of compact forms. */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'Call-ID',
  m: 'Contact',
  e: 'Content-Encoding',
  l: 'Content-Length',
  c: 'Content-Type',
  f: 'From',
  s: 'Subject',
  k: 'Supported',
  t: 'To',
  v: 'Via',
  o: 'Event',
  u: 'Allow-Events',
  r: 'Refer-To',
  b: 'Referred-By',
  x: 'Session-Expires',
  a: 'Accept-Contact',
  j: 'Reject-Contact',
  d: 'Request-Disposition',
  y: 'Identity',
  n: 'Identity-Info',
};

const KNOWN = [
  'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length', 'Content-Type', 'Contact',
  'Record-Route', 'Route', 'WWW-Authenticate', 'Authorization', 'Proxy-Authenticate', 'Proxy-Authorization',
  'Expires', 'Event', 'Subscription-State', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Supported',
  'Require', 'Allow', 'User-Agent', 'Server', 'Path', 'Min-Expires', 'Flow-Timer', 'Retry-After', 'Accept',
  'Allow-Events', 'SIP-ETag', 'SIP-If-Match', 'Proxy-Require', 'Unsupported', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Call-Info',
  'Error-Info', 'Date', 'In-Reply-To', 'MIME-Version', 'Organization', 'Priority', 'Reply-To', 'Subject',
  'Timestamp', 'Warning', 'Authentication-Info', 'Reason', 'Privacy', 'RSeq', 'RAck', 'Min-SE',
  'Service-Route', 'Refer-To', 'Referred-By', 'Session-Expires', 'Accept-Contact', 'Reject-Contact',
  'Request-Disposition', 'Identity', 'Identity-Info', 'Replaces', 'Target-Dialog', 'Security-Client',
  'Security-Server', 'Security-Verify', 'GRUU',
]; // prettier-ignore

const CANONICAL = new Map<string, string>();
for (const name of KNOWN) CANONICAL.set(name.toLowerCase(), name);
for (const [c, name] of Object.entries(COMPACT)) CANONICAL.set(c, name);
const IS_CANONICAL = new Set(KNOWN);

/** Long form with canonical capitalisation for known names and compact forms; others as written. */
export function canonicalHeaderName(name: string): string {
  // Most senders already write the canonical form: skip the lower-casing for them.
  return IS_CANONICAL.has(name) ? name : (CANONICAL.get(name.toLowerCase()) ?? name);
}

/** Headers that may appear once only (identical repeats are tolerated, conflicting ones are not). */
const SINGLE = new Set(['Call-ID', 'CSeq', 'From', 'To', 'Max-Forwards', 'Content-Length']);

const MAX_CSEQ = 2 ** 31 - 1; // RFC 3261 §8.1.1.5

/**
 * Parses one complete message: start line, header section, body. Content-Length, when present, must
 * match the bytes after the header section exactly (the framer has already cut the stream on it). When
 * absent the body is the rest of the buffer, which is right for WebSocket (RFC 7118 §5) and for
 * datagrams; the framer rejects its absence on streams. The body is a view on `buf`, not a copy.
 */
export function parseMessage(buf: Buffer, limits?: Partial<Limits>): SipMessage {
  return parse(buf, resolveLimits(limits), false);
}

/**
 * Same, with the datagram rule of RFC 3261 §18.3: bytes beyond Content-Length are discarded
 * (RFC 4475 §3.1.1.8) instead of rejected. A body shorter than Content-Length is still an error.
 */
export function parseDatagram(buf: Buffer, limits?: Partial<Limits>): SipMessage {
  return parse(buf, resolveLimits(limits), true);
}

function fail(message: string, status = 400): never {
  throw new SipParseError(message, status);
}

function parse(buf: Buffer, lim: Readonly<Limits>, datagram: boolean): SipMessage {
  // CRLFs before the start line are ignored (RFC 3261 §7.5).
  let start = 0;
  while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;

  const rel = buf.subarray(start, start + lim.maxHeaderBytes + 4).indexOf(CRLFCRLF);
  if (rel < 0) {
    if (buf.length - start > lim.maxHeaderBytes + 3) {
      fail(`Header section larger than ${lim.maxHeaderBytes} bytes`, 513);
    }
    fail('Header section is not terminated by an empty line');
  }
  const headEnd = start + rel;

  // Bytes of the header section: lines end with CRLF, and control characters other than HTAB only
  // appear escaped in a quoted-pair (RFC 4475 §3.1.1.2 quotes NUL, BEL and DEL that way).
  let nonAscii = false;
  for (let i = start; i < headEnd; i++) {
    const c = buf[i]!;
    if (c >= 0x20 && c !== 0x7f) {
      if (c >= 0x80) nonAscii = true;
    } else if (c === CR) {
      if (buf[i + 1] !== LF) fail('CR not followed by LF in the header section');
      i++;
    } else if (c === LF) {
      fail('LF not preceded by CR in the header section');
    } else if (c !== HTAB && buf[i - 1] !== BACKSLASH) {
      fail(`Control character 0x${c.toString(16).padStart(2, '0')} in the header section`);
    }
  }
  if (nonAscii && !isUtf8(buf.subarray(start, headEnd))) fail('Header section is not valid UTF-8');
  // latin1 is the fast path for the common all-ASCII case and decodes ASCII identically.
  const text = buf.toString(nonAscii ? 'utf8' : 'latin1', start, headEnd);

  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const msg = parseStartLine(text.slice(0, eol));

  const headers: Header[] = [];
  const singles = new Map<string, string>();
  let pos = eol + 2;
  while (pos < text.length) {
    if (isLws(text.charCodeAt(pos))) fail('Header section starts with a continuation line');
    let lineEnd = text.indexOf('\r\n', pos);
    if (lineEnd < 0) lineEnd = text.length;
    // Continuation lines (RFC 3261 §7.3.1) belong to this field; find its end before doing any work.
    let fieldEnd = lineEnd;
    while (fieldEnd + 2 < text.length && isLws(text.charCodeAt(fieldEnd + 2))) {
      fieldEnd = text.indexOf('\r\n', fieldEnd + 2);
      if (fieldEnd < 0) fieldEnd = text.length;
    }
    const fieldLen = fieldEnd - pos;
    if (
      fieldLen > lim.maxHeaderLineBytes ||
      (nonAscii &&
        fieldLen * 3 > lim.maxHeaderLineBytes &&
        Buffer.byteLength(text.slice(pos, fieldEnd)) > lim.maxHeaderLineBytes)
    ) {
      fail(`Header field larger than ${lim.maxHeaderLineBytes} bytes`, 513);
    }
    if (headers.length === lim.maxHeaders) fail(`More than ${lim.maxHeaders} header fields`);

    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > lineEnd) fail(`Header line without a colon: ${show(text.slice(pos, lineEnd))}`);
    let nameEnd = colon;
    while (nameEnd > pos && isLws(text.charCodeAt(nameEnd - 1))) nameEnd--; // HCOLON = *(SP / HTAB) ":"
    const raw = text.slice(pos, nameEnd);
    if (!isToken(raw)) fail(`Invalid header name ${show(raw)}`);
    const name = canonicalHeaderName(raw);

    // Folding is linear whitespace, which may be replaced with a single SP (RFC 3261 §7.3.1).
    let value = trimLws(text.slice(colon + 1, lineEnd));
    for (let p = lineEnd + 2; p < fieldEnd;) {
      let e = text.indexOf('\r\n', p);
      if (e < 0 || e > fieldEnd) e = fieldEnd;
      const part = trimLws(text.slice(p, e));
      if (part !== '') value = value === '' ? part : value + ' ' + part;
      p = e + 2;
    }
    headers.push({ name, value });

    if (SINGLE.has(name)) {
      const prev = singles.get(name);
      if (prev === undefined) singles.set(name, value);
      else if (prev !== value) fail(`Conflicting ${name} headers`);
    }
    pos = fieldEnd + 2;
  }

  checkHeaders(msg, headers, singles);

  const bodyStart = headEnd + 4;
  let bodyEnd = buf.length;
  const cl = singles.get('Content-Length');
  if (cl !== undefined) {
    if (!isDigits(cl)) fail(`Invalid Content-Length ${show(cl)}`);
    const n = digitsValue(cl);
    if (n > lim.maxBodyBytes)
      fail(`Content-Length ${show(cl)} exceeds the ${lim.maxBodyBytes}-byte body limit`, 413);
    const avail = buf.length - bodyStart;
    if (n > avail) fail(`Body is shorter (${avail} bytes) than Content-Length ${n}`);
    if (n < avail && !datagram) fail(`Body is longer (${avail} bytes) than Content-Length ${n}`);
    bodyEnd = bodyStart + n;
  } else if (buf.length - bodyStart > lim.maxBodyBytes) {
    fail(`Body exceeds the ${lim.maxBodyBytes}-byte limit`, 413);
  }
  const body = buf.subarray(bodyStart, bodyEnd);

  return msg.kind === 'request'
    ? { kind: 'request', method: msg.method, uri: msg.uri, headers, body }
    : { kind: 'response', status: msg.status, reason: msg.reason, headers, body };
}

type StartLine =
  { kind: 'request'; method: string; uri: string } | { kind: 'response'; status: number; reason: string };

function parseStartLine(line: string): StartLine {
  const sp = line.indexOf(' ');
  if (sp <= 0) fail(`Malformed start line ${show(line)}`);
  const first = line.slice(0, sp);

  // "/" is not a token char, so a first word containing one cannot be a Method.
  if (first.includes('/')) {
    checkVersion(first);
    const sp2 = line.indexOf(' ', sp + 1);
    const code = sp2 < 0 ? line.slice(sp + 1) : line.slice(sp + 1, sp2);
    // A missing " Reason-Phrase" is tolerated: the phrase may be empty anyway (RFC 4475 §3.1.1.13).
    const reason = sp2 < 0 ? '' : line.slice(sp2 + 1);
    if (code.length !== 3 || !isDigits(code) || code < '100' || code > '699') {
      fail(`Invalid status code ${show(code)}`);
    }
    for (let i = 0; i < reason.length; i++) {
      const c = reason.charCodeAt(i);
      if ((c < 0x20 && c !== HTAB) || c === 0x7f) fail('Control character in the Reason-Phrase');
    }
    return { kind: 'response', status: Number(code), reason };
  }

  // Exactly single SPs and no trailing whitespace (RFC 4475 §3.1.2.8-10).
  const parts = line.split(' ');
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    fail(`Request-Line must be "Method SP Request-URI SP SIP-Version": ${show(line)}`);
  }
  const [method, uri, version] = parts as [string, string, string];
  if (!isToken(method)) fail(`Invalid method ${show(method)}`);
  checkVersion(version);
  const scheme = uriScheme(uri);
  if (scheme === 'sip' || scheme === 'sips') {
    const u = parseUri(uri);
    if (u === undefined) fail(`Invalid Request-URI ${show(uri)}`);
    // Headers are not allowed in a Request-URI (RFC 3261 §19.1.1 table, RFC 4475 §3.1.2.11).
    if (Object.keys(u.headers).length > 0) fail(`Request-URI must not contain headers: ${show(uri)}`);
  } else if (!isValidUri(uri)) {
    // Other schemes are accepted when well-formed: the caller answers 416 (RFC 4475 §3.3.2).
    fail(`Request-URI is not an absolute URI: ${show(uri)}`);
  }
  return { kind: 'request', method, uri };
}

function checkVersion(v: string): void {
  // SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, "SIP" case-insensitive.
  const dot = v.indexOf('.');
  const wellFormed =
    v.length > 4 &&
    v.slice(0, 4).toUpperCase() === 'SIP/' &&
    dot > 4 &&
    isDigits(v.slice(4, dot)) &&
    isDigits(v.slice(dot + 1));
  if (!wellFormed) fail(`Malformed SIP-Version ${show(v)}`);
  if (v.slice(4) !== '2.0') fail(`SIP version ${show(v)} is not supported`, 505);
}

function parseCSeq(v: string): { seq: number; method: string } | undefined {
  let i = 0;
  while (i < v.length && v.charCodeAt(i) >= 0x30 && v.charCodeAt(i) <= 0x39) i++;
  if (i === 0) return undefined;
  const j = skipLws(v, i);
  if (j === i) return undefined;
  const method = v.slice(j);
  const seq = digitsValue(v.slice(0, i));
  return isToken(method) && seq <= MAX_CSEQ ? { seq, method } : undefined;
}

function checkHeaders(msg: StartLine, headers: Header[], singles: Map<string, string>): void {
  const need = (name: string): string => {
    const v = singles.get(name);
    if (v === undefined) fail(`Missing ${name} header`);
    return v;
  };

  const callId = need('Call-ID');
  // The RFC's word grammar is not enforced: deployed UAs put base64 ("=") in Call-IDs, and the value is
  // only compared opaquely. Whitespace would make it ambiguous, so that is refused.
  if (callId === '' || callId.includes(' ') || callId.includes('\t')) fail(`Invalid Call-ID ${show(callId)}`);

  const cseqValue = need('CSeq');
  const cs = parseCSeq(cseqValue);
  if (cs === undefined) fail(`Invalid CSeq ${show(cseqValue)}`);
  // RFC 3261 §8.1.1.5: the CSeq method matches the request method, ACK and CANCEL included
  // (RFC 4475 §3.1.2.17-18; 400 rather than 501 for an unknown method, which the RFC allows).
  if (msg.kind === 'request' && cs.method !== msg.method) {
    fail(`CSeq method ${show(cs.method)} does not match the request method ${show(msg.method)}`);
  }

  for (const name of ['From', 'To']) {
    if (parseNameAddr(need(name)) === undefined) fail(`Invalid ${name} header`);
  }

  const mf = singles.get('Max-Forwards');
  if (mf !== undefined && !(isDigits(mf) && digitsValue(mf) <= 255)) fail(`Invalid Max-Forwards ${show(mf)}`);

  let vias = 0;
  for (const h of headers) {
    switch (h.name) {
      case 'Via': {
        const list = splitList(h.value);
        if (list.length === 0) fail('Empty Via header');
        for (const v of list) if (parseVia(v) === undefined) fail(`Invalid Via ${show(v)}`);
        vias += list.length;
        break;
      }
      case 'Contact': {
        if (h.value === '*') break; // whether "*" is allowed here is the registrar's business
        const list = splitList(h.value);
        if (list.length === 0) fail('Empty Contact header');
        for (const c of list) if (parseNameAddr(c) === undefined) fail(`Invalid Contact ${show(c)}`);
        break;
      }
      case 'Route':
      case 'Record-Route': {
        const list = splitList(h.value);
        if (list.length === 0) fail(`Empty ${h.name} header`);
        for (const r of list) {
          // rec-route = name-addr: a bare URI would turn its ";lr" into a header parameter.
          if (uriScheme(r) !== undefined || parseNameAddr(r) === undefined)
            fail(`Invalid ${h.name} ${show(r)}`);
        }
        break;
      }
    }
  }
  if (vias === 0) fail('Missing Via header');
}
