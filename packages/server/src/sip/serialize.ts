/**
 * SIP message serializer: start line, headers in order as `Name: value`, a Content-Length computed from
 * the body (any existing one is dropped), the empty line, the body.
 *
 * Values are trusted to be well-formed, but CR or LF in any field would let data from one peer inject
 * headers into a message to another, so they make serialization throw: that is a bug upstream.
 */
import type { SipMessage } from './message.js';
import { isToken } from './syntax.js';

function checkLine(what: string, s: string): void {
  if (s.includes('\r') || s.includes('\n')) throw new TypeError(`${what} contains CR or LF`);
}

export function serializeMessage(msg: SipMessage): Buffer {
  let head: string;
  if (msg.kind === 'request') {
    if (!isToken(msg.method)) throw new TypeError(`Invalid SIP method ${JSON.stringify(msg.method)}`);
    if (msg.uri === '' || /\s/.test(msg.uri))
      throw new TypeError('Request-URI is empty or contains whitespace');
    head = `${msg.method} ${msg.uri} SIP/2.0\r\n`;
  } else {
    if (!Number.isInteger(msg.status) || msg.status < 100 || msg.status > 699) {
      throw new TypeError(`Invalid SIP status ${msg.status}`);
    }
    checkLine('Reason-Phrase', msg.reason);
    head = `SIP/2.0 ${msg.status} ${msg.reason}\r\n`;
  }
  for (const h of msg.headers) {
    const lower = h.name.toLowerCase();
    if (lower === 'content-length' || lower === 'l') continue;
    if (!isToken(h.name)) throw new TypeError(`Invalid header name ${JSON.stringify(h.name)}`);
    checkLine(`Header ${h.name}`, h.value);
    head += `${h.name}: ${h.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;

  const headLen = Buffer.byteLength(head);
  const out = Buffer.allocUnsafe(headLen + msg.body.length);
  out.write(head, 0, 'utf8');
  msg.body.copy(out, headLen);
  return out;
}
