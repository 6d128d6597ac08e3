import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseJoinLink } from '@tsunagu/protocol';
import { Core, URI, UserAgent } from 'sip.js';
import { uriSans } from '../identity/certificate.js';
import { useRfc8760Digest } from '../sip/digest.js';
import { normalizeFingerprint } from '../sip/pinned-tls.js';
import { TlsTransport } from '../sip/transport.js';
import type { DeviceCredentials } from './credentials.js';
import { connectVerified, fetchPinnedCa, requestOver, splitHostPort } from './https.js';

/**
 * Joining a deployment (docs/protocol.md "Enrolment"): from an invite link, or with a password.
 *
 * Trust comes only from the CA fingerprint in the link (or given to login): the CA certificate is
 * fetched, accepted only if it has that fingerprint, and the server must then prove a certificate from
 * that CA before any secret (the invite token, the password) is sent.
 */

export type EnrollErrorCode =
  /** The server refused the token: unknown, used, expired or for another user (it does not say which). */
  | 'invite-refused'
  /** Too many failed attempts from this address: try again later. */
  | 'rate-limited'
  /** The user name or password is wrong (login). */
  | 'wrong-credentials'
  /** Anything else the server answered that we cannot use. */
  | 'server-error';

export class EnrollError extends Error {
  override readonly name = 'EnrollError';
  constructor(
    readonly code: EnrollErrorCode,
    message: string,
    readonly status?: number,
    /** Seconds to wait, when the server said. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface EnrollProfile {
  /** The device's instance id (UUID); a new one by default. Keep it: the device registers with it. */
  instanceId?: string;
  /** The device's name as others see it (printable ASCII, ≤ 200 characters); default the host name. */
  name?: string;
}

export interface EnrollOptions {
  /** Per network step; default 15 s. */
  timeoutMs?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What the server accepts in a field (enroll.ts `FIELD`). */
const PRINTABLE = /^[\x20-\x7e]{1,200}$/;

/**
 * Redeems an invite link (`tsunagu://join?…`): fetches and checks the CA, verifies the server against
 * it, posts `{user, token, instance, name}` to `/enroll`, and returns the device's credentials.
 * Throws a JoinLinkError for a bad link, a ServerCertificateError when the server is not the pinned
 * CA's (possible interception), an EnrollError when the server refuses.
 */
export async function enroll(
  link: string,
  profile: EnrollProfile = {},
  options: EnrollOptions = {},
): Promise<DeviceCredentials> {
  const invite = parseJoinLink(link);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const instanceId = profile.instanceId ?? randomUUID();
  if (!UUID.test(instanceId))
    throw new TypeError(`instanceId must be a UUID, got ${JSON.stringify(instanceId)}`);
  const name = (profile.name ?? os.hostname()).trim().slice(0, 200) || 'device';
  if (!PRINTABLE.test(name)) {
    throw new TypeError('the device name must be printable ASCII characters (a server limit for now)');
  }

  const caPem = await fetchPinnedCa(invite.https, invite.caFingerprint, timeoutMs);
  const socket = await connectVerified(invite.https, caPem, invite.caFingerprint, timeoutMs);
  const res = await requestOver(socket, {
    method: 'POST',
    hostPort: invite.https,
    path: '/enroll',
    body: JSON.stringify({
      user: invite.user,
      token: invite.token,
      instance: `<urn:uuid:${instanceId}>`,
      name,
    }),
    timeoutMs,
  });
  const json = parseJson(res.body);
  if (res.status !== 200) {
    const said = typeof json?.error === 'string' ? json.error : `HTTP ${res.status}`;
    if (res.status === 403)
      throw new EnrollError('invite-refused', `the server refused the invite: ${said}`, 403);
    if (res.status === 429) {
      const retry = Number(res.headers['retry-after']);
      throw new EnrollError(
        'rate-limited',
        `too many failed attempts from this address: ${said}`,
        429,
        Number.isFinite(retry) ? retry : undefined,
      );
    }
    throw new EnrollError('server-error', `enrolment failed: ${said}`, res.status);
  }
  const fields = ['user', 'aor', 'device', 'username', 'secret', 'realm', 'domain'] as const;
  for (const f of fields) {
    if (typeof json?.[f] !== 'string' || json[f] === '') {
      throw new EnrollError('server-error', `the server's enrolment answer lacks "${f}"`, res.status);
    }
  }
  const r = json as Record<(typeof fields)[number], string>;
  if (r.user !== invite.user || r.domain !== invite.domain) {
    throw new EnrollError(
      'server-error',
      `the server enrolled ${r.user}@${r.domain}, but the invite is for ${invite.user}@${invite.domain}`,
    );
  }
  return {
    user: r.user,
    domain: r.domain,
    aor: r.aor,
    realm: r.realm,
    username: r.username,
    secret: r.secret,
    device: r.device,
    instanceId,
    server: invite.server,
    https: invite.https,
    caFingerprint: invite.caFingerprint,
    caPem,
  };
}

export interface LoginOptions {
  /** SIP over TLS, `host:port`. */
  server: string;
  /** The HTTPS (enrolment) listener, `host:port`; default the server's host on port 5443. */
  https?: string;
  /** `sha256:AB:…`, the deployment CA's fingerprint (from the admin). */
  caFingerprint: string;
  user: string;
  password: string;
  /** SIP domain; default the `sip:` URI in the server's certificate (RFC 5922). */
  domain?: string;
  /** The device's instance id; a new one by default. */
  instanceId?: string;
  timeoutMs?: number;
}

/**
 * For an account with a password: checks the server against the pinned CA, then the password with a
 * REGISTER that binds nothing (a query, RFC 3261 §10.2.3), and returns the credentials to store.
 */
export async function login(o: LoginOptions): Promise<DeviceCredentials> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const pin = normalizeFingerprint(o.caFingerprint);
  const { host, port } = splitHostPort(o.server);
  const https = o.https ?? `${host.includes(':') ? `[${host}]` : host}:5443`;
  const instanceId = o.instanceId ?? randomUUID();
  const user = o.user.trim().toLowerCase();
  const caPem = await fetchPinnedCa(https, pin, timeoutMs);

