/** SIP message model and wire codec. */
export * from './message.js';
export { SipParseError } from './errors.js';
export { DEFAULT_LIMITS, resolveLimits, type Limits } from './limits.js';
export { canonicalHeaderName, parseDatagram, parseMessage } from './parser.js';
export { serializeMessage } from './serialize.js';
export { SipFramer, type FrameEvent } from './framer.js';
export {
  aorOf,
  formatAuthParams,
  formatNameAddr,
  formatParams,
  formatUri,
  formatVia,
  isSipUri,
  isValidUri,
  parseAuthHeader,
  parseNameAddr,
  parseUri,
  parseVia,
  uriScheme,
  type AuthHeader,
  type NameAddr,
  type SipUri,
  type Via,
} from './uri.js';
export { quote, unquote } from './syntax.js';
