import type { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { z } from 'zod';
import { formatHostPort, ipVersion, isHostname, type HostPort } from '../config/address.js';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../log/logger.js';
import type { CertificateAuthority } from './authority.js';
import { issueTlsCertificate, type KeyAndCertificate } from './ca.js';
import { CsrError, MAX_CSR_BYTES, type CsrErrorCode, type DeviceSubject } from './device.js';
import { newPrivateFolder, writeCertificateFile, writePrivateKeyFile } from './files.js';
import { CaError } from './x509.js';

/**
 * The certificate authority as its own process (`tsunagu-server ca --data CADIR`): the only holder of
 * the CA key, answering the session server over mutual TLS (`remote.ts` is the other end).
 *
 *   POST /v1/issue   {csr: base64, subject: {user, deviceId, instance, domain}, validityDays}
 *                    → 200 {certPem, chainPem, serial, fingerprint, notBefore, notAfter}
 *                    → 400/403/413/415 {code, message} for a refused request (a CsrError code)
 *   POST /v1/crl     {revoked: [{serial, revokedAt}], crlNumber} → 200 {pem}
 *   GET  /v1/ca.pem  the CA certificate
 *   GET  /healthz    {status: "ok"}
 *
 * Only the session server of the deployment gets an answer: its client certificate must chain to the
 * deployment CA (checked by OpenSSL during the handshake: no certificate, or another CA's, ends the
 * connection there), carry the URI `sip:<domain>` and allow clientAuth. Terminal certificates, from
 * the same CA, name `sip:user@domain` and never the bare domain, so a terminal cannot ask the CA
 * directly (403).
 *
 * Every certificate issued is appended as one JSON line to the audit file (0600), before the answer
 * goes out: the CA keeps the register of what it signed, with owner and device, even if the session
 * server's database is lost. Key material is never logged.
 */

/** The port `init --ca-data` picks when `--ca-listen` gives none. */
export const DEFAULT_CA_SERVICE_PORT = 9462;
export const DEFAULT_CA_SERVICE_HOST = '127.0.0.1';

/** The largest JSON body of POST /v1/issue. */
const MAX_ISSUE_BODY = 32 * 1024;
/** The largest JSON body of POST /v1/crl: about 12 000 revoked certificates still under their validity. */
const MAX_CRL_BODY = 1024 * 1024;

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** HTTP status for each refusal of a certificate request; `remote.ts` turns them back into CsrErrors. */
export const CSR_HTTP_STATUS: Record<CsrErrorCode, number> = {
  'too-large': 413,
  malformed: 400,
  'bad-signature': 400,
  'weak-key': 403,
  'unsupported-key': 415,
  'wrong-identity': 403,
};

// ---- the CA folder ----

/** The files of a CA folder (`init --ca-data CADIR`). */
export interface CaFolderPaths {
  root: string;
  /** `ca.json`: {version: 1, domain, listen: {host, port}}. */
  config: string;
  caDir: string;
  caKey: string;
  caCert: string;
  tlsDir: string;
  /** The CA service's own TLS key and certificate (issued by the CA for the listen host). */
  tlsKey: string;
  tlsCert: string;
  /** One JSON line per certificate issued. */
  audit: string;
}

export function caFolderPaths(dir: string): CaFolderPaths {
  const root = path.resolve(dir);
  const caDir = path.join(root, 'ca');
  const tlsDir = path.join(root, 'tls');
  return {
    root,
    config: path.join(root, 'ca.json'),
    caDir,
    caKey: path.join(caDir, 'ca.key'),
    caCert: path.join(caDir, 'ca.pem'),
    tlsDir,
    tlsKey: path.join(tlsDir, 'service.key'),
    tlsCert: path.join(tlsDir, 'service.pem'),
    audit: path.join(root, 'issued.jsonl'),
  };
}

const listenHost = z
  .string()
  .refine((s) => (ipVersion(s) !== 0 || isHostname(s)) && !isWildcard(s), {
    error: (iss) =>
      `must be the host name or IP address the session server connects to, without brackets; not a wildcard (got ${JSON.stringify(iss.input)})`,
  })
  .transform((s) => s.toLowerCase());

const caFolderSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  domain: z.string().refine(isHostname, { error: 'must be a DNS name such as example.org' }),
  listen: z.strictObject({
    host: listenHost,
    port: z.number().int().min(1).max(65535, { error: 'must be an integer from 1 to 65535' }),
  }),
});

export type CaFolderConfig = z.output<typeof caFolderSchema>;

function isWildcard(host: string): boolean {
  const v = ipVersion(host);
  return (v === 4 && host === '0.0.0.0') || (v === 6 && /^[0:]+$/.test(host));
}

