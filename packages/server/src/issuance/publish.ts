import { CERTIFICATE_EVENT, CHAIN_TYPE, PKCS10_TYPE } from '@tsunagu/protocol';
import {
  CsrError,
  MAX_CSR_BYTES,
  type CertificateAuthority,
  type DeviceSubject,
  type IssuedCertificate,
} from '../ca/index.js';
import { header, type Header, type SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { quote } from '../sip/syntax.js';
import { parseUri } from '../sip/uri.js';
import type { ServerTransaction } from '../transaction/transactions.js';
import type { Connection } from '../transport/connection.js';
import type { ServerContext } from '../proxy/context.js';
import { requestIdentity } from '../proxy/identity.js';

/** Refusals for each kind of bad request: status, reason phrase. */
const CSR_REFUSALS: Record<CsrError['code'], [number, string]> = {
  'too-large': [413, 'Certificate Request Too Large'],
  malformed: [400, 'Bad Certificate Request'],
  'bad-signature': [400, 'Certificate Request Signature Invalid'],
  'weak-key': [403, 'Key Too Weak'],
  'unsupported-key': [415, 'Unsupported Key Type'],
  'wrong-identity': [403, 'Request Names Another Identity'],
};

export interface IssuanceOptions {
  authority: CertificateAuthority;
  validityDays: number;
  /** Certificates one device may get per hour (renewal needs one every ~20 days). */
  perDevicePerHour: number;
  /** Issuances in progress at once, server-wide; more are answered 503. */
  maxInFlight: number;
  /** The device a connection speaks for, with its instance; undefined when it has not registered one. */
  device(conn: Connection): { id: string; instance: string } | undefined;
  /** How many certificates the device got since `since` (ms). */
  issuedSince(user: string, device: string, since: number): number;
  record(subject: DeviceSubject, issued: IssuedCertificate): void;
}

/**
 * Certificate issuance over SIP (DESIGN.md "Certificate authority"): a terminal PUBLISHes (RFC 3903) a
 * PKCS#10 request for its own key to its own AOR, and the 200 OK carries the certificate and chain.
 *
 *   PUBLISH sip:alice@example.org          Event: tsunagu-certificate
 *   Content-Type: application/pkcs10        (base64 of the DER, as EST does: RFC 7030 §4.2.1)
 *   → 200 OK  Content-Type: application/pem-certificate-chain (RFC 8555 §9.1), SIP-ETag: <serial>,
 *             Expires: <seconds the certificate is valid>
 *
 * The certificate names what the server authenticated (user, device, instance), never what the
 * request asks for; a request naming anything else is refused.
 */
export class Issuance {
  #inFlight = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly o: IssuanceOptions,
  ) {}

  onPublish(tx: ServerTransaction, conn: Connection, req: SipRequest): void {
    const ctx = this.ctx;
    const refuse = (status: number, reason?: string, detail?: string, extra: Header[] = []) => {
      ctx.metrics.responses.inc({ class: `${Math.floor(status / 100)}xx` });
      // RFC 3261 §20.43: warn-code 399 carries a message for the person behind the terminal.
      const warning = detail
        ? [{ name: 'Warning', value: `399 ${ctx.domain} ${quote(detail.slice(0, 200))}` }]
        : [];
      ctx.serverTx.respond(tx, createResponse(req, status, [...warning, ...extra], reason ? { reason } : {}));
    };

    const event = (header(req, 'Event') ?? '').split(';')[0]!.trim().toLowerCase();
    if (event !== CERTIFICATE_EVENT)
      return refuse(489, 'Bad Event', undefined, [{ name: 'Allow-Events', value: CERTIFICATE_EVENT }]);

    const who = requestIdentity(ctx, conn, req);
    if ('response' in who) return ctx.serverTx.respond(tx, who.response);
    const identity = who.identity;
    const target = parseUri(req.uri);
    if (target?.user?.toLowerCase() !== identity.user || target.host !== ctx.domain)
      return refuse(403, 'Publish To Your Own AOR', `a certificate is requested at ${identity.aor}`);

    const type = (header(req, 'Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== PKCS10_TYPE)
      return refuse(415, undefined, `the body must be ${PKCS10_TYPE}`, [
        { name: 'Accept', value: PKCS10_TYPE },
      ]);
    if (req.body.length > MAX_CSR_BYTES)
      return refuse(413, 'Certificate Request Too Large', `at most ${MAX_CSR_BYTES} bytes`);

    const device = this.o.device(conn);
    if (!device)
      return refuse(
        403,
        'Register This Device First',
        'REGISTER with +sip.instance before asking for a certificate',
      );
    const hourAgo = Date.now() - 3_600_000;
    if (this.o.issuedSince(identity.user, device.id, hourAgo) >= this.o.perDevicePerHour)
      return refuse(503, 'Too Many Certificate Requests', undefined, [{ name: 'Retry-After', value: '600' }]);
    if (this.#inFlight >= this.o.maxInFlight)
      return refuse(503, 'Certificate Authority Busy', undefined, [{ name: 'Retry-After', value: '5' }]);

    const subject: DeviceSubject = {
      user: identity.user,
      deviceId: device.id,
      instance: device.instance,
      domain: ctx.domain,
    };
    this.#inFlight++;
    this.o.authority
      .issue({ csr: req.body, subject, validityDays: this.o.validityDays })
      .then(
        (issued) => {
          this.o.record(subject, issued);
          ctx.log.info(
            {
              user: subject.user,
              device: subject.deviceId,
              serial: issued.serial,
              notAfter: issued.notAfter,
            },
            'certificate issued',
          );
          const expires = Math.max(0, Math.floor((issued.notAfter.getTime() - Date.now()) / 1000));
          ctx.metrics.responses.inc({ class: '2xx' });
          ctx.serverTx.respond(
            tx,
            createResponse(
              req,
              200,
              [
                { name: 'SIP-ETag', value: issued.serial },
                { name: 'Expires', value: String(expires) },
              ],
              { contentType: CHAIN_TYPE, body: Buffer.from(issued.chainPem, 'utf8') },
            ),
          );
        },
        (err: Error) => {
          if (err instanceof CsrError) {
            const [status, reason] = CSR_REFUSALS[err.code];
            ctx.log.info(
              { user: subject.user, device: subject.deviceId, code: err.code },
              'certificate request refused',
            );
            return refuse(status, reason, err.message);
          }
          ctx.log.error({ err: err.message }, 'the certificate authority failed');
          refuse(503, 'Certificate Authority Unavailable', undefined, [{ name: 'Retry-After', value: '30' }]);
        },
      )
      .finally(() => this.#inFlight--);
  }
}
