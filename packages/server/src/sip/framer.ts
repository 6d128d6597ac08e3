/**
 * Cuts a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3) and RFC 5626 §3.5.1 keepalives.
 *
 * Between messages, a double CRLF "ping" yields a keepalive event (the transport answers one CRLF "pong")
 * and a lone CRLF is skipped. A message is its header section up to CRLFCRLF plus Content-Length bytes
 * of body (mandatory on streams). Work is linear in the stream: the CRLFCRLF search resumes where it
 * stopped and the buffer grows geometrically. At most one message's worth of bytes (bounded by Limits)
 * is kept. After an error the stream cannot be resynchronised: push returns nothing more and the caller
 * closes the connection (after answering, if it wants, with error.status).
 */
import { SipParseError } from './errors.js';
import { resolveLimits, type Limits } from './limits.js';
import { digitsValue, isDigits, isLws, show, trimLws } from './syntax.js';

export type FrameEvent =
  { type: 'message'; data: Buffer } | { type: 'keepalive' } | { type: 'error'; error: SipParseError };

const CR = 0x0d;
const LF = 0x0a;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** An idle framer drops a buffer larger than this, so idle connections hold little memory. */
const KEEP_CAPACITY = 64 * 1024;

export class SipFramer {
  private readonly limits: Readonly<Limits>;
  private buf = EMPTY;
  /** Start of the unconsumed bytes (and of the current message, outside the idle state). */
  private pos = 0;
  /** End of the buffered bytes. */
  private len = 0;
  private state: 'idle' | 'head' | 'body' | 'failed' = 'idle';
  /** CRLFs seen in a row between messages. */
  private crlfs = 0;
  /** Bytes of the current header section already searched for CRLFCRLF. */
  private scanned = 0;
  /** Length of the current message, once its header section is complete. */
  private total = 0;

  constructor(limits?: Partial<Limits>) {
    this.limits = resolveLimits(limits);
  }

  /** Bytes held for a message not complete yet. */
  get pending(): number {
    return this.len - this.pos;
  }

  push(chunk: Buffer): FrameEvent[] {
    if (this.state === 'failed') return [];
    this.append(chunk);
    const events: FrameEvent[] = [];
    const error = this.drain(events);
    if (error !== undefined) {
      this.state = 'failed';
      this.buf = EMPTY;
      this.pos = this.len = 0;
      events.push({ type: 'error', error });
    } else if (this.pos === this.len) {
      this.pos = this.len = 0;
      if (this.buf.length > KEEP_CAPACITY) this.buf = EMPTY;
    }
    return events;
  }

  private append(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.len + n > this.buf.length) {
      const live = this.len - this.pos;
      if (live + n <= this.buf.length) {
        this.buf.copyWithin(0, this.pos, this.len);
      } else {
        const grown = Buffer.allocUnsafe(Math.max(live + n, this.buf.length * 2, 4096));
        this.buf.copy(grown, 0, this.pos, this.len);
        this.buf = grown;
      }
      this.pos = 0;
      this.len = live;
    }
    chunk.copy(this.buf, this.len);
    this.len += n;
  }

  /** Emits what the buffered bytes complete; returns the error that ends the stream, if any. */
  private drain(events: FrameEvent[]): SipParseError | undefined {
    const { maxHeaderBytes, maxBodyBytes } = this.limits;
    const buf = this.buf;
    for (;;) {
      if (this.state === 'idle') {
        while (this.pos < this.len) {
          const c = buf[this.pos];
          if (c === LF) return new SipParseError('LF not preceded by CR between messages');
          if (c !== CR) break;
          if (this.pos + 1 === this.len) return undefined; // wait for the LF
          if (buf[this.pos + 1] !== LF) return new SipParseError('CR not followed by LF between messages');
          this.pos += 2;
          if (++this.crlfs === 2) {
            this.crlfs = 0;
            events.push({ type: 'keepalive' });
          }
        }
        if (this.pos === this.len) return undefined;
        this.state = 'head';
        this.crlfs = 0;
        this.scanned = 0;
      }

      if (this.state === 'head') {
        const avail = this.len - this.pos;
        // Resume the search 3 bytes back, in case the previous chunk ended inside a CRLFCRLF. The window
        // stops at the limit, so a flood without an empty line is never searched twice nor kept.
        const window = buf.subarray(this.pos, this.pos + Math.min(avail, maxHeaderBytes + 4));
        const end = window.indexOf(CRLFCRLF, Math.max(0, this.scanned - 3));
        if (end < 0) {
          if (avail >= maxHeaderBytes + 4) {
            return new SipParseError(`Header section larger than ${maxHeaderBytes} bytes`, 513);
          }
          this.scanned = avail;
          return undefined;
        }
        const cl = contentLength(buf.toString('latin1', this.pos, this.pos + end));
        if (typeof cl === 'string') return new SipParseError(cl);
        if (cl > maxBodyBytes) {
          return new SipParseError(`Content-Length ${cl} exceeds the ${maxBodyBytes}-byte body limit`, 413);
        }
        this.total = end + 4 + cl;
        this.state = 'body';
      }

      if (this.len - this.pos < this.total) return undefined;
      const data = Buffer.allocUnsafe(this.total);
      buf.copy(data, 0, this.pos, this.pos + this.total);
      events.push({ type: 'message', data });
      this.pos += this.total;
      this.state = 'idle';
    }
  }
}

/**
 * Content-Length (long or compact form, any case, possibly folded) of a header section decoded as
 * latin1, or an error message. Repeats with different values are refused (RFC 4475 §3.3.9): they make
 * the framing ambiguous.
 */
function contentLength(text: string): number | string {
  let found: string | undefined;
  let pos = text.indexOf('\r\n');
  while (pos >= 0 && pos + 2 < text.length) {
    pos += 2;
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = text.length;
    const c = text.charCodeAt(pos) | 0x20;
    if (c === 0x63 || c === 0x6c) {
      // The colon is searched for within this line only: an unbounded indexOf would rescan the rest of the
      // header section for every line starting with "c" or "l" that has none (quadratic).
      let colon = pos;
      while (colon < end && text.charCodeAt(colon) !== 0x3a) colon++;
      const name = colon < end ? trimLws(text.slice(pos, colon)).toLowerCase() : '';
      if (name === 'content-length' || name === 'l') {
        let value = text.slice(colon + 1, end);
        while (end + 2 < text.length && isLws(text.charCodeAt(end + 2))) {
          let e = text.indexOf('\r\n', end + 2);
          if (e < 0) e = text.length;
          value += ' ' + text.slice(end + 2, e);
          end = e;
        }
        value = trimLws(value);
        if (found !== undefined && found !== value) return 'Conflicting Content-Length headers';
        found = value;
      }
    }
    pos = end;
  }
  if (found === undefined) return 'Content-Length is required on stream transports (RFC 3261 §18.3)';
  if (!isDigits(found)) return `Invalid Content-Length ${show(found)}`;
  return digitsValue(found);
}