/** Reads and validates `CADIR/ca.json`; a ConfigError names the file and the problem. */
export function loadCaFolderConfig(dir: string): CaFolderConfig {
  const p = caFolderPaths(dir);
  let text: string;
  try {
    text = fs.readFileSync(p.config, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(
        `no ca.json in ${p.root}: create the CA folder with \`tsunagu-server init --data SERVER-DIR --domain DOMAIN --ca-data ${p.root}\``,
      );
    }
    throw new ConfigError(`cannot read ${p.config}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${p.config}: not valid JSON: ${(e as Error).message}`);
  }
  const r = caFolderSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(`${p.config}: ${lines.join('; ')}`);
  }
  return { ...r.data, domain: r.data.domain.toLowerCase() };
}

/**
 * The CA service's TLS certificate, signed by the CA: SAN = `host` (DNS name or IP address), CN the
 * same, extKeyUsage serverAuth only and no SIP URI, so it can never stand in for the session server
 * (to terminals or to this service). Valid as long as the CA by default: only this deployment's
 * session server ever trusts it.
 */
export function issueCaServiceCertificate(o: {
  ca: KeyAndCertificate;
  host: string;
  validityDays?: number;
  now?: Date;
}): KeyAndCertificate {
  return issueTlsCertificate({
    ca: o.ca,
    hosts: [o.host],
    organization: 'Tsunagu CA service',
    clientAuth: false,
    validityDays: o.validityDays ?? 3650,
    now: o.now,
  });
}

export interface CreateCaFolderOptions {
  dir: string;
  domain: string;
  /** Where the CA service listens, and the name the session server connects to. */
  listen: HostPort;
  /** The deployment CA (its key unencrypted here; written encrypted when `passphrase` is given). */
  ca: KeyAndCertificate;
  passphrase?: string;
}

/**
 * Creates a CA folder: `ca/ca.key` (0600, encrypted with `passphrase` if given) and `ca/ca.pem`,
 * `tls/service.key` + `tls/service.pem` (the CA service's certificate for `listen.host`), `ca.json`
 * last. Refuses a folder that exists and is not empty; removes what it created if a step fails.
 * Returns a function that removes it all again (for a caller whose own later steps fail).
 */
