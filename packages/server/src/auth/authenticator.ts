import type { Logger } from '../log/logger.js';
import type { Metrics } from '../admin/metrics.js';
import { headerInstances, type Header, type SipRequest, type SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { parseAuthHeader } from '../sip/uri.js';
import type { Connection, Identity } from '../transport/connection.js';
import { algorithmsFor, DigestAuthenticator, parseDigestParams, type DigestCredentials } from './digest.js';
import { FailureThrottle } from './throttle.js';

/** Looks up digest credentials; `undefined` for unknown usernames and removed devices. */
export type CredentialLookup = (
  username: string,
) => { credentials: DigestCredentials; allowMd5: boolean } | undefined;

export interface ThrottleLimits {
  perUser: number;
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = { perUser: 10, perAddress: 30, windowMs: 60_000 };

export type AuthOutcome = { identity: Identity } | { response: SipResponse };

/**
 * Authenticates a request by SIP Digest (401 for REGISTER, 407 for requests through the proxy),
 * throttling users and source addresses that fail too often.
 */
export class Authenticator {
  readonly #byUser: FailureThrottle;
  readonly #byAddress: FailureThrottle;

  constructor(
    private readonly digest: DigestAuthenticator,
    private readonly lookup: CredentialLookup,
    private readonly domain: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    limits: ThrottleLimits = DEFAULT_THROTTLE,
  ) {
    this.#byUser = new FailureThrottle(limits.perUser, limits.windowMs);
    this.#byAddress = new FailureThrottle(limits.perAddress, limits.windowMs);
  }

  /** `claimedUser` is the user the request speaks for (To of a REGISTER, From otherwise). */
  check(conn: Connection, req: SipRequest, kind: 'www' | 'proxy', claimedUser: string): AuthOutcome {
    const challengeStatus = kind === 'www' ? 401 : 407;
    const challengeHeader = kind === 'www' ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    const source = conn.remote.address;

    const blockedFor = this.#byAddress.retryAfter(source) || this.#byUser.retryAfter(claimedUser);
    if (blockedFor > 0) {
      this.metrics.throttled.inc();
      this.log.warn({ user: claimedUser, source }, 'authentication throttled');
      return {
        response: createResponse(req, 403, [{ name: 'Retry-After', value: String(blockedFor) }], {
          reason: 'Too Many Failed Attempts',
        }),
      };
    }

    const challenge = (stale = false): AuthOutcome => {
      const headers: Header[] = this.digest
        .challenges(algorithmsFor(this.lookup(claimedUser)?.credentials), stale)
        .map((value) => ({ name: challengeHeader, value }));
      return { response: createResponse(req, challengeStatus, headers) };
    };

    const credsHeader = kind === 'www' ? 'Authorization' : 'Proxy-Authorization';
    const offered = headerInstances(req, credsHeader)
      .map((v) => parseAuthHeader(v))
      .find((a) => a?.scheme.toLowerCase() === 'digest' && a.params.realm === this.digest.realm);
    if (!offered) return challenge();
    const params = parseDigestParams(offered.params);
    if (!params) {
      return { response: createResponse(req, 400, [], { reason: 'Malformed Digest Credentials' }) };
    }

    const verdict = this.digest.verify(req.method, params, this.lookup);
    if (verdict.ok) {
      const { user, deviceId } = verdict.credentials;
      if (user !== claimedUser) {
        // Valid credentials, but for someone else than the request claims to be.
        this.log.warn({ user, claimed: claimedUser, source }, 'credentials do not match claimed identity');
        return { response: createResponse(req, 403, [], { reason: 'Identity Mismatch' }) };
      }
      if (verdict.credentials.revoked) {
        this.log.warn({ user, device: deviceId, source }, 'revoked device refused');
        return { response: createResponse(req, 403, [], { reason: 'Device Revoked' }) };
      }
      const identity: Identity = { user, aor: `sip:${user}@${this.domain}` };
      if (deviceId) identity.deviceId = deviceId;
      return { identity };
    }
    this.metrics.authFailures.inc({ reason: verdict.reason });
    if (verdict.reason === 'stale') return challenge(true);
    if (verdict.reason === 'wrong-credentials' || verdict.reason === 'replay') {
      const user = params.username.split('/')[0] ?? params.username;
      this.#byUser.fail(user);
      this.#byAddress.fail(source);
      this.log.info({ user, source, reason: verdict.reason }, 'authentication failed');
    }
    return challenge();
  }
}
