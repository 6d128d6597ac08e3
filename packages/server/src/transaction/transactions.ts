import { randomId } from '../sip/ids.js';
import type { Connection } from '../transport/connection.js';
import { cseq, headerValues, type SipRequest, type SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { parseVia } from '../sip/uri.js';

/**
 * Transactions over reliable transports only (RFC 3261 §17 with T1-based retransmission timers
 * at zero, since TLS and WebSocket never lose messages): they absorb duplicates, pair CANCEL and ACK
 * with their INVITE, and time out requests nobody answers (Timer B/F = 64·T1 = 32 s).
 */

export const TIMER_B_MS = 32_000;
export const MAGIC_COOKIE = 'z9hG4bK';

export function newBranch(): string {
  return MAGIC_COOKIE + randomId(10, 'base64url');
}

export interface ServerTransaction {
  key: string;
  conn: Connection;
  request: SipRequest;
  final: SipResponse | undefined;
  /** Set by whoever handles the request; called when a matching CANCEL arrives. */
  onCancel?: () => void;
  /** 100 Trying was sent (once per INVITE transaction, whoever gets there first). */
  trying?: boolean;
  /** When the sweep forgets it; an INVITE answered with a non-2xx waits this long for its ACK. */
  expiresAt: number;
}

/** RFC 3261 §17.2.3 matching key: branch + sent-by + method (an ACK maps onto its INVITE). */
export function serverKey(req: SipRequest, method = req.method): string | undefined {
  // The topmost Via: the first value of the first Via header (several may share a line, RFC 3261 §7.3.1).
  const via = headerValues(req, 'Via')[0];
  if (!via) return undefined;
  const v = parseVia(via);
  const branch = v?.params.branch;
  if (!v || !branch || !branch.startsWith(MAGIC_COOKIE)) return undefined;
  return `${branch}|${v.host}:${v.port ?? ''}|${method === 'ACK' ? 'INVITE' : method}`;
}

export class ServerTransactions {
  readonly #map = new Map<string, ServerTransaction>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  start(): void {
    this.#sweep ??= setInterval(() => {
      const now = this.now();
      for (const [k, t] of this.#map) if (t.expiresAt <= now) this.#map.delete(k);
    }, 5000).unref();
  }

  stop(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): ServerTransaction | undefined {
    return this.#map.get(key);
  }

  create(key: string, conn: Connection, request: SipRequest): ServerTransaction {
    const tx: ServerTransaction = {
      key,
      conn,
      request,
      final: undefined,
      expiresAt: this.now() + TIMER_B_MS * 6,
    };
    this.#map.set(key, tx);
    return tx;
  }

  /**
   * Sends a response within the transaction. Over reliable transports nothing is retransmitted
   * (RFC 3261 Timer J = 0; an INVITE transaction ends with its 2xx, §17.2.1), so a completed
   * transaction is forgotten at once — except an INVITE answered with a non-2xx, which waits for its
   * hop-by-hop ACK (Timer H). Keeping every finished transaction for 32 s would hold hundreds of
   * thousands of requests in memory under load.
   */
  respond(tx: ServerTransaction, res: SipResponse): void {
    if (tx.final) return; // one final response per transaction
    tx.conn.send(res);
    if (res.status < 200) return;
    tx.final = res;
    if (tx.request.method === 'INVITE' && res.status >= 300) tx.expiresAt = this.now() + TIMER_B_MS;
    else this.#map.delete(tx.key);
  }

  /** Sends 100 Trying for an INVITE (RFC 3261 §16.2), once however many steps of its handling ask. */
  trying(tx: ServerTransaction): void {
    if (tx.trying || tx.final) return;
    tx.trying = true;
    tx.conn.send(createResponse(tx.request, 100));
  }

  delete(key: string): void {
    this.#map.delete(key);
  }
}

export interface ClientTransaction {
  branch: string;
  method: string;
  conn: Connection;
  request: SipRequest;
  /** Highest response class seen: 0 = none, 1 = provisional, 2+ = final. */
  state: 'calling' | 'proceeding' | 'completed';
  onResponse(res: SipResponse): void;
  /** No final response in time, or (`flowFailed`) the connection died under the request. */
  onTimeout(flowFailed: boolean): void;
  timer: NodeJS.Timeout | undefined;
  /** Removes this transaction's close listener from its connection. */
  offClose: () => void;
}

/** A CANCEL shares its INVITE's branch, so the method is part of the key. */
const clientKey = (branch: string, method: string): string => `${branch}|${method}`;

/** Requests this server sent (forwarded or its own NOTIFYs), matched by our Via branch. */
export class ClientTransactions {
  readonly #map = new Map<string, ClientTransaction>();

  get size(): number {
    return this.#map.size;
  }

  /** Sends `request` (whose top Via carries `branch`) and tracks the answer. */
  send(
    conn: Connection,
    request: SipRequest,
    branch: string,
    handlers: { onResponse(res: SipResponse): void; onTimeout(flowFailed: boolean): void },
    timeoutMs = TIMER_B_MS,
  ): ClientTransaction {
    const tx: ClientTransaction = {
      branch,
      method: request.method,
      conn,
      request,
      state: 'calling',
      ...handlers,
      timer: undefined,
      offClose: () => undefined,
    };
    const key = clientKey(branch, request.method);
    this.#map.set(key, tx);
    this.#arm(tx, timeoutMs);
    // A connection that dies under a pending request is as good as a timeout, but immediate.
    tx.offClose = conn.onClose(() => {
      if (this.#map.get(key) === tx) {
        this.finish(tx);
        tx.onTimeout(true);
      }
    });
    conn.send(request);
    return tx;
  }

  /** Routes a response to its transaction; false if none matches (a stray response is dropped). */
  receive(res: SipResponse, branch: string): boolean {
    const tx = this.#map.get(clientKey(branch, cseq(res).method));
    if (!tx) return false;
    if (res.status < 200) {
      if (tx.state === 'calling') tx.state = 'proceeding';
    } else {
      this.finish(tx);
    }
    tx.onResponse(res);
    return true;
  }

  finish(tx: ClientTransaction): void {
    tx.state = 'completed';
    clearTimeout(tx.timer);
    tx.offClose();
    this.#map.delete(clientKey(tx.branch, tx.method));
  }

  /** Restarts the timeout (used while a callee rings: Timer C, RFC 3261 §16.6). */
  extend(tx: ClientTransaction, ms: number): void {
    this.#arm(tx, ms);
  }

  #arm(tx: ClientTransaction, ms: number): void {
    clearTimeout(tx.timer);
    tx.timer = setTimeout(() => {
      this.#map.delete(clientKey(tx.branch, tx.method));
      tx.offClose();
      if (tx.state !== 'completed') tx.onTimeout(false);
    }, ms);
    tx.timer.unref?.();
  }
}
