import { createHash, randomBytes } from 'node:crypto';
import { quote } from '@tsunagu/server/sip';
import { Core } from 'sip.js';
import type { UserAgent } from 'sip.js';

/**
 * SIP Digest with the RFC 8760 algorithms (SHA-256, SHA-512/256; RFC 7616 semantics) for sip.js.
 *
 * Why this shape: sip.js 0.21's `DigestAuthentication` aborts on any algorithm but MD5, uses a
 * non-cryptographic cnonce, and is constructed in exactly one place — the core configuration's
 * `authenticationFactory`, which every user agent client calls when it meets a 401/407
 * (`core/user-agents/user-agent-client.js` `authenticationGuard`). So instead of patching sip.js's
 * prototype for the whole process, each of our UserAgents gets, through that factory, a subclass whose
 * two public methods (`authenticate`, `toString`: the only ones the core calls) are ours. No sip.js code
 * is modified, other sip.js users in the process are untouched, and all digest logic is in this file.
 *
 * Limit that remains: the core hands over only the first `WWW-/Proxy-Authenticate` header. Our server
 * lists SHA-256 first (RFC 8760 §2.4, most preferred first), so the first is the one to use; a first
 * challenge with an algorithm we do not accept is refused (logged), never downgraded.
 */

export type DigestAlgorithm =
  'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess' | 'MD5' | 'MD5-sess';

const HASHES: Record<DigestAlgorithm, string> = {
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
  'SHA-512-256': 'sha512-256',
  'SHA-512-256-sess': 'sha512-256',
  MD5: 'md5',
  'MD5-sess': 'md5',
};

export interface DigestCredentials {
  /** Digest username: `alice`, or `alice/DEVICE` for an enrolled device. */
  username: string;
  password: string;
  /**
   * Answer MD5 challenges too. Off by default: our server always offers SHA-256 first to a Tsunagu
   * terminal, so an MD5-first challenge means a misconfigured account or something else answering.
   */
  allowMd5?: boolean;
}

export interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  nc: string;
  cnonce: string;
  qop: 'auth' | 'auth-int';
  body?: string;
}

/** The `response` value (RFC 7616 §3.4.1–3.4.3). */
export function digestResponse(p: DigestInput): string {
  const hash = HASHES[p.algorithm];
  const h = (s: string): string => createHash(hash).update(s, 'utf8').digest('hex');
  let ha1 = h(`${p.username}:${p.realm}:${p.password}`);
  if (p.algorithm.endsWith('-sess')) ha1 = h(`${ha1}:${p.nonce}:${p.cnonce}`);
  const ha2 = p.qop === 'auth-int' ? h(`${p.method}:${p.uri}:${h(p.body ?? '')}`) : h(`${p.method}:${p.uri}`);
  return h(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

interface Challenge {
  algorithm?: string;
  realm?: string;
  nonce?: string;
  opaque?: string;
  qop?: string[];
  stale?: boolean;
}

type LoggerFactory = ConstructorParameters<typeof Core.DigestAuthentication>[0];

/**
 * Credentials for one request (the core creates one per user agent client). Extends sip.js's class
 * only so that the core's types accept it; none of the parent's logic runs.
 */
export class Rfc8760Digest extends Core.DigestAuthentication {
  readonly #credentials: DigestCredentials;
  readonly #logger: ReturnType<LoggerFactory['getLogger']>;
  #header: string | undefined;
  #nonce: string | undefined;
  #nc = 0;
  #realm: string | undefined;

  constructor(loggerFactory: LoggerFactory, credentials: DigestCredentials) {
    super(loggerFactory, undefined, credentials.username, undefined);
    this.#credentials = credentials;
    this.#logger = loggerFactory.getLogger('tsunagu.digest');
  }

  override authenticate(request: Core.OutgoingRequestMessage, challenge: Challenge, body?: string): boolean {
    // RFC 7616 §3.3: an absent algorithm means MD5.
    const algorithm = (challenge.algorithm ?? 'MD5').toUpperCase().replace(/-SESS$/, '-sess');
    if (!(algorithm in HASHES)) {
      this.#logger.warn(`digest challenge with unsupported algorithm ${algorithm} refused`);
      return false;
    }
    const alg = algorithm as DigestAlgorithm;
    if (alg.startsWith('MD5') && !this.#credentials.allowMd5) {
      this.#logger.warn('digest challenge with MD5 refused: this terminal only answers SHA-256 (RFC 8760)');
      return false;
    }
    const { realm, nonce } = challenge;
    if (realm === undefined || !nonce) {
      this.#logger.warn('digest challenge without realm or nonce refused');
      return false;
    }
    const qops = challenge.qop ?? [];
    const qop = qops.includes('auth') ? 'auth' : qops.includes('auth-int') ? 'auth-int' : undefined;
    if (!qop) {
      // RFC 2069 compatibility mode has no client nonce: refused (RFC 7616 §3.3 requires qop).
      this.#logger.warn('digest challenge without qop auth or auth-int refused');
      return false;
    }
    if (nonce !== this.#nonce) {
      this.#nonce = nonce;
      this.#nc = 0;
    }
    this.#nc += 1;
    const nc = this.#nc.toString(16).padStart(8, '0');
    const cnonce = randomBytes(16).toString('hex');
    const uri = request.ruri.toString();
    const response = digestResponse({
      algorithm: alg,
      username: this.#credentials.username,
      realm,
      password: this.#credentials.password,
      method: request.method,
      uri,
      nonce,
      nc,
      cnonce,
      qop,
      ...(body === undefined ? {} : { body }),
    });
    this.#realm = realm;
    this.stale = challenge.stale;
    const params = [
      `username=${quote(this.#credentials.username)}`,
      `realm=${quote(realm)}`,
      `nonce=${quote(nonce)}`,
      `uri=${quote(uri)}`,
      `response=${quote(response)}`,
      `algorithm=${alg}`,
      `cnonce=${quote(cnonce)}`,
      ...(challenge.opaque !== undefined ? [`opaque=${quote(challenge.opaque)}`] : []),
      `qop=${qop}`,
      `nc=${nc}`,
    ];
    this.#header = `Digest ${params.join(', ')}`;
    return true;
  }

  /** The realm of the last challenge answered (for callers that want to show or store it). */
  get challengeRealm(): string | undefined {
    return this.#realm;
  }

  override toString(): string {
    if (!this.#header) throw new Error('no digest credentials computed yet');
    return this.#header;
  }
}

/**
 * Makes `ua` answer digest challenges with {@link Rfc8760Digest}. Call once, right after constructing
 * the UserAgent. Returns a function giving the last credentials object created (to read the realm).
 */
export function useRfc8760Digest(
  ua: UserAgent,
  credentials: DigestCredentials,
): () => Rfc8760Digest | undefined {
  let last: Rfc8760Digest | undefined;
  ua.userAgentCore.configuration.authenticationFactory = () =>
    (last = new Rfc8760Digest(ua.getLoggerFactory(), credentials));
  return () => last;
}
