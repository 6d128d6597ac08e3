import { randomBytes, randomUUID } from 'node:crypto';
import tls from 'node:tls';
import { computeHa1, computeResponse, type DigestAlgorithm } from '../auth/digest.js';
import { SipFramer } from '../sip/framer.js';
import {
  cseq,
  header,
  headerInstances,
  headerValues,
  type Header,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import { serializeMessage } from '../sip/serialize.js';
import { formatAuthParams, parseAuthHeader, parseNameAddr } from '../sip/uri.js';

/**
 * A small SIP user agent over TLS for tests and the load generator: it speaks to the server the way a
 * terminal does (sip.js-style `*.invalid` Via and Contact, one connection for everything), and lets a
 * test send exactly the bytes it wants.
 */

export interface ClientOptions {
  host: string;
  port: number;
  /** The deployment CA (PEM); the server certificate must chain to it. */
  ca: string;
  servername?: string;
  domain: string;
  user: string;
  /** Digest username: `user`, or `user/device` for an enrolled device. */
  username?: string;
  password?: string;
  cert?: string;
  key?: string;
  /** `+sip.instance` (`<urn:uuid:…>`); default a fresh one. */
  instance?: string;
}

export interface RequestOptions {
  headers?: Header[];
  body?: string | Buffer;
  contentType?: string;
  /** Overrides the From header value (to forge one in tests). */
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  onProvisional?: (res: SipResponse) => void;
  /** Answer a 401/407 challenge with the configured credentials (default true). */
  authenticate?: boolean;
  timeoutMs?: number;
}

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  remoteTarget: string;
  routeSet: string[];
  localUri: string;
  remoteUri: string;
  cseq: number;
}

const rand = (n = 6) => randomBytes(n).toString('hex');

export class SipTestClient {
  readonly viaHost = `${rand(5)}.invalid`;
  readonly contactUri: string;
  readonly instance: string;
  readonly aor: string;
  readonly incoming: SipRequest[] = [];
  #waiters: { match: (r: SipRequest) => boolean; resolve: (r: SipRequest) => void }[] = [];
  #pending = new Map<
    string,
    { resolve: (r: SipResponse) => void; onProvisional?: (r: SipResponse) => void }
  >();
  #cseq = 1;
  #nc = 0;
  readonly closed: Promise<void>;
  /** Takes incoming requests before anything else when set (load generators answer from here). */
  onRequest: ((req: SipRequest) => boolean) | undefined;
  /** Requests answered 200 automatically on arrival. */
  autoAnswer = new Set<string>(['NOTIFY', 'OPTIONS']);

