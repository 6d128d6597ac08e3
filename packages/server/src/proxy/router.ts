import {
  dropHeaderValues,
  eventPackage,
  header,
  headerValues,
  shiftHeaderValue,
  splitList,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import { CONTACTS_EVENT } from '@tsunagu/protocol';
import { badRequestFor, createResponse, REASONS } from '../sip/response.js';
import { formatVia, isSipUri, parseNameAddr, parseUri, parseVia } from '../sip/uri.js';
import { handleRegister } from '../registrar/registrar.js';
import { serverKey, type ServerTransaction } from '../transaction/transactions.js';
import type { Connection, Identity } from '../transport/connection.js';
import { PeerRefusedError } from '../transport/tls.js';
import type { Presence } from '../presence/presence.js';
import type { Issuance } from '../issuance/publish.js';
import { localAor, type ServerContext } from './context.js';
import { forward, forwardStateless } from './forward.js';
import { readFlow, type DialogFlow } from './dialog-flow.js';
import { fromMatches, peerIdentity, requestIdentity } from './identity.js';
import { screenPeerNotify } from '../federation/relay.js';

export const ALLOWED_METHODS =
  'REGISTER, INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, INFO, UPDATE, REFER, PUBLISH';
/** Out-of-dialog requests proxied to a user (after authentication, the caller check and the policy). */
const PROXIED = new Set(['INVITE', 'MESSAGE', 'OPTIONS', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'INFO']);
/** Requests that set up a dialog through us: this server stays on its route (Record-Route). */
const RECORD_ROUTED = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);
/** How long an in-dialog request waits for a new link to a peer domain before it fails (430). */
const LINK_WAIT_MS = 10_000;

/** Where the other side of a dialog is now: its connection, or a peer domain whose link closed. */
type DialogHop = { conn: Connection } | { domain: string };

/** Everything that arrives on a SIP connection goes through here. */
export class Router {
  constructor(
    private readonly ctx: ServerContext,
    private readonly presence: Presence,
    private readonly issuance?: Issuance,
  ) {}

  onBadMessage(conn: Connection, raw: Buffer, error: Error & { status?: number }): void {
    this.ctx.metrics.badMessages.inc();
    this.ctx.log.info({ conn: conn.id, remote: conn.remote.address, err: error.message }, 'bad message');
    const status = error.status ?? 400;
    const res = raw.length > 0 ? badRequestFor(raw, status, REASONS[status] ?? 'Bad Request') : undefined;
    if (res) conn.send(res);
  }

