import { OUT_OF_VALIDITY_CODES, UNTRUSTED_CHAIN_CODES } from './verify-codes.js';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { z } from 'zod';
import { formatHostPort, ipVersion } from '../config/address.js';
import type { CertificateAuthority, IssueRequest } from './authority.js';
import { CsrError, type CsrErrorCode, type IssuedCertificate } from './device.js';
import { CSR_HTTP_STATUS } from './service.js';
import { CaError } from './x509.js';

/**
 * The session server's side of a CA in its own process (`service.ts`): a CertificateAuthority whose
 * `issue` and `crl` are HTTPS requests over mutual TLS. The session server presents its own
 * certificate (URI `sip:<domain>`, clientAuth) and trusts only the deployment CA, so the CA service's
 * certificate must come from that CA and name `remote.host`.
 *
 * A refused certificate request comes back as the same CsrError the CA raised, so terminals get the
 * same answer as with the CA in-process; anything else (CA down, slow, confused) is a plain Error
 * naming the CA's address, which the SIP side answers with 503.
 */

export interface RemoteAuthorityOptions {
  /** Per request, connection included. Default 10 s. */
  timeoutMs?: number;
}

/** The largest answer read from the CA service: a certificate chain is about 3 KiB. */
const MAX_ISSUE_RESPONSE = 64 * 1024;
/** A CRL grows by about 40 bytes per revoked certificate. */
const MAX_CRL_RESPONSE = 4 * 1024 * 1024;

