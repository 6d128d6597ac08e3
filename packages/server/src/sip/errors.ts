/**
 * A message from the network that cannot be accepted. `status` is the SIP response to send back when the
 * offending message is a request (responses are simply dropped):
 * - 400 Bad Request: syntax errors, missing or conflicting mandatory headers, Content-Length mismatch;
 * - 413 Request Entity Too Large: body (or announced Content-Length) above the body limit;
 * - 505 Version Not Supported: well-formed SIP-Version other than SIP/2.0;
 * - 513 Message Too Large: header section, or a single header field, above its limit (RFC 3261 §21.5.14).
 * The message is single-line (peer data in it is JSON-quoted), so it is safe to log or to use as a reason.
 */
export class SipParseError extends Error {
  override readonly name = 'SipParseError';

  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