  onMessage(conn: Connection, msg: SipMessage): void {
    this.#guarded(conn, msg, () => {
      if (msg.kind === 'response') this.#onResponse(msg);
      else this.#onRequest(conn, msg);
    });
  }

  /** Runs one message's handling (or the part of it that resumes later) so that a throw costs that message only. */
  #guarded(conn: Connection, msg: SipMessage, handle: () => void): void {
    try {
      handle();
    } catch (err) {
      // A bug must cost one request, never the process or another terminal's session.
      this.ctx.log.error({ err, conn: conn.id }, 'failed to handle message');
      if (msg.kind === 'request' && msg.method !== 'ACK') conn.send(createResponse(msg, 500));
    }
  }

  #onResponse(res: SipResponse): void {
    // The topmost via-parm, not the first Via line: a peer may join every Via into one line (SIPp's [last_Via:]).
    const top = headerValues(res, 'Via')[0];
    const via = top ? parseVia(top) : undefined;
    const branch = via?.params.branch;
    if (!via || !branch || `${via.host}${via.port ? `:${via.port}` : ''}` !== this.ctx.advertised) return;
    shiftHeaderValue(res, 'Via');
    this.ctx.clientTx.receive(res, branch);
  }

  #onRequest(conn: Connection, req: SipRequest): void {
    const ctx = this.ctx;
    ctx.metrics.requests.inc({ method: metricMethod(req.method) });
    markReceived(req, conn);

    if (req.method === 'ACK') return this.#onAck(conn, req);
    const key = serverKey(req);
    if (!key) return this.#replyStateless(conn, req, 400, 'Missing Or Bad Via Branch');
    const existing = ctx.serverTx.get(key);
    if (existing) {
      // A retransmission: repeat the final answer if there is one.
      if (existing.final && existing.conn === conn) conn.send(existing.final);
      return;
    }
    if (req.method === 'CANCEL') return this.#onCancel(conn, req, key);

    const tx = ctx.serverTx.create(key, conn, req);
    // A connection whose client certificate is revoked gets nothing but the reason.
    if (conn.refusal) return this.#reply(tx, 403, conn.refusal);
    const maxForwards = Number(header(req, 'Max-Forwards') ?? 70);
    if (maxForwards <= 0 && req.method !== 'REGISTER' && req.method !== 'OPTIONS')
      return this.#reply(tx, 483);
    if (!isSipUri(req.uri)) return this.#reply(tx, 416);

    const flow = this.#ourRoute(req);
    if (flow !== undefined) return this.#inDialog(tx, conn, req, flow);
    if (headerValues(req, 'Route').length > 0) return this.#reply(tx, 403, 'Route Not Allowed');
    if (this.presence.ownsDialog(req)) {
      // A refresh from a peer domain's user comes over the peer's link, which speaks for its users.
      const who = conn.peer ? peerIdentity(ctx, req, conn.peer) : { identity: conn.identity };
      if ('response' in who) return this.#send(tx, who.response);
      return this.presence.onSubscribe(tx, conn, req, who.identity);
    }

    // A peer server speaks for its users in requests to ours; it registers and publishes nothing here.
    if (conn.peer && (req.method === 'REGISTER' || req.method === 'PUBLISH'))
      return this.#reply(tx, 403, 'Not Accepted From A Peer Server');
    switch (req.method) {
      case 'REGISTER':
        return ctx.serverTx.respond(tx, handleRegister(ctx, conn, req));
      case 'BYE':
      case 'UPDATE':
        return this.#reply(tx, 481);
      case 'PUBLISH':
        if (this.issuance) return this.issuance.onPublish(tx, conn, req);
        return this.#reply(tx, 489, 'Bad Event');
    }
    const ruri = parseUri(req.uri)!;
    // A SUBSCRIBE to the domain itself is a peer domain's user asking for our contact list.
    const domainSubscribe = req.method === 'SUBSCRIBE' && this.presence.handles(eventPackage(req));
    if (!ruri.user && ctx.localHosts.has(ruri.host) && !domainSubscribe) {
      if (req.method === 'OPTIONS')
        return this.#reply(tx, 200, undefined, [{ name: 'Allow', value: ALLOWED_METHODS }]);
      return this.#reply(tx, 405, undefined, [{ name: 'Allow', value: 'REGISTER, OPTIONS' }]);
    }
    if (!PROXIED.has(req.method))
      return this.#reply(tx, 405, undefined, [{ name: 'Allow', value: ALLOWED_METHODS }]);
    this.#toUser(tx, conn, req);
  }

  /** Out-of-dialog request for a user: authenticate, check the caller, apply the policy, resolve, fork. */
  #toUser(tx: ServerTransaction, conn: Connection, req: SipRequest): void {
    const ctx = this.ctx;
    const who = conn.peer ? peerIdentity(ctx, req, conn.peer) : requestIdentity(ctx, conn, req);
    if ('response' in who) return this.#send(tx, who.response);
    const identity = who.identity;
    if (!identity.user) return this.#reply(tx, 403, 'From Not In Peer Domain');

    const ruri = parseUri(req.uri)!;
    const target = (ruri.user ?? '').toLowerCase();
    const src = identity.aor.replace(/^sips?:/i, '');
    if (!ctx.localHosts.has(ruri.host)) {
      // Another domain: only our own terminals' requests go on (a peer gets no transit through us).
      if (conn.peer) return this.notFound(tx);
      return this.#toPeer(tx, conn, req, identity, `${target}@${ruri.host.toLowerCase()}`);
    }
    if (req.method === 'SUBSCRIBE' && this.presence.handles(eventPackage(req))) {
      return this.presence.onSubscribe(tx, conn, req, identity);
    }
    // Unknown and hidden must be indistinguishable: both checks always run, and both answer alike.
    const exists = ctx.directory.userExists(target);
    const allowed = ctx.policy().canReach(src, localAor(ctx, target));
    if (!exists || !allowed) return this.notFound(tx);

    const bindings = ctx.location.bindings(target).filter((b) => b.conn !== conn);
    if (bindings.length === 0) return this.#reply(tx, 480);
    forward(
      ctx,
      tx,
      conn,
      req,
      bindings.map((b) => ({ conn: b.conn, uri: b.contact })),
      {
        retarget: true,
        recordRoute: RECORD_ROUTED.has(req.method),
        identity,
      },
    );
  }

  /**
   * A request for a user of a peer domain (DESIGN.md "Several servers"): our policy first — a name it
   * hides fails exactly like a name the peer does not know, or a domain we do not peer with — then over
   * the link to the peer's server, whose own policy decides again.
   */
  #toPeer(tx: ServerTransaction, conn: Connection, req: SipRequest, identity: Identity, dst: string): void {
    const ctx = this.ctx;
    const domain = dst.slice(dst.lastIndexOf('@') + 1);
    // A contact-list subscription names the domain, not a user: our policy screens each NOTIFY instead.
    const contactList =
      dst.startsWith('@') && req.method === 'SUBSCRIBE' && eventPackage(req) === CONTACTS_EVENT;
    const allowed = contactList || ctx.policy().canReach(identity.aor.replace(/^sips?:/i, ''), dst);
    if (!ctx.peers.get(domain) || !allowed) return this.notFound(tx);
    this.#awaitingLink(tx);
    // Guarded: a throw here would otherwise be an unhandled rejection, which ends the process.
    void ctx.peers.link(domain).then(
      (link) =>
        this.#guarded(conn, req, () => {
          if (tx.final) return;
          forward(ctx, tx, conn, req, [{ conn: link, uri: req.uri }], {
            retarget: false,
            recordRoute: RECORD_ROUTED.has(req.method),
            identity,
          });
        }),
      (err: Error) =>
        this.#guarded(conn, req, () => {
          if (tx.final) return;
          // Not about the callee (who may not exist): about the link, which the caller may as well know.
          const refused = err instanceof PeerRefusedError;
          this.#reply(tx, 502, refused ? 'Peer Not Trusted' : 'Peer Unreachable');
        }),
    );
  }

  /** The one answer for "no such user" and "not allowed to know": same status, headers and body. */
  notFound(tx: ServerTransaction): void {
    this.#reply(tx, 404);
  }

  /** A request inside a dialog this server record-routed: relay it to the other side of the dialog. */
  #inDialog(tx: ServerTransaction, conn: Connection, req: SipRequest, flow: DialogFlow): void {
    const side = this.#senderSide(conn, flow);
    if (side === undefined) return this.#reply(tx, 403);
    const hop = this.#otherSide(flow, side);
    if (!hop) return this.#reply(tx, 430);
    const who = conn.peer ? peerIdentity(this.ctx, req, conn.peer) : undefined;
    if (who && 'response' in who) return this.#send(tx, who.response);
    if (conn.identity && !fromMatches(req, conn.identity)) {
      return this.#reply(tx, 403, 'From Does Not Match Authenticated Identity');
    }
    const relay = (target: Connection) => {
      if (conn.peer && req.method === 'NOTIFY') screenPeerNotify(this.ctx, req, conn.peer, target.identity);
      forward(this.ctx, tx, conn, req, [{ conn: target, uri: req.uri }], {
        retarget: false,
        recordRoute: false,
        ...(who ? { identity: who.identity } : {}),
      });
    };
    if ('conn' in hop) return relay(hop.conn);
    this.#awaitingLink(tx);
    void this.#peerLink(hop.domain, req).then((link) =>
      this.#guarded(conn, req, () => {
        if (tx.final) return; // CANCELed meanwhile
        if (link) relay(link);
        else this.#reply(tx, 430);
      }),
    );
  }

  #onAck(conn: Connection, req: SipRequest): void {
    const key = serverKey(req);
    const tx = key ? this.ctx.serverTx.get(key) : undefined;
    if (tx) {
      // ACK for a non-2xx final response we sent: it ends the INVITE transaction here.
      this.ctx.serverTx.delete(tx.key);
      return;
    }
    const flow = this.#ourRoute(req);
    const side = flow && this.#senderSide(conn, flow);
    const hop = flow && side !== undefined ? this.#otherSide(flow, side) : undefined;
    const who = conn.peer ? peerIdentity(this.ctx, req, conn.peer) : { identity: conn.identity };
    if (!hop || 'response' in who) return;
    const relay = (to: Connection) => forwardStateless(this.ctx, conn, req, to, who.identity);
    if ('conn' in hop) return relay(hop.conn);
    void this.#peerLink(hop.domain, req).then((link) =>
      this.#guarded(conn, req, () => {
        if (link) relay(link);
      }),
    );
  }

  #onCancel(conn: Connection, req: SipRequest, cancelKey: string): void {
    const invite = this.ctx.serverTx.get(serverKey(req, 'INVITE') ?? '');
    const tx = this.ctx.serverTx.create(cancelKey, conn, req);
    if (!invite || invite.conn !== conn) return this.#reply(tx, 481);
    this.#reply(tx, 200);
    if (!invite.final) invite.onCancel?.();
  }

  /**
   * Pops the Route entries that name this server (loose routing, RFC 3261 §16.4: an outbound-proxy
   * Route, or our own Record-Route coming back) and returns the dialog's flow if one was ours.
   */
  #ourRoute(req: SipRequest): DialogFlow | undefined {
    let flow: DialogFlow | undefined;
    let ours = 0;
    for (const route of headerValues(req, 'Route')) {
      const uri = parseUri(parseNameAddr(route)?.uri ?? '');
      if (!uri) break;
      const f = readFlow(uri.params);
      // Our Record-Route carries the flow pair (its random ids are checked against the sender below);
      // a peer server's carries its own, which name none of our connections.
      if (f ? !f.ids.some((id) => this.ctx.connection(id)) : !this.ctx.localHosts.has(uri.host)) break;
      ours++;
      if (f) flow = f;
    }
    if (ours > 0) dropHeaderValues(req, 'Route', ours);
    return flow;
  }

  /**
   * Which side of the dialog the sender is: its own connection; any link that proved the domain of the
   * side that is a peer link (links to a domain are interchangeable: the dialog's may have closed); or
   * the same user as a side on a new connection (re-registered after a network change). Undefined when
   * it is not part of the dialog at all (refused).
   */
  #senderSide(conn: Connection, flow: DialogFlow): 0 | 1 | undefined {
    const [a, b] = flow.ids;
    if (conn.id === a) return 0;
    if (conn.id === b) return 1;
    if (conn.peer) return flow.peer?.domain === conn.peer.domain ? flow.peer.side : undefined;
    const user = conn.identity?.user;
    if (user === undefined) return undefined;
    if (this.ctx.connection(a)?.identity?.user === user) return 0;
    if (this.ctx.connection(b)?.identity?.user === user) return 1;
    return undefined;
  }

  /**
   * Where the other side of the dialog is: its connection while it lives; a side that was a link to a
   * peer domain continues over whichever link to that domain there is now. Undefined when the other
   * side is gone (430 Flow Failed, RFC 5626 §5.3).
   */
  #otherSide(flow: DialogFlow, side: 0 | 1): DialogHop | undefined {
    const other = side === 0 ? 1 : 0;
    const conn = this.ctx.connection(flow.ids[other]);
    if (conn && !conn.closed) return { conn };
    return flow.peer?.side === other ? { domain: flow.peer.domain } : undefined;
  }

  /**
   * The live link to a peer domain for a dialog whose own link closed, opened now if there is none;
   * undefined (logged) if none can be had within LINK_WAIT_MS, whatever opening one involves.
   */
  async #peerLink(domain: string, req: SipRequest): Promise<Connection | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, LINK_WAIT_MS, undefined);
      timer.unref();
    });
    try {
      const link = await Promise.race([this.ctx.peers.link(domain), late]);
      if (!link) throw new Error(`no link within ${LINK_WAIT_MS} ms`);
      this.ctx.log.debug(
        { peer: domain, conn: link.id, method: req.method },
        'in-dialog request over another federation link',
      );
      return link;
    } catch (err) {
      this.ctx.log.warn(
        { peer: domain, method: req.method, err: (err as Error).message },
        'no federation link for an in-dialog request',
      );
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Opening a link may take a handshake: an INVITE's sender hears 100 now, and a CANCEL meanwhile ends it. */
  #awaitingLink(tx: ServerTransaction): void {
    if (tx.request.method !== 'INVITE') return;
    this.ctx.serverTx.trying(tx);
    tx.onCancel = () => this.#reply(tx, 487);
  }

  #reply(
    tx: ServerTransaction,
    status: number,
    reason?: string,
    extra: { name: string; value: string }[] = [],
  ): void {
    this.#send(tx, createResponse(tx.request, status, extra, reason ? { reason } : {}));
  }

  /** Sends a final response this server generated, counted in the responses metric. */
  #send(tx: ServerTransaction, res: SipResponse): void {
    this.ctx.metrics.responses.inc({ class: `${Math.floor(res.status / 100)}xx` });
    this.ctx.serverTx.respond(tx, res);
  }

  #replyStateless(conn: Connection, req: SipRequest, status: number, reason: string): void {
    conn.send(createResponse(req, status, [], { reason }));
  }
}

/** RFC 3261 §18.2.1: note where a request really came from in its top Via (and rport, RFC 3581). */
function markReceived(req: SipRequest, conn: Connection): void {
  const first = req.headers.find((h) => h.name.toLowerCase() === 'via');
  if (!first) return;
  const [top, ...rest] = splitList(first.value);
  const via = top ? parseVia(top) : undefined;
  if (!via) return;
  via.params.received = conn.remote.address;
  if ('rport' in via.params) via.params.rport = String(conn.remote.port);
  // Only the topmost value changes; the other Vias stay exactly as they came.
  first.value = [formatVia(via), ...rest].join(', ');
}

const KNOWN_METHODS = new Set(ALLOWED_METHODS.split(', '));
/** Bounded label set: a peer must not be able to create metric series at will. */
const metricMethod = (m: string): string => (KNOWN_METHODS.has(m) ? m : 'other');
