import {
  cloneMessage,
  cseq,
  header,
  prependHeader,
  setHeader,
  type Header,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { parseAuthHeader } from '../sip/uri.js';
import { newBranch, type ServerTransaction } from '../transaction/transactions.js';
import type { Connection, Identity } from '../transport/connection.js';
import type { ServerContext } from './context.js';
import { recordRouteFor } from './dialog-flow.js';
import { addObservedAddress, assertIdentity, assertResponder } from './identity.js';
import { dropUnvouchedPath, vouchedPath, writePath } from './route-security.js';

/** A place to send a request: a connection, and the Request-URI to use there (a registered contact). */
export interface Target {
  conn: Connection;
  uri: string;
}

/** Our Via for a request going down `conn`. */
export function addVia(ctx: ServerContext, req: SipRequest, conn: Connection, branch: string): void {
  prependHeader(req, 'Via', `SIP/2.0/${conn.transport} ${ctx.advertised};branch=${branch}`);
}

function decrementMaxForwards(req: SipRequest): void {
  const mf = Number(header(req, 'Max-Forwards') ?? 70);
  setHeader(req, 'Max-Forwards', String(Math.max(0, mf - 1)));
}

/** Final-response choice among branches (RFC 3261 §16.7 step 6, simplified): 6xx, else the lowest class. */
function better(a: SipResponse | undefined, b: SipResponse): SipResponse {
  if (!a) return b;
  const rank = (r: SipResponse) =>
    r.status >= 600 ? 0 : r.status === 408 || r.status === 487 ? 900 : r.status;
  return rank(b) < rank(a) ? b : a;
}

/**
 * Stateful forwarding of one request to one or more targets (forking, RFC 3261 §16.6–16.7): the first
 * 2xx wins and the other branches are CANCELed; if none answers in time the caller gets 408.
 */
export function forward(
  ctx: ServerContext,
  stx: ServerTransaction,
  from: Connection,
  req: SipRequest,
  targets: Target[],
  opts: {
    retarget: boolean;
    recordRoute: boolean;
    /** Who the request speaks for, when not the connection's own identity (a request from a peer server). */
    identity?: Identity;
  },
): void {
  const isInvite = req.method === 'INVITE';
  const identity = opts.identity ?? from.identity;
  const path = vouchedPath(ctx, req, from);
  const branches: { fwd: SipRequest; target: Target; done: boolean }[] = [];
  let best: SipResponse | undefined;
  let answered = false;
  let ringTimer: NodeJS.Timeout | undefined;

  const finish = (res: SipResponse) => {
    clearTimeout(ringTimer);
    ctx.serverTx.respond(stx, res);
  };
  const cancelPending = () => {
    for (const b of branches) if (!b.done && isInvite) sendCancel(ctx, b.target.conn, b.fwd);
  };
  const branchDone = () => {
    if (answered || stx.final) return;
    if (branches.every((b) => b.done)) finish(best ?? createResponse(req, 480));
  };

  if (isInvite) {
    ctx.serverTx.trying(stx);
    ringTimer = setTimeout(() => {
      if (stx.final) return;
      finish(createResponse(req, 408, [], { reason: 'No Answer' }));
      cancelPending();
    }, ctx.limits.ringTimeoutMs);
    ringTimer.unref?.();
    stx.onCancel = () => cancelPending();
  }

  for (const target of targets) {
    const fwd = cloneMessage(req);
    if (opts.retarget) fwd.uri = target.uri;
    decrementMaxForwards(fwd);
    dropOwnCredentials(ctx, fwd);
    if (opts.recordRoute) prependHeader(fwd, 'Record-Route', recordRouteFor(from, target.conn));
    assertIdentity(fwd, identity);
    writePath(fwd, path, target.conn);
    if (isInvite) addObservedAddress(fwd, from);
    const branch = newBranch();
    addVia(ctx, fwd, target.conn, branch);
    const entry = { fwd, target, done: false };
    branches.push(entry);
    ctx.clientTx.send(target.conn, fwd, branch, {
      onResponse: (received) => {
        if (received.status === 100) return;
        // A peer's "not found" is its own or its policy's: answered as ours, so nothing tells them apart.
        const res = target.conn.peer && received.status === 404 ? createResponse(req, 404) : received;
        assertResponder(res, target.conn);
        dropUnvouchedPath(ctx, res, target.conn);
        if (isInvite) addObservedAddress(res, target.conn);
        if (res.status < 200) {
          if (!stx.final) stx.conn.send(res);
          return;
        }
        entry.done = true;
        if (res.status < 300) {
          // Every 2xx goes upstream (§16.7 step 5); the first one completes our transaction.
          if (!answered) {
            answered = true;
            finish(res);
            cancelPending();
          } else if (isInvite) stx.conn.send(res);
          return;
        }
        if (isInvite) sendAck(target.conn, fwd, res);
        best = better(best, res);
        if (res.status >= 600) cancelPending();
        branchDone();
      },
      onTimeout: (flowFailed) => {
        entry.done = true;
        best = better(best, createResponse(req, flowFailed ? 430 : 408));
        branchDone();
      },
    });
  }
}

/**
 * Credentials meant for this server are consumed here (RFC 3261 §22.3): forwarding them would hand the
 * callee a digest response it could attack offline.
 */
function dropOwnCredentials(ctx: ServerContext, req: SipRequest): void {
  req.headers = req.headers.filter(
    (h) =>
      h.name.toLowerCase() !== 'proxy-authorization' || parseAuthHeader(h.value)?.params.realm !== ctx.realm,
  );
}

/** Forwards an ACK for a 2xx (its own transaction, RFC 3261 §17.1.1.3): statelessly. */
export function forwardStateless(
  ctx: ServerContext,
  from: Connection,
  req: SipRequest,
  to: Connection,
  identity: Identity | undefined,
): void {
  const fwd = cloneMessage(req);
  decrementMaxForwards(fwd);
  assertIdentity(fwd, identity);
  writePath(fwd, vouchedPath(ctx, req, from), to);
  addVia(ctx, fwd, to, newBranch());
  to.send(fwd);
}

/** Hop-by-hop ACK for a non-2xx final response to an INVITE we forwarded (§17.1.1.3). */
function sendAck(conn: Connection, invite: SipRequest, res: SipResponse): void {
  conn.send(derivedRequest(invite, 'ACK', header(res, 'To') ?? header(invite, 'To') ?? ''));
}

/** CANCEL for a pending branch: same Request-URI, Call-ID, From, To, CSeq number and top Via (§9.1). */
function sendCancel(ctx: ServerContext, conn: Connection, invite: SipRequest): void {
  const cancel = derivedRequest(invite, 'CANCEL', header(invite, 'To') ?? '');
  const branch = /;\s*branch=([^;,\s]+)/i.exec(header(cancel, 'Via') ?? '')?.[1];
  if (!branch) return;
  ctx.clientTx.send(conn, cancel, branch, { onResponse: () => undefined, onTimeout: () => undefined });
}

function derivedRequest(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string): SipRequest {
  const headers: Header[] = [
    { name: 'Via', value: header(invite, 'Via') ?? '' },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: header(invite, 'From') ?? '' },
    { name: 'To', value: to },
    { name: 'Call-ID', value: header(invite, 'Call-ID') ?? '' },
    { name: 'CSeq', value: `${cseq(invite).seq} ${method}` },
  ];
  for (const h of invite.headers) if (h.name.toLowerCase() === 'route') headers.push({ ...h });
  return { kind: 'request', method, uri: invite.uri, headers, body: Buffer.alloc(0) };
}
