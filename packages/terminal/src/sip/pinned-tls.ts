import { OUT_OF_VALIDITY_CODES, UNTRUSTED_CHAIN_CODES } from '@tsunagu/server/ca';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/**
 * TLS to the deployment's own server with the CA pinned (DESIGN.md "Signalling": the terminal pins
 * the CA whose SHA-256 fingerprint came in the invite link; never trust-on-first-use).
 *
 * Two checks, both required:
 * 1. the CA certificate we hold has exactly the pinned fingerprint (so a wrong or swapped `ca.pem`
 *    can never widen what we trust), and it is the only trust anchor given to OpenSSL;
 * 2. after OpenSSL verified the chain and the host name against it, the presented chain is checked
 *    once more to contain a certificate issued and signed by that CA (defence in depth).
 * Any failure is a {@link ServerCertificateError} whose message says what it means.
 */

export class ServerCertificateError extends Error {
  override readonly name = 'ServerCertificateError';
  constructor(
    /**
     * `untrusted`: the certificate does not chain to the pinned CA (possible interception);
     * `ca-mismatch`: a CA certificate offered to us does not have the pinned fingerprint;
     * `name-mismatch`: issued by the pinned CA but for another host;
     * `expired`: outside its validity period.
     */
    readonly kind: 'untrusted' | 'ca-mismatch' | 'name-mismatch' | 'expired',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const FINGERPRINT = /^(?:sha256:)?((?:[0-9a-f]{2}:){31}[0-9a-f]{2})$/i;

/** `sha256:AB:CD:…` (upper-case), from that form or bare hex pairs; throws on anything else. */
export function normalizeFingerprint(text: string): string {
  const m = FINGERPRINT.exec(text.trim());
  if (!m) throw new TypeError(`not a SHA-256 certificate fingerprint: ${JSON.stringify(text)}`);
  return `sha256:${m[1]!.toUpperCase()}`;
}

/** The pinned-fingerprint form (`sha256:AB:…`) of a PEM certificate. */
export function certificateFingerprint(pem: string | X509Certificate): string {
  const x = typeof pem === 'string' ? new X509Certificate(pem) : pem;
  return `sha256:${x.fingerprint256}`;
}

/**
 * Parses the CA certificate and checks it is a CA with the pinned fingerprint. `source` says where it
 * came from, for the error message.
 */
export function checkPinnedCa(caPem: string, pin: string, source = 'the CA certificate'): X509Certificate {
  const wanted = normalizeFingerprint(pin);
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
  } catch (err) {
    throw new ServerCertificateError('ca-mismatch', `${source} is not a PEM certificate`, { cause: err });
  }
  const got = certificateFingerprint(ca);
  if (got !== wanted) {
    throw new ServerCertificateError(
      'ca-mismatch',
      `${source} has fingerprint ${got}, not the pinned ${wanted}: it is not your organisation's CA ` +
        `(possible interception); refusing to trust it`,
    );
  }
  if (!ca.ca) {
    throw new ServerCertificateError('ca-mismatch', `${source} has the pinned fingerprint but is not a CA`);
  }
  return ca;
}

export interface PinnedTlsOptions {
  host: string;
  port: number;
  /** Name checked against the certificate (and sent as SNI when it is a host name). Default `host`. */
  servername?: string;
  /** The deployment CA (PEM); must have the fingerprint `caFingerprint`. */
  ca: string;
  /** `sha256:AB:CD:…` from the invite link. */
  caFingerprint: string;
  /**
   * The TLS context with this device's CA-issued certificate and key (and the deployment CA as trust
   * anchor), asked for on every connection so a renewed certificate is used from the next one on.
   * Undefined: no client certificate (digest alone authenticates).
   */
  clientContext?: () => tls.SecureContext | undefined;
  /** Handshake deadline; default 10 s. */
  timeoutMs?: number;
}

/** Turns a TLS failure into an error that says what it means for the user; other errors pass through. */
function explainTlsError(err: Error & { code?: string }, o: PinnedTlsOptions): Error {
  const where = `${net.isIPv6(o.host) ? `[${o.host}]` : o.host}:${o.port}`;
  const pin = o.caFingerprint;
  if (err instanceof ServerCertificateError) return err;
  if (err.code && UNTRUSTED_CHAIN_CODES.has(err.code)) {
    return new ServerCertificateError(
      'untrusted',
      `the server at ${where} presented a certificate that does not chain to the pinned CA (${pin}): ` +
        `possible interception; refusing to connect (${err.message})`,
      { cause: err },
    );
  }
  if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ServerCertificateError(
      'name-mismatch',
      `the server at ${where} has a certificate from the pinned CA that is not valid for ` +
        `${o.servername ?? o.host}; check the server address (${err.message})`,
      { cause: err },
    );
  }
  if (err.code && OUT_OF_VALIDITY_CODES.has(err.code)) {
    return new ServerCertificateError(
      'expired',
      `the certificate of the server at ${where} is outside its validity period (${err.message}); ` +
        `check this computer's clock`,
      { cause: err },
    );
  }
  return err;
}

/** After OpenSSL accepted the chain: some certificate in it must be issued and signed by the pinned CA. */
function assertIssuedByPinnedCa(socket: tls.TLSSocket, ca: X509Certificate, o: PinnedTlsOptions): void {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  const ok = chain.some((c) => c.checkIssued(ca) && c.verify(ca.publicKey));
  if (!socket.authorized || !ok) {
    throw new ServerCertificateError(
      'untrusted',
      `the server at ${o.host}:${o.port} presented a certificate that does not chain to the pinned CA ` +
        `(${o.caFingerprint}): possible interception; refusing to connect`,
    );
  }
}

/**
 * Opens a TLS connection (1.2 minimum) and resolves once the handshake is done and the server is
 * proven to hold a certificate from the pinned CA. Rejects with a {@link ServerCertificateError} or
 * a network error naming the address.
 */
export function connectPinned(o: PinnedTlsOptions): Promise<tls.TLSSocket> {
  let ca: X509Certificate;
  try {
    ca = checkPinnedCa(o.ca, o.caFingerprint);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const servername = o.servername ?? o.host;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: o.host,
      port: o.port,
      // SNI carries host names only (RFC 6066 §3); the certificate is still checked against an IP.
      ...(net.isIP(servername) ? {} : { servername }),
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ...clientOptions(o),
    });
    const timer = setTimeout(
      () => fail(new Error(`TLS connection to ${o.host}:${o.port} timed out`)),
      o.timeoutMs ?? 10_000,
    );
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(explainTlsError(err, o));
    };
    const closed = () =>
      fail(new Error(`${o.host}:${o.port} closed the connection during the TLS handshake`));
    socket.once('error', fail);
    socket.once('close', closed);
    socket.once('secureConnect', () => {
      try {
        assertIssuedByPinnedCa(socket, ca, o);
      } catch (err) {
        fail(err as Error);
        return;
      }
      clearTimeout(timer);
      socket.off('error', fail);
      socket.off('close', closed);
      resolve(socket);
    });
  });
}

/** The trust anchor, and the client certificate when there is one (a context replaces `ca`, so it carries it too). */
function clientOptions(o: PinnedTlsOptions): tls.ConnectionOptions {
  const context = o.clientContext?.();
  return context ? { secureContext: context } : { ca: o.ca };
}