const issuedSchema = z.object({
  certPem: z.string().min(1),
  chainPem: z.string().min(1),
  serial: z.string().regex(/^[0-9a-f]{1,40}$/i),
  fingerprint: z.string().regex(/^sha256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
  notBefore: z.iso.datetime({ offset: true }),
  notAfter: z.iso.datetime({ offset: true }),
});

const crlSchema = z.object({ pem: z.string().startsWith('-----BEGIN X509 CRL-----') });

const refusalSchema = z.object({ code: z.string().max(100), message: z.string().max(2000) });

/**
 * What is wrong with the CA service's certificate, for a TLS error that means "the other end is not
 * the CA service of this deployment" rather than "it is down"; undefined for any other error. (The
 * terminal's `sip/pinned-tls.ts` sorts the same codes for the session server's certificate.)
 */
function certificateProblem(code: string | undefined, host: string): string | undefined {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `does not name ${host}`;
  if (code === undefined) return undefined;
  if (OUT_OF_VALIDITY_CODES.has(code)) return `is out of its validity (${code})`;
  if (UNTRUSTED_CHAIN_CODES.has(code)) return 'is not issued by this data folder’s CA (ca/ca.pem)';
  return undefined;
}

/** TLS alerts by which the CA service says it does not accept this server's certificate. */
const REFUSED_BY_SERVICE = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

/** The CA service cannot be reached, or did not answer in time. */
class Unavailable extends Error {}

interface Answer {
  status: number;
  type: string;
  body: string;
}

/**
 * Connects to the CA service at `remote` and checks that it serves the deployment CA (`creds.ca`):
 * a CA service that presents a certificate not issued by that CA, or that serves another CA, is an
 * error (a CaError with the reason). A CA service that cannot be reached now is not: the session
 * server starts anyway, terminals asking for a certificate get 503 until it is back, and the check is
 * made again before the first request that reaches it.
 */
export async function connectRemoteAuthority(
  remote: { host: string; port: number },
  creds: { key: string; cert: string; ca: string },
  options: RemoteAuthorityOptions = {},
): Promise<CertificateAuthority> {
  const where = formatHostPort(remote);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let localCa: X509Certificate;
  try {
    localCa = new X509Certificate(creds.ca);
  } catch (e) {
    throw new CaError(`cannot read the deployment CA certificate: ${(e as Error).message}`);
  }
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 16,
    maxFreeSockets: 4,
    key: creds.key,
    cert: creds.cert,
    ca: creds.ca,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    rejectUnauthorized: true,
  });

  const once = (method: string, path: string, body: string | undefined, limit: number): Promise<Answer> =>
    new Promise((resolve, reject) => {
      let reused = false;
      let settled = false;
      const fail = (e: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(Object.assign(e, { reused }));
        req.destroy();
      };
      const req = https.request(
        {
          agent,
          host: remote.host,
          port: remote.port,
          // SNI carries names only; the certificate is checked against `host` either way.
          ...(ipVersion(remote.host) === 0 ? { servername: remote.host } : {}),
          method,
          path,
          headers: {
            Accept: 'application/json, application/x-pem-file',
            ...(body !== undefined
              ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) fail(new Error(`the answer is larger than ${limit} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              type: (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(),
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', fail);
          res.on('aborted', () => fail(new Error('the connection closed in the middle of the answer')));
        },
      );
      const timer = setTimeout(
        () => fail(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      req.on('socket', () => (reused = req.reusedSocket));
      req.on('error', fail);
      req.end(body);
    });

  /** Turns a failed request into a CaError (not this deployment's CA service) or Unavailable. */
  const explain = (err: Error & { code?: string }): Error => {
    const problem = certificateProblem(err.code, remote.host);
    if (problem !== undefined) {
      return new CaError(
        `the CA service at ${where} is not the CA service of this deployment: its certificate ${problem}`,
      );
    }
    if (err.code && REFUSED_BY_SERVICE.has(err.code)) {
      return new CaError(
        `the CA service at ${where} does not accept this server's certificate (tls/server.pem) (${err.code}): it was not issued by the CA that service holds`,
      );
    }
    const detail = err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
    return new Unavailable(`the certificate authority at ${where} is unavailable (${detail})`);
  };

  /**
   * One request; a keep-alive connection the CA service closed just as it was reused is retried once
   * on a new one (nothing reached the service).
   */
  const call = async (method: string, path: string, body: unknown, limit: number): Promise<Answer> => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    try {
      return await once(method, path, data, limit).catch((e: Error & { code?: string; reused?: boolean }) => {
        if (e.reused && (e.code === 'ECONNRESET' || e.code === 'EPIPE'))
          return once(method, path, data, limit);
        throw e;
      });
    } catch (e) {
      throw explain(e as Error & { code?: string });
    }
  };

  const refused = (a: Answer): Error => {
    let parsed: z.infer<typeof refusalSchema> | undefined;
    try {
      const r = refusalSchema.safeParse(JSON.parse(a.body));
      parsed = r.success ? r.data : undefined;
    } catch {
      parsed = undefined;
    }
    // A refusal of the request itself, with the status the service gives that refusal.
    if (parsed && Object.hasOwn(CSR_HTTP_STATUS, parsed.code)) {
      const code = parsed.code as CsrErrorCode;
      if (CSR_HTTP_STATUS[code] === a.status) return new CsrError(code, parsed.message);
    }
    const detail = parsed ? `${parsed.code}: ${parsed.message}` : `HTTP ${a.status}`;
    return new Error(`the certificate authority at ${where} refused the request (${a.status} ${detail})`);
  };

  const json = (a: Answer): unknown => {
    if (a.type !== 'application/json')
      throw new Error(
        `the certificate authority at ${where} answered ${a.type || 'no content type'}, not JSON`,
      );
    try {
      return JSON.parse(a.body);
    } catch {
      throw new Error(`the certificate authority at ${where} answered invalid JSON`);
    }
  };

  /** Checks that the service serves the deployment CA; caches success. */
  let verified: Promise<void> | undefined;
  const verify = (): Promise<void> => {
    verified ??= (async () => {
      const a = await call('GET', '/v1/ca.pem', undefined, MAX_ISSUE_RESPONSE);
      if (a.status !== 200) throw new CaError(refused(a).message);
      let served: X509Certificate;
      try {
        served = new X509Certificate(a.body);
      } catch {
        throw new CaError(`the CA service at ${where} serves no CA certificate at /v1/ca.pem`);
      }
      if (!served.raw.equals(localCa.raw)) {
        throw new CaError(
          `the CA service at ${where} serves another CA (sha256:${served.fingerprint256}) than this data folder's ca/ca.pem (sha256:${localCa.fingerprint256}): point ca.remote in config.json at the CA folder created with this one, or copy its ca/ca.pem here`,
        );
      }
    })();
    // A failure is not cached: the next request checks again.
    verified.catch(() => (verified = undefined));
    return verified;
  };

  try {
    await verify();
  } catch (e) {
    if (!(e instanceof Unavailable)) {
      agent.destroy();
      throw e;
    }
    // Unreachable now: requests check again (and fail, answered 503, until it is back).
  }

  return {
    caCertPem: creds.ca,

    async issue(request: IssueRequest): Promise<IssuedCertificate> {
      await verify();
      const csr = Buffer.isBuffer(request.csr) ? request.csr : Buffer.from(request.csr, 'utf8');
      const a = await call(
        'POST',
        '/v1/issue',
        {
          csr: csr.toString('base64'),
          subject: {
            user: request.subject.user,
            deviceId: request.subject.deviceId,
            instance: request.subject.instance,
            domain: request.subject.domain,
          },
          validityDays: request.validityDays,
        },
        MAX_ISSUE_RESPONSE,
      );
      if (a.status !== 200) throw refused(a);
      const r = issuedSchema.safeParse(json(a));
      if (!r.success)
        throw new Error(`the certificate authority at ${where} answered an unexpected JSON shape`);
      // What goes to the terminal must be a certificate of this deployment's CA, as the answer says.
      let x: X509Certificate;
      try {
        x = new X509Certificate(r.data.certPem);
      } catch {
        throw new Error(`the certificate authority at ${where} answered something that is not a certificate`);
      }
      if (!x.verify(localCa.publicKey) || `sha256:${x.fingerprint256}` !== r.data.fingerprint) {
        throw new Error(
          `the certificate authority at ${where} answered a certificate not signed by this deployment's CA`,
        );
      }
      return {
        certPem: r.data.certPem,
        chainPem: r.data.chainPem,
        serial: r.data.serial.toLowerCase(),
        fingerprint: r.data.fingerprint,
        notBefore: new Date(r.data.notBefore),
        notAfter: new Date(r.data.notAfter),
      };
    },

    async crl(revoked, crlNumber) {
      await verify();
      const a = await call(
        'POST',
        '/v1/crl',
        // No date: the CA dates the CRL by its own clock.
        {
          revoked: revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt.toISOString() })),
          crlNumber,
        },
        MAX_CRL_RESPONSE,
      );
      if (a.status !== 200) throw refused(a);
      const r = crlSchema.safeParse(json(a));
      if (!r.success) throw new Error(`the certificate authority at ${where} answered no CRL`);
      return r.data.pem;
    },

    async close() {
      agent.destroy();
    },
  };
}