  private constructor(
    readonly socket: tls.TLSSocket,
    readonly opts: ClientOptions,
  ) {
    this.contactUri = `sip:${rand(4)}@${this.viaHost};transport=tls`;
    this.instance = opts.instance ?? `<urn:uuid:${randomUUID()}>`;
    this.aor = `sip:${opts.user}@${opts.domain}`;
    const framer = new SipFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (ev.type === 'message') this.#onMessage(parseMessage(ev.data));
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  static connect(opts: ClientOptions): Promise<SipTestClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: opts.host,
        port: opts.port,
        ca: opts.ca,
        servername: opts.servername ?? (opts.host.includes(':') ? undefined : opts.host),
        minVersion: 'TLSv1.2',
        ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
      });
      socket.setNoDelay(true);
      socket.once('secureConnect', () => resolve(new SipTestClient(socket, opts)));
      socket.once('error', reject);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  sendRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(msg: SipMessage): void {
    this.socket.write(serializeMessage(msg));
  }

  /** Builds a request the way a UA does (RFC 3261 §8.1.1). */
  build(method: string, uri: string, o: RequestOptions = {}): SipRequest {
    const branch = `z9hG4bK${rand(8)}`;
    const seq = o.cseq ?? this.#cseq++;
    const body = typeof o.body === 'string' ? Buffer.from(o.body) : (o.body ?? Buffer.alloc(0));
    const headers: Header[] = [
      { name: 'Via', value: `SIP/2.0/TLS ${this.viaHost};branch=${branch};rport` },
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: o.from ?? `<${this.aor}>;tag=${rand()}` },
      { name: 'To', value: o.to ?? `<${uri}>` },
      { name: 'Call-ID', value: o.callId ?? `${rand(8)}@${this.viaHost}` },
      { name: 'CSeq', value: `${seq} ${method}` },
      { name: 'Contact', value: `<${this.contactUri}>` },
      ...(o.headers ?? []),
    ];
    if (o.contentType) headers.push({ name: 'Content-Type', value: o.contentType });
    return { kind: 'request', method, uri, headers, body };
  }

  /** Sends a request and resolves with its final response, answering one digest challenge. */
  async request(method: string, uri: string, o: RequestOptions = {}): Promise<SipResponse> {
    const req = this.build(method, uri, o);
    const res = await this.sendRequest(req, o);
    if ((res.status === 401 || res.status === 407) && o.authenticate !== false && this.opts.password) {
      const retry = this.withCredentials(req, res);
      return this.sendRequest(retry, o);
    }
    return res;
  }

  sendRequest(
    req: SipRequest,
    o: { onProvisional?: (r: SipResponse) => void; timeoutMs?: number } = {},
  ): Promise<SipResponse> {
    const branch = /branch=([^;,\s]+)/.exec(header(req, 'Via') ?? '')?.[1] ?? '';
    const key = `${branch}|${req.method}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(key);
        reject(new Error(`no final response to ${req.method} within ${o.timeoutMs ?? 10_000} ms`));
      }, o.timeoutMs ?? 10_000);
      this.#pending.set(key, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        ...(o.onProvisional ? { onProvisional: o.onProvisional } : {}),
      });
      this.send(req);
    });
  }

  /** The same request again with a new branch and CSeq and digest credentials for `challenge`. */
  withCredentials(
    req: SipRequest,
    challenge: SipResponse,
    algorithm: DigestAlgorithm = 'SHA-256',
  ): SipRequest {
    const isProxy = challenge.status === 407;
    const offers = headerInstances(challenge, isProxy ? 'Proxy-Authenticate' : 'WWW-Authenticate').map((v) =>
      parseAuthHeader(v)!,
    );
    const offer = offers.find((o) => (o.params.algorithm ?? 'MD5').toUpperCase() === algorithm) ?? offers[0]!;
    const alg = (offer.params.algorithm ?? 'MD5').toUpperCase() as DigestAlgorithm;
    const username = this.opts.username ?? this.opts.user;
    const realm = offer.params.realm!;
    const nonce = offer.params.nonce!;
    const nc = (++this.#nc).toString(16).padStart(8, '0');
    const cnonce = rand(8);
    const ha1 = computeHa1(alg, username, realm, this.opts.password ?? '');
    const response = computeResponse(alg, ha1, {
      method: req.method,
      uri: req.uri,
      nonce,
      nc,
      cnonce,
      qop: 'auth',
    });
    const value = `Digest ${formatAuthParams({ username, realm, nonce, uri: req.uri, response, algorithm: alg, qop: 'auth', nc, cnonce }, 'credentials')}`;
    const retry = this.build(req.method, req.uri, {
      from: header(req, 'From')!,
      to: header(req, 'To')!,
      callId: header(req, 'Call-ID')!,
      headers: req.headers.filter(
        (h) =>
          ![
            'via',
            'max-forwards',
            'from',
            'to',
            'call-id',
            'cseq',
            'contact',
            'authorization',
            'proxy-authorization',
            'content-type',
          ].includes(h.name.toLowerCase()),
      ),
      body: req.body,
      ...(header(req, 'Content-Type') ? { contentType: header(req, 'Content-Type')! } : {}),
    });
    retry.headers.splice(
      retry.headers.findIndex((h) => h.name === 'Contact'),
      1,
      { name: 'Contact', value: header(req, 'Contact')! },
    );
    retry.headers.push({ name: isProxy ? 'Proxy-Authorization' : 'Authorization', value });
    return retry;
  }

  /** REGISTER (answering the challenge); `outbound: false` leaves out RFC 5626 `Supported: outbound`. */
  register(
    o: { expires?: number; instance?: boolean; outbound?: boolean; headers?: Header[] } = {},
  ): Promise<SipResponse> {
    const params = o.instance === false ? '' : `;+sip.instance="${this.instance}";reg-id=1`;
    const req = this.build('REGISTER', `sip:${this.opts.domain}`, {
      to: `<${this.aor}>`,
      from: `<${this.aor}>;tag=${rand()}`,
      headers: [
        ...(o.outbound === false ? [] : [{ name: 'Supported', value: 'outbound, path' }]),
        { name: 'Expires', value: String(o.expires ?? 600) },
        ...(o.headers ?? []),
      ],
    });
    req.headers.find((h) => h.name === 'Contact')!.value = `<${this.contactUri}>${params}`;
    return this.sendRequest(req).then((res) =>
      res.status === 401 && this.opts.password ? this.sendRequest(this.withCredentials(req, res)) : res,
    );
  }

  /** Waits for an incoming request (e.g. the INVITE a callee gets). */
  nextRequest(method: string, timeoutMs = 5000): Promise<SipRequest> {
    const i = this.incoming.findIndex((r) => r.method === method);
    if (i >= 0) return Promise.resolve(this.incoming.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { match: (r: SipRequest) => r.method === method, resolve };
      this.#waiters.push(w);
      setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`no ${method} within ${timeoutMs} ms`));
      }, timeoutMs).unref();
    });
  }

  /** Answers a request received from the server. */
  respond(
    req: SipRequest,
    status: number,
    o: { reason?: string; toTag?: string; headers?: Header[]; body?: string; contentType?: string } = {},
  ): SipResponse {
    const copy = req.headers.filter((h) =>
      ['via', 'from', 'call-id', 'cseq', 'record-route'].includes(h.name.toLowerCase()),
    );
    const to = header(req, 'To') ?? '';
    const headers: Header[] = [
      ...copy,
      { name: 'To', value: /;tag=/.test(to) || status === 100 ? to : `${to};tag=${o.toTag ?? rand()}` },
      { name: 'Contact', value: `<${this.contactUri}>` },
      ...(o.headers ?? []),
    ];
    if (o.contentType) headers.push({ name: 'Content-Type', value: o.contentType });
    const res: SipResponse = {
      kind: 'response',
      status,
      reason: o.reason ?? (status === 200 ? 'OK' : status === 180 ? 'Ringing' : 'Response'),
      headers,
      body: Buffer.from(o.body ?? ''),
    };
    this.send(res);
    return res;
  }

  /** The dialog a 2xx to our INVITE/SUBSCRIBE created (RFC 3261 §12.1.2). */
  dialogFrom(req: SipRequest, res: SipResponse): Dialog {
    return {
      callId: header(req, 'Call-ID')!,
      localTag: parseNameAddr(header(req, 'From')!)!.params.tag as string,
      remoteTag: parseNameAddr(header(res, 'To')!)!.params.tag as string,
      remoteTarget: parseNameAddr(header(res, 'Contact') ?? '')?.uri ?? req.uri,
      routeSet: headerValues(res, 'Record-Route').reverse(),
      localUri: parseNameAddr(header(req, 'From')!)!.uri,
      remoteUri: parseNameAddr(header(req, 'To')!)!.uri,
      cseq: cseq(req).seq,
    };
  }

  /** The dialog as the callee sees it, from the INVITE it received and its own tag. */
  dialogAsCallee(req: SipRequest, localTag: string): Dialog {
    return {
      callId: header(req, 'Call-ID')!,
      localTag,
      remoteTag: parseNameAddr(header(req, 'From')!)!.params.tag as string,
      remoteTarget: parseNameAddr(header(req, 'Contact') ?? '')?.uri ?? '',
      routeSet: headerValues(req, 'Record-Route'),
      localUri: parseNameAddr(header(req, 'To')!)!.uri,
      remoteUri: parseNameAddr(header(req, 'From')!)!.uri,
      cseq: 1000,
    };
  }

  /** A request within a dialog (ACK reuses the INVITE's CSeq number). */
  inDialog(
    d: Dialog,
    method: string,
    o: { body?: string; contentType?: string; headers?: Header[] } = {},
  ): SipRequest {
    const seq = method === 'ACK' ? d.cseq : ++d.cseq;
    const req = this.build(method, d.remoteTarget, {
      from: `<${d.localUri}>;tag=${d.localTag}`,
      to: `<${d.remoteUri}>;tag=${d.remoteTag}`,
      callId: d.callId,
      cseq: seq,
      headers: [...d.routeSet.map((value) => ({ name: 'Route', value })), ...(o.headers ?? [])],
      ...(o.body ? { body: o.body } : {}),
      ...(o.contentType ? { contentType: o.contentType } : {}),
    });
    return req;
  }

  #onMessage(msg: SipMessage): void {
    if (msg.kind === 'response') {
      const branch = /branch=([^;,\s]+)/.exec(header(msg, 'Via') ?? '')?.[1] ?? '';
      const key = `${branch}|${cseq(msg).method}`;
      const p = this.#pending.get(key);
      if (!p) return;
      if (msg.status < 200) p.onProvisional?.(msg);
      else {
        this.#pending.delete(key);
        p.resolve(msg);
      }
      return;
    }
    if (this.onRequest?.(msg)) return;
    // NOTIFY and OPTIONS are answered at once (a test may still wait for them and read them).
    if (this.autoAnswer.has(msg.method)) this.respond(msg, 200);
    const w = this.#waiters.find((x) => x.match(msg));
    if (w) {
      this.#waiters = this.#waiters.filter((x) => x !== w);
      w.resolve(msg);
      return;
    }
    if (this.incoming.length > 1000) this.incoming.shift();
    this.incoming.push(msg);
  }
}
