/**
 * The in-memory form of a SIP message (RFC 3261 §7).
 *
 * Headers keep their order and their original values, because a proxy must forward what it does not
 * understand untouched. Names are stored in canonical long form (compact forms such as `v` or `l`
 * are expanded by the parser) and looked up case-insensitively.
 */
import { trimLws } from './syntax.js';

export interface Header {
  /** Canonical long-form name as written by the sender, compact forms expanded (e.g. "Via"). */
  name: string;
  /** Raw value, folding already unfolded, surrounding whitespace trimmed. */
  value: string;
}

interface MessageBase {
  headers: Header[];
  body: Buffer;
}

export interface SipRequest extends MessageBase {
  kind: 'request';
  method: string;
  uri: string;
}

export interface SipResponse extends MessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

const lower = (s: string): string => s.toLowerCase();

/** First value of a header, or undefined. */
export function header(msg: SipMessage, name: string): string | undefined {
  const n = lower(name);
  return msg.headers.find((h) => lower(h.name) === n)?.value;
}

/** Every value of a header, comma-separated lists split (outside quotes and angle brackets). */
export function headerValues(msg: SipMessage, name: string): string[] {
  const n = lower(name);
  return msg.headers.filter((h) => lower(h.name) === n).flatMap((h) => splitList(h.value));
}

/**
 * Every instance of a header, values unsplit: for headers whose values contain commas of their own
 * (WWW-Authenticate, Authorization and their proxy twins, RFC 3261 §7.3.1).
 */
export function headerInstances(msg: SipMessage, name: string): string[] {
  const n = lower(name);
  return msg.headers.filter((h) => lower(h.name) === n).map((h) => h.value);
}

/** The event package a request names (RFC 6665 §8.2.1), lower-case and without parameters. */
export function eventPackage(msg: SipMessage): string {
  return (header(msg, 'Event') ?? '').split(';')[0]!.trim().toLowerCase();
}

export function hasHeader(msg: SipMessage, name: string): boolean {
  return header(msg, name) !== undefined;
}

/** Removes every instance of a header. */
export function removeHeader(msg: SipMessage, name: string): void {
  const n = lower(name);
  msg.headers = msg.headers.filter((h) => lower(h.name) !== n);
}

/** Replaces every instance of a header with one value, at the position of the first. */
export function setHeader(msg: SipMessage, name: string, value: string): void {
  const n = lower(name);
  const at = msg.headers.findIndex((h) => lower(h.name) === n);
  removeHeader(msg, name);
  msg.headers.splice(at < 0 ? msg.headers.length : at, 0, { name, value });
}

/** Inserts a header above every existing one of the same name (Via, Record-Route). */
export function prependHeader(msg: SipMessage, name: string, value: string): void {
  const n = lower(name);
  const at = msg.headers.findIndex((h) => lower(h.name) === n);
  msg.headers.splice(at < 0 ? 0 : at, 0, { name, value });
}

export function appendHeader(msg: SipMessage, name: string, value: string): void {
  msg.headers.push({ name, value });
}

/**
 * Removes the first element of a possibly comma-joined header (the topmost Via or Route)
 * and returns it.
 */
export function shiftHeaderValue(msg: SipMessage, name: string): string | undefined {
  const n = lower(name);
  const at = msg.headers.findIndex((h) => lower(h.name) === n);
  if (at < 0) return undefined;
  const h = msg.headers[at]!;
  const [first, ...rest] = splitList(h.value);
  if (rest.length === 0) msg.headers.splice(at, 1);
  else h.value = rest.join(', ');
  return first;
}

/**
 * Removes the first `count` elements of a possibly comma-joined header (the topmost Routes), as
 * `count` calls of shiftHeaderValue would, but splitting each instance once: linear, not quadratic,
 * in a header section a peer filled with thousands of elements.
 */
export function dropHeaderValues(msg: SipMessage, name: string, count: number): void {
  const n = lower(name);
  const kept: Header[] = [];
  for (const h of msg.headers) {
    if (count > 0 && lower(h.name) === n) {
      const values = splitList(h.value);
      if (values.length <= count) {
        count -= values.length;
        continue;
      }
      h.value = values.slice(count).join(', ');
      count = 0;
    }
    kept.push(h);
  }
  msg.headers = kept;
}

/**
 * Splits a comma-separated header value, ignoring commas in quotes or in <...>. Elements are trimmed of
 * SP and HTAB only: other Unicode spaces (a byte order mark, NBSP) are content, as in the parser.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') depth++;
    else if (c === '>') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(trimLws(value.slice(start, i)));
      start = i + 1;
    }
  }
  out.push(trimLws(value.slice(start)));
  return out.filter((v) => v.length > 0);
}

/** Sequence number and method of the CSeq header; the method as written (methods are case-sensitive). */
export function cseq(msg: SipMessage): { seq: number; method: string } {
  const v = header(msg, 'CSeq') ?? '';
  const [n, m] = v.trim().split(/\s+/);
  return { seq: Number(n), method: m ?? '' };
}

/** Deep copy, so a proxy can fork one request to several targets. */
export function cloneMessage<T extends SipMessage>(msg: T): T {
  return { ...msg, headers: msg.headers.map((h) => ({ ...h })), body: Buffer.from(msg.body) };
}
