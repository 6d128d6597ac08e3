import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * SIP Digest authentication, server side (RFC 3261 §22, RFC 7616 semantics, RFC 8760 algorithms).
 *
 * Nonces are stateless: a timestamp and random bytes, authenticated by an HMAC under a per-process key,
 * so any number of challenges costs no memory. Replays are stopped by requiring `qop=auth` and a
 * strictly increasing nonce-count per nonce (tracked in a bounded map).
 */

export type DigestAlgorithm = 'SHA-256' | 'MD5';

export interface DigestCredentials {
  user: string;
  deviceId?: string;
  ha1: { 'SHA-256': string; MD5?: string };
  md5Only?: boolean;
  /** A revoked device: right credentials, refused all the same (403 Device Revoked). */
  revoked?: boolean;
}

/** What to offer a user: SHA-256, then MD5 if allowed (RFC 8760 order), or MD5 alone for a legacy client. */
export function algorithmsFor(c: DigestCredentials | undefined): DigestAlgorithm[] {
  if (c?.md5Only && c.ha1.MD5) return ['MD5'];
  return c?.ha1.MD5 ? ['SHA-256', 'MD5'] : ['SHA-256'];
}

export interface DigestParams {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  opaque?: string;
}

export type DigestVerdict =
  | { ok: true; credentials: DigestCredentials }
  | { ok: false; reason: 'malformed' | 'stale' | 'replay' | 'wrong-credentials' | 'algorithm' };

const hashName = (alg: DigestAlgorithm): string => (alg === 'SHA-256' ? 'sha256' : 'md5');
const h = (alg: DigestAlgorithm, s: string): string => createHash(hashName(alg)).update(s).digest('hex');

export function computeHa1(alg: DigestAlgorithm, username: string, realm: string, password: string): string {
  return h(alg, `${username}:${realm}:${password}`);
}

/** The response a client computes, for qop=auth (RFC 7616 §3.4.1). Exported for test clients. */
export function computeResponse(
  alg: DigestAlgorithm,
  ha1: string,
  p: { method: string; uri: string; nonce: string; nc: string; cnonce: string; qop: string },
): string {
  const ha2 = h(alg, `${p.method}:${p.uri}`);
  return h(alg, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

export function parseDigestParams(params: Record<string, string>): DigestParams | undefined {
  const { username, realm, nonce, uri, response } = params;
  if (!username || realm === undefined || !nonce || !uri || !response) return undefined;
  const out: DigestParams = { username, realm, nonce, uri, response, algorithm: params.algorithm ?? 'MD5' };
  for (const k of ['qop', 'nc', 'cnonce', 'opaque'] as const) {
    const v = params[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

const NONCE_BYTES = 6 + 10 + 16;
const MAX_TRACKED_NONCES = 200_000;

export class DigestAuthenticator {
  readonly #key = randomBytes(32);
  /** nonce → highest nonce-count seen; insertion order doubles as age for eviction. */
  readonly #counts = new Map<string, { nc: number; issuedAt: number }>();

  constructor(
    readonly realm: string,
    private readonly nonceTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  newNonce(): string {
    const buf = Buffer.alloc(NONCE_BYTES);
    buf.writeUIntBE(this.now(), 0, 6);
    randomBytes(10).copy(buf, 6);
    this.#mac(buf.subarray(0, 16)).copy(buf, 16);
    return buf.toString('base64url');
  }

  /** `WWW-Authenticate`/`Proxy-Authenticate` values, most preferred first (RFC 8760 §2.4). */
  challenges(algorithms: readonly DigestAlgorithm[], stale = false): string[] {
    const nonce = this.newNonce();
    return algorithms.map(
      (alg) =>
        `Digest realm="${this.realm}", nonce="${nonce}", algorithm=${alg}, qop="auth"` +
        (stale ? ', stale=true' : ''),
    );
  }

  /**
   * Checks a response. `lookup` gives the stored HA1s for a digest username; it is called even for
   * unknown users (with a dummy result) so that unknown and wrong-password take the same time.
   */
  verify(
    method: string,
    p: DigestParams,
    lookup: (username: string) => { credentials: DigestCredentials; allowMd5: boolean } | undefined,
  ): DigestVerdict {
    const alg = p.algorithm.toUpperCase();
    if (alg !== 'SHA-256' && alg !== 'MD5') return { ok: false, reason: 'algorithm' };
    if (p.realm !== this.realm) return { ok: false, reason: 'malformed' };
    if (p.qop?.toLowerCase() !== 'auth' || !p.nc || !p.cnonce || !/^[0-9a-fA-F]{8}$/.test(p.nc)) {
      return { ok: false, reason: 'malformed' };
    }
    const found = lookup(p.username);
    const algorithm = alg as DigestAlgorithm;
    const ha1 = found?.credentials.ha1[algorithm];
    const usable = found !== undefined && ha1 !== undefined && (algorithm !== 'MD5' || found.allowMd5);
    const expected = computeResponse(algorithm, usable ? ha1 : h(algorithm, 'no such user'), {
      method,
      uri: p.uri,
      nonce: p.nonce,
      nc: p.nc,
      cnonce: p.cnonce,
      qop: 'auth',
    });
    const given = Buffer.from(p.response.toLowerCase());
    const match = given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
    if (!usable || !match) return { ok: false, reason: 'wrong-credentials' };
    // The password is proven; an expired nonce, or one from before a restart, only means "ask again"
    // (stale=true, RFC 7616 §3.3) — not a failed attempt.
    // A nonce seen before was authenticated then: its HMAC need not be checked again.
    const seen = this.#counts.get(p.nonce);
    const issuedAt = seen?.issuedAt ?? this.#nonceTime(p.nonce);
    if (issuedAt === undefined || this.now() - issuedAt > this.nonceTtlMs)
      return { ok: false, reason: 'stale' };
    const nc = parseInt(p.nc, 16);
    if (nc <= (seen?.nc ?? 0)) return { ok: false, reason: 'replay' };
    this.#counts.delete(p.nonce);
    this.#counts.set(p.nonce, { nc, issuedAt });
    if (this.#counts.size > MAX_TRACKED_NONCES) this.#evict();
    return { ok: true, credentials: found.credentials };
  }

  #mac(data: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(data).digest().subarray(0, 16);
  }

  #nonceTime(nonce: string): number | undefined {
    if (nonce.length > 64) return undefined;
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== NONCE_BYTES) return undefined;
    if (!timingSafeEqual(this.#mac(buf.subarray(0, 16)), buf.subarray(16))) return undefined;
    return buf.readUIntBE(0, 6);
  }

  #evict(): void {
    const cutoff = this.now() - this.nonceTtlMs;
    for (const [nonce, { issuedAt }] of this.#counts) {
      if (issuedAt < cutoff || this.#counts.size > MAX_TRACKED_NONCES / 2) this.#counts.delete(nonce);
      else break;
    }
  }
}
