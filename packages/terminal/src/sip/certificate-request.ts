import { CERTIFICATE_EVENT, CHAIN_TYPE, PKCS10_TYPE } from '@tsunagu/protocol';
import type { URI, UserAgent } from 'sip.js';
import { warningText } from './warning.js';

/**
 * Asks the deployment CA for a certificate through the signalling connection: a PUBLISH (RFC 3903) of
 * our PKCS#10 request to our own AOR, answered by a 200 OK whose body is the certificate chain
 * (docs/protocol.md "Certificates"). sip.js's Publisher never shows the 2xx body, so this goes through
 * the user agent core, as REGISTER does.
 */
/** The server refused the request, or did not answer in time (status 408). */
export class CertificateRequestError extends Error {
  override readonly name = 'CertificateRequestError';
  constructor(
    readonly status: number,
    message: string,
    /** Seconds, from Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** A refusal of the request itself (4xx but a timeout): sending the same one again would not help. */
  get final(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 408;
  }
}

/**
 * Sends the request (`csrDer`: the DER of a PKCS#10 request, sent base64-encoded as EST does, RFC 7030
 * §4.2.1) and resolves with the PEM chain of the 200 OK, leaf first.
 */
export function requestCertificate(
  ua: UserAgent,
  aor: URI,
  csrDer: Buffer,
  timeoutMs = 30_000,
): Promise<string> {
  const request = ua.userAgentCore.makeOutgoingRequestMessage(
    'PUBLISH',
    aor,
    aor,
    aor,
    {},
    [`Event: ${CERTIFICATE_EVENT}`, `Accept: ${CHAIN_TYPE}`],
    { contentDisposition: 'render', contentType: PKCS10_TYPE, content: csrDer.toString('base64') },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      outgoing.dispose();
      reject(new CertificateRequestError(408, 'the server did not answer the certificate request'));
    }, timeoutMs);
    const outgoing = ua.userAgentCore.publish(request, {
      onAccept: (res) => {
        clearTimeout(timer);
        const type = (res.message.getHeader('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== CHAIN_TYPE || !res.message.body)
          reject(
            new CertificateRequestError(500, `the server answered without a certificate chain (${type})`),
          );
        else resolve(res.message.body);
      },
      onReject: (res) => {
        clearTimeout(timer);
        const m = res.message;
        const status = m.statusCode ?? 500;
        // The server explains a refusal in a Warning (RFC 3261 §20.43: 399 host "text").
        const warning = warningText(m.getHeader('Warning'));
        const retry = Number(m.getHeader('Retry-After')?.split(/[;\s(]/)[0]);
        reject(
          new CertificateRequestError(
            status,
            `the server refused the certificate request: ${status} ${m.reasonPhrase ?? ''}`.trim() +
              (warning ? ` (${warning})` : ''),
            Number.isFinite(retry) && retry >= 0 ? retry : undefined,
          ),
        );
      },
    });
  });
}
