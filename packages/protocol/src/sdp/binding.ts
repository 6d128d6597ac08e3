/**
 * Channel binding: the few lines both ends exchange inside the peer-to-peer TLS connection, right
 * after the handshake and before the first data frame, to tie the connection to the session that was
 * signalled (`a=tsunagu-session`) and to agree on which connection is the channel.
 *
 * The TLS handshake negotiates ALPN {@link CHANNEL_ALPN}; a connection without it is refused. Then,
 * each line ASCII and ending in LF, at most {@link MAX_BINDING_LINE} bytes:
 *
 * ```
 * active → passive   TSUNAGU-CHANNEL/1 HELLO <session-id>     after checking the passive end's certificate
 * passive → active   TSUNAGU-CHANNEL/1 ACCEPT                 this connection is the channel
 *               or   TSUNAGU-CHANNEL/1 REFUSE <reason>         and the passive end closes
 * active → passive   TSUNAGU-CHANNEL/1 REFUSE certificate      instead of HELLO, when the passive end's
 *                                                              certificate is not the signalled one
 * ```
 *
 * Reasons: `certificate` (the certificate does not match the signalled fingerprint), `session` (HELLO
 * for another session), `duplicate` (another connection of the same peer was accepted first: the
 * active end races several candidates, the passive end accepts exactly one), `protocol` (anything
 * else). After ACCEPT the connection carries the data-channel frames. Pure TypeScript.
 */
import { CHANNEL_SESSION_ID } from './channel.js';

/** The ALPN protocol id (RFC 7301) of a Tsunagu channel, version 1. */
export const CHANNEL_ALPN = 'tsunagu/1';
export const BINDING_PREFIX = 'TSUNAGU-CHANNEL/1';
/** Bytes in one binding line, LF included. */
export const MAX_BINDING_LINE = 200;

export type BindingRefusal = 'certificate' | 'session' | 'duplicate' | 'protocol';

export type BindingMessage =
  | { readonly type: 'hello'; readonly session: string }
  | { readonly type: 'accept' }
  | { readonly type: 'refuse'; readonly reason: BindingRefusal | (string & {}) };

export class BindingError extends Error {
  override readonly name = 'BindingError';
}

const REASON = /^[a-z][a-z0-9-]{0,31}$/;

/** The line for `msg`, LF included. */
export function formatBindingMessage(msg: BindingMessage): string {
  switch (msg.type) {
    case 'hello':
      if (!CHANNEL_SESSION_ID.test(msg.session)) throw new BindingError('invalid session id');
      return `${BINDING_PREFIX} HELLO ${msg.session}\n`;
    case 'accept':
      return `${BINDING_PREFIX} ACCEPT\n`;
    case 'refuse':
      if (!REASON.test(msg.reason)) throw new BindingError('invalid refusal reason');
      return `${BINDING_PREFIX} REFUSE ${msg.reason}\n`;
  }
}

/** Parses one line (without its LF; a trailing CR is tolerated). Throws BindingError. */
export function parseBindingMessage(line: string): BindingMessage {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.length >= MAX_BINDING_LINE) throw new BindingError('binding line too long');
  const parts = text.split(' ');
  if (parts[0] !== BINDING_PREFIX)
    throw new BindingError(
      `not a Tsunagu channel (expected ${BINDING_PREFIX}, got ${JSON.stringify(text.slice(0, 40))})`,
    );
  if (parts[1] === 'HELLO' && parts.length === 3 && CHANNEL_SESSION_ID.test(parts[2]!))
    return { type: 'hello', session: parts[2]! };
  if (parts[1] === 'ACCEPT' && parts.length === 2) return { type: 'accept' };
  if (parts[1] === 'REFUSE' && parts.length === 3 && REASON.test(parts[2]!))
    return { type: 'refuse', reason: parts[2]! };
  throw new BindingError(`malformed binding line ${JSON.stringify(text.slice(0, 60))}`);
}