export function createCaFolder(o: CreateCaFolderOptions): { remove(): void } {
  const p = caFolderPaths(o.dir);
  const config = caFolderSchema.safeParse({ version: 1, domain: o.domain, listen: o.listen });
  if (!config.success) {
    throw new ConfigError(
      `invalid CA listen address ${formatHostPort(o.listen)}: ${config.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const folder = newPrivateFolder(p.root, 'choose a new folder for the CA (nothing was changed)');
  try {
    folder.create();
    fs.mkdirSync(p.caDir, { mode: 0o700 });
    fs.mkdirSync(p.tlsDir, { mode: 0o700 });
    writePrivateKeyFile(p.caKey, o.ca.keyPem, o.passphrase !== undefined ? { passphrase: o.passphrase } : {});
    writeCertificateFile(p.caCert, o.ca.certPem);
    const service = issueCaServiceCertificate({ ca: o.ca, host: config.data.listen.host });
    writePrivateKeyFile(p.tlsKey, service.keyPem);
    writeCertificateFile(p.tlsCert, service.certPem);
    fs.writeFileSync(p.config, `${JSON.stringify(config.data, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
  } catch (e) {
    folder.remove();
    throw e;
  }
  return folder;
}

/**
 * Refuses a CA folder inside the data folder, or the other way round (ConfigError): the point of a
 * CA folder is that the session server never holds the CA key.
 */
export function assertCaFolderApart(caDir: string, dataDir: string): void {
  const a = path.resolve(caDir);
  const b = path.resolve(dataDir);
  const inside = (x: string, y: string) => x === y || x.startsWith(`${y}${path.sep}`);
  if (inside(a, b) || inside(b, a)) {
    throw new ConfigError(
      `the CA folder ${a} and the data folder ${b} must be apart (neither inside the other): the point is that the session server never holds the CA key`,
    );
  }
}

// ---- the service ----

export interface ServeAuthorityOptions {
  /** Opened by the caller, who also closes it. */
  authority: CertificateAuthority;
  /** The SIP domain: the session server's certificate must carry the URI `sip:<domain>`. */
  domain: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The service's own TLS key and certificate. */
  tls: { key: string; cert: string };
  /** The CA that client certificates must chain to (the deployment CA). */
  caPem: string;
  /** Appended to (created 0600 if missing) with one JSON line per certificate issued. */
  auditFile: string;
  log: Logger;
  /** Default 64. */
  maxConnections?: number;
}

export interface AuthorityService {
  address: { host: string; port: number };
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' });

const issueSchema = z.strictObject({
  // base64 of the PUBLISH body, exactly as the terminal sent it (the CA parses it, as in-process).
  csr: z
    .string()
    .max(Math.ceil(((MAX_CSR_BYTES + 1) * 4) / 3) + 4)
    .regex(base64, { error: 'must be base64' }),
  subject: z.strictObject({
    user: text(256),
    deviceId: text(128),
    instance: text(256),
    domain: text(253),
  }),
  validityDays: z.number().int().min(1).max(36_500),
});

const isoDate = z
  .string()
  .max(40)
  .refine((s) => !Number.isNaN(Date.parse(s)), { error: 'must be an ISO 8601 date' });

const crlSchema = z.strictObject({
  revoked: z
    .array(z.strictObject({ serial: z.string().regex(/^[0-9a-fA-F:]{1,60}$/), revokedAt: isoDate }))
    .max(100_000),
  crlNumber: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

function firstIssue(error: z.ZodError): string {
  const i = error.issues[0];
  return i ? `${i.path.join('.') || 'body'}: ${i.message}` : 'invalid request';
}

/** URI SANs and extKeyUsage of a certificate, read with forge (no string parsing of Node's SAN text). */
function clientNames(x: X509Certificate): { uris: string[]; clientAuth: boolean } {
  const cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(x.raw.toString('binary')));
  const san = cert.getExtension('subjectAltName') as
    { altNames?: { type: number; value?: unknown }[] } | undefined;
  const uris = (san?.altNames ?? [])
    .filter((n) => n.type === 6 && typeof n.value === 'string')
    .map((n) => (n.value as string).toLowerCase());
  const eku = cert.getExtension('extKeyUsage') as Record<string, unknown> | undefined;
  const clientAuth = eku !== undefined && (eku['clientAuth'] === true || eku[CLIENT_AUTH_OID] === true);
  return { uris, clientAuth };
}

/**
 * Serves `authority` on `host:port` over mutual TLS until `close()`. Resolves once listening.
 */
export async function serveAuthority(o: ServeAuthorityOptions): Promise<AuthorityService> {
  const domain = o.domain.toLowerCase();
  const expectedUri = `sip:${domain}`;
  const log = o.log;
  const caPem = o.authority.caCertPem;

  const audit = await openAudit(o.auditFile);

  /** The verdict on a connection's client certificate, once per connection (keep-alive reuses it). */
  const verdicts = new WeakMap<TLSSocket, string | null>();
  const clientRefusal = (socket: TLSSocket, client: string): string | null => {
    const known = verdicts.get(socket);
    if (known !== undefined) return known;
    let refusal: string | null = null;
    const x = socket.authorized ? socket.getPeerX509Certificate() : undefined;
    if (!x) refusal = 'a client certificate issued by the deployment CA is required';
    else {
      try {
        const names = clientNames(x);
        if (!names.uris.includes(expectedUri))
          refusal = `only the session server of ${domain} (certificate URI ${expectedUri}) may use this CA`;
        else if (!names.clientAuth) refusal = 'the client certificate does not allow clientAuth';
      } catch {
        refusal = 'the client certificate cannot be read';
      }
    }
    verdicts.set(socket, refusal);
    if (refusal !== null) log.warn({ client }, `refused a client: ${refusal}`);
    return refusal;
  };

  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json'): void => {
    const data = type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body);
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(data),
      'Cache-Control': 'no-store',
    });
    res.end(data);
  };

  const readJson = async (req: IncomingMessage, limit: number): Promise<unknown> => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json')
      throw new HttpError(415, 'unsupported-media-type', 'the body must be application/json');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) throw new HttpError(413, 'too-large', `the body is larger than ${limit} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, 'too-large', `the body is larger than ${limit} bytes`);
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, 'bad-request', 'the body is not valid JSON');
    }
  };

  const issue = async (req: IncomingMessage, res: ServerResponse, client: string): Promise<void> => {
    const parsed = issueSchema.safeParse(await readJson(req, MAX_ISSUE_BODY));
    if (!parsed.success) throw new HttpError(400, 'bad-request', firstIssue(parsed.error));
    const { csr, validityDays } = parsed.data;
    const subject: DeviceSubject = {
      ...parsed.data.subject,
      domain: parsed.data.subject.domain.toLowerCase(),
    };
    if (subject.domain !== domain)
      throw new HttpError(400, 'bad-request', `this CA issues certificates for ${domain} only`);
    let issued;
    try {
      issued = await o.authority.issue({ csr: Buffer.from(csr, 'base64'), subject, validityDays });
    } catch (e) {
      if (e instanceof CsrError) {
        log.info(
          { user: subject.user, device: subject.deviceId, code: e.code, client },
          'certificate request refused',
        );
        throw new HttpError(CSR_HTTP_STATUS[e.code], e.code, e.message);
      }
      if (e instanceof CaError) throw new HttpError(500, 'ca-error', e.message);
      throw e;
    }
    const line = {
      at: new Date().toISOString(),
      serial: issued.serial,
      fingerprint: issued.fingerprint,
      user: subject.user,
      device: subject.deviceId,
      instance: subject.instance,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      client,
    };
    try {
      await audit.append(`${JSON.stringify(line)}\n`);
    } catch (e) {
      // A certificate the register does not know must not go out.
      log.error({ err: (e as Error).message, file: o.auditFile }, 'cannot write the audit file');
      throw new HttpError(500, 'audit-failed', 'the CA cannot record the certificate; nothing was issued');
    }
    log.info(
      {
        user: subject.user,
        device: subject.deviceId,
        serial: issued.serial,
        notAfter: line.notAfter,
        client,
      },
      'certificate issued',
    );
    send(res, 200, {
      certPem: issued.certPem,
      chainPem: issued.chainPem,
      serial: issued.serial,
      fingerprint: issued.fingerprint,
      notBefore: line.notBefore,
      notAfter: line.notAfter,
    });
  };

  const crl = async (req: IncomingMessage, res: ServerResponse, client: string): Promise<void> => {
    const parsed = crlSchema.safeParse(await readJson(req, MAX_CRL_BODY));
    if (!parsed.success) throw new HttpError(400, 'bad-request', firstIssue(parsed.error));
    const revoked = parsed.data.revoked.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) }));
    let pem: string;
    try {
      // Dated by the CA's own clock: the session server sends no date.
      pem = await o.authority.crl(revoked, parsed.data.crlNumber, new Date());
    } catch (e) {
      if (e instanceof CaError) throw new HttpError(400, 'bad-request', e.message);
      throw e;
    }
    log.info({ revoked: revoked.length, crlNumber: parsed.data.crlNumber, client }, 'CRL signed');
    send(res, 200, { pem });
  };

  const routes: Record<
    string,
    Record<string, (req: IncomingMessage, res: ServerResponse, client: string) => Promise<void>>
  > = {
    '/v1/issue': { POST: issue },
    '/v1/crl': { POST: crl },
    '/v1/ca.pem': {
      GET: async (_req, res) => send(res, 200, caPem, 'application/x-pem-file'),
    },
    '/healthz': { GET: async (_req, res) => send(res, 200, { status: 'ok' }) },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const socket = req.socket as TLSSocket;
    const client = formatHostPort({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    try {
      const refusal = clientRefusal(socket, client);
      if (refusal !== null) throw new HttpError(403, 'forbidden', refusal);
      const url = (req.url ?? '/').split('?')[0]!;
      const route = routes[url];
      if (!route) throw new HttpError(404, 'not-found', `no such path ${url.slice(0, 100)}`);
      const method = req.method ?? 'GET';
      const fn = route[method];
      if (!fn) {
        res.setHeader('Allow', Object.keys(route).join(', '));
        throw new HttpError(405, 'method-not-allowed', `${url} takes ${Object.keys(route).join(', ')}`);
      }
      await fn(req, res, client);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) {
        // The rest of an oversized body is not read: close the connection after the answer.
        if (e.status === 413) res.setHeader('Connection', 'close');
        send(res, e.status, { code: e.code, message: e.message });
        return;
      }
      log.error({ err: (e as Error)?.message ?? String(e), client }, 'CA request failed');
      send(res, 500, { code: 'internal', message: 'internal error of the CA service' });
    }
  };

  const server = https.createServer(
    {
      key: o.tls.key,
      cert: o.tls.cert,
      ca: o.caPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: 10_000,
      maxHeaderSize: 8192,
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 30_000,
    },
    (req, res) => void handle(req, res),
  );
  server.maxConnections = o.maxConnections ?? 64;
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    log.info({ client: socket.remoteAddress, err: err.code ?? err.message }, 'TLS handshake refused');
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await audit.close();
    throw e;
  }
  server.on('error', (err) => log.error({ err: err.message }, 'CA service error'));
  const bound = server.address() as { address: string; port: number };
  const address = { host: bound.address, port: bound.port };

  let closing: Promise<void> | undefined;
  return {
    address,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await audit.close();
      })()),
  };
}

/** The audit file: appended to one line at a time, each flushed to disk before the answer goes out. */
async function openAudit(
  file: string,
): Promise<{ append(line: string): Promise<void>; close(): Promise<void> }> {
  const handle = await fs.promises.open(file, 'a', 0o600);
  let chain: Promise<void> = Promise.resolve();
  return {
    append(line) {
      const next = chain.then(async () => {
        await handle.appendFile(line, 'utf8');
        await handle.datasync();
      });
      chain = next.catch(() => undefined);
      return next;
    },
    async close() {
      await chain;
      await handle.close();
    },
  };
}
