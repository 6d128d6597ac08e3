import { derFromPem } from '../ca/x509.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';
import { FailureThrottle } from '../auth/throttle.js';
import { plainAddress } from '../transport/connection.js';

/**
 * Invite redemption over HTTPS (`POST /enroll` on the WSS listener; the seed allows HTTP in place of
 * SIP, [0073]). A terminal that holds a one-time invite token trades it for a device credential; from
 * then on it authenticates with SIP Digest as `user/device`. The token travels in the body, never in a
 * URL that could be logged.
 */

export interface EnrollRequest {
  user: string;
  token: string;
  instance: string;
  name: string;
}

export interface EnrollResult {
  user: string;
  aor: string;
  device: string;
  /** Digest username (`user/device`) and the secret to use as its password. */
  username: string;
  secret: string;
  realm: string;
  domain: string;
}

/** Redeems the token and creates the device atomically; undefined for any invalid token. */
export type Redeem = (req: EnrollRequest) => { device: string; secret: string } | undefined;

const MAX_BODY = 4096;
const FIELD = /^[\x20-\x7e]{1,200}$/;
/** A device name is shown to people: any printable characters, in any script. */
const NAME_FIELD = /^[^\x00-\x1f\x7f]{1,64}$/u;

export function enrollHandler(opts: {
  domain: string;
  realm: string;
  /**
   * The deployment CA certificate (PEM), served at `GET /ca.pem`. It is public: a terminal holding only
   * the CA fingerprint from its invite link fetches it, checks the fingerprint, then verifies this
   * server's certificate against it before sending its token.
   */
  caPem: string;
  /** The CA's current CRL (PEM), served at `GET /ca.crl` (DER, RFC 2585) and `GET /ca-crl.pem`. */
  crl?: () => Promise<string>;
  redeem: Redeem;
  log: Logger;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const perAddress = new FailureThrottle(20, 60_000);
  const send = (res: ServerResponse, status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  return (req, res) => {
    if (req.url === '/healthz' && req.method === 'GET') return send(res, 200, { status: 'ok' });
    if (req.url === '/ca.pem' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file', 'cache-control': 'no-store' });
      res.end(opts.caPem);
      return;
    }
    if ((req.url === '/ca.crl' || req.url === '/ca-crl.pem') && req.method === 'GET' && opts.crl) {
      const der = req.url === '/ca.crl';
      opts.crl().then(
        (pem) => {
          res.writeHead(200, {
            'content-type': der ? 'application/pkix-crl' : 'application/x-pem-file',
            'cache-control': 'no-store',
          });
          res.end(der ? derFromPem(pem) : pem);
        },
        (err: Error) => {
          opts.log.error({ err: err.message }, 'could not produce the CRL');
          send(res, 503, { error: 'the certificate authority is unavailable' });
        },
      );
      return;
    }
    if (req.url !== '/enroll') return send(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
    const source = plainAddress(req.socket.remoteAddress);
    const wait = perAddress.retryAfter(source);
    if (wait > 0) {
      res.setHeader('retry-after', String(wait));
      return send(res, 429, { error: 'too many failed attempts; try later' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > MAX_BODY) {
        refused = true;
        // Answer, then hang up: the rest of the body is never read.
        res.setHeader('connection', 'close');
        send(res, 413, { error: 'body too large' });
        req.socket.end();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (refused || res.headersSent) return;
      let body: Partial<Record<keyof EnrollRequest, unknown>>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        return send(res, 400, { error: 'body must be JSON' });
      }
      const fields = ['user', 'token', 'instance', 'name'] as const;
      for (const f of fields) {
        const v = body?.[f];
        const pattern = f === 'name' ? NAME_FIELD : FIELD;
        if (typeof v !== 'string' || !pattern.test(v)) {
          const what =
            f === 'name' ? '1 to 64 printable characters' : 'a printable ASCII string of 1 to 200 characters';
          return send(res, 400, { error: `field "${f}" must be ${what}` });
        }
      }
      const request = body as EnrollRequest;
      const user = request.user.toLowerCase();
      const result = opts.redeem({ ...request, user });
      if (!result) {
        perAddress.fail(source);
        opts.log.info({ user, source }, 'invite redemption refused');
        return send(res, 403, { error: 'invite is invalid, already used or expired' });
      }
      opts.log.info({ user, device: result.device, source }, 'device enrolled');
      const out: EnrollResult = {
        user,
        aor: `sip:${user}@${opts.domain}`,
        device: result.device,
        username: `${user}/${result.device}`,
        secret: result.secret,
        realm: opts.realm,
        domain: opts.domain,
      };
      send(res, 200, out);
    });
  };
}