  const ua = new UserAgent({
    uri: new URI('sip', user, 'invalid'),
    transportConstructor: TlsTransport,
    transportOptions: { host, port, ca: caPem, caFingerprint: pin, timeoutMs },
    contactParams: { transport: 'tls' },
    logBuiltinEnabled: false,
    logConfiguration: false,
    logLevel: 'error',
  });
  const transport = ua.transport as TlsTransport;
  const digest = useRfc8760Digest(ua, { username: user, password: o.password });
  try {
    await ua.start();
    const domain = o.domain ?? sipDomainOf(transport);
    if (!domain)
      throw new EnrollError('server-error', 'the server certificate names no sip: domain; pass domain');
    const aor = new URI('sip', user, domain);
    const request = ua.userAgentCore.makeOutgoingRequestMessage(
      'REGISTER',
      new URI('sip', '', domain),
      aor,
      aor,
      {},
      [],
      undefined,
    );
    const final = await new Promise<Core.IncomingResponseMessage>((resolve) => {
      const timer = setTimeout(() => {
        const m = new Core.IncomingResponseMessage();
        m.statusCode = 408;
        m.reasonPhrase = 'No Answer';
        resolve(m);
      }, timeoutMs);
      const done = (r: { message: Core.IncomingResponseMessage }) => {
        clearTimeout(timer);
        resolve(r.message);
      };
      ua.userAgentCore.register(request, { onAccept: done, onReject: done, onRedirect: done });
    });
    const status = final.statusCode ?? 0;
    if (status === 401 || status === 407 || (status === 403 && final.reasonPhrase === 'Identity Mismatch')) {
      throw new EnrollError(
        'wrong-credentials',
        `the server refused the user name or password for ${user}`,
        status,
      );
    }
    if (status === 403 && final.hasHeader('Retry-After')) {
      const retry = Number(final.getHeader('Retry-After'));
      throw new EnrollError('rate-limited', 'too many failed attempts: try again later', 403, retry);
    }
    if (status !== 200) {
      throw new EnrollError(
        'server-error',
        `login failed: ${status} ${final.reasonPhrase ?? ''}`.trim(),
        status,
      );
    }
    return {
      user,
      domain,
      aor: `sip:${user}@${domain}`,
      realm: digest()?.challengeRealm ?? domain,
      username: user,
      secret: o.password,
      instanceId,
      server: o.server,
      https,
      caFingerprint: pin,
      caPem,
    };
  } finally {
    await ua.stop().catch(() => undefined);
    await transport.dispose().catch(() => undefined);
  }
}

/** The domain in the server certificate's `URI:sip:<domain>` subjectAltName (RFC 5922 §7.1). */
function sipDomainOf(transport: TlsTransport): string | undefined {
  const cert = transport.socket?.getPeerX509Certificate();
  for (const uri of cert ? uriSans(cert) : []) {
    const m = /^sips?:([a-z0-9.-]+)$/i.exec(uri);
    if (m) return m[1]!.toLowerCase();
  }
  return undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
