import type { Statement } from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';

export type InviteStatus = 'pending' | 'redeemed' | 'expired';
/** Why an attempt failed, as recorded for the admin. The redeeming client only hears 'invalid'. */
export type InviteFailure = 'used' | 'expired' | 'wrong-user';
export type RedeemOutcome = 'ok' | 'unknown' | InviteFailure;

export interface Invite {
  id: number;
  user: string;
  createdAt: number;
  expiresAt: number;
  redeemedAt: number | null;
  status: InviteStatus;
  failedAttempts: number;
  lastFailure: InviteFailure | null;
  lastFailureAt: number | null;
}

export interface CreatedInvite {
  /** 32 random bytes, base64url (43 characters). Shown once; only its SHA-256 is stored. */
  token: string;
  expiresAt: number;
  invite: Invite;
}

export interface InviteAttempt {
  at: number;
  /** The user name the client claimed (as given, truncated to 100 characters). */
  user: string;
  inviteId: number | null;
  outcome: RedeemOutcome;
}

interface InviteRow {
  id: number;
  user: string;
  token_sha256: string;
  created_at: number;
  expires_at: number;
  redeemed_at: number | null;
  failed_attempts: number;
  last_failure: InviteFailure | null;
  last_failure_at: number | null;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const MAX_TTL_MS = 365 * 86_400_000;
/** Expired or redeemed invites are kept this long for `invites` listings, then deleted. */
const KEEP_MS = 30 * 86_400_000;
const KEEP_ATTEMPTS = 1000;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toInvite(r: InviteRow, now: number): Invite {
  return {
    id: r.id,
    user: r.user,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    redeemedAt: r.redeemed_at,
    status: r.redeemed_at !== null ? 'redeemed' : r.expires_at <= now ? 'expired' : 'pending',
    failedAttempts: r.failed_attempts,
    lastFailure: r.last_failure,
    lastFailureAt: r.last_failure_at,
  };
}

/** One-time invite tokens that let a device enrol for a user. */
export class Invites {
  private readonly q: {
    userExists: Statement<[string], { n: number }>;
    insert: Statement<[string, string, number, number]>;
    byId: Statement<[number | bigint], InviteRow>;
    byHash: Statement<[string], InviteRow>;
    markRedeemed: Statement<[number, number, number]>;
    markFailure: Statement<[InviteFailure, number, number]>;
    attempt: Statement<[number, string, number | null, RedeemOutcome]>;
    pruneAttempts: Statement<[number]>;
    prune: Statement<[number, number]>;
    list: Statement<[], InviteRow>;
    attempts: Statement<
      [number],
      { at: number; user: string; invite_id: number | null; outcome: RedeemOutcome }
    >;
  };

  constructor(private readonly ctx: StoreContext) {
    const db = ctx.db;
    this.q = {
      userExists: db.prepare('SELECT count(*) AS n FROM users WHERE name = ?'),
      insert: db.prepare(
        'INSERT INTO invites (user, token_sha256, created_at, expires_at) VALUES (?, ?, ?, ?)',
      ),
      byId: db.prepare('SELECT * FROM invites WHERE id = ?'),
      byHash: db.prepare('SELECT * FROM invites WHERE token_sha256 = ?'),
      markRedeemed: db.prepare(
        'UPDATE invites SET redeemed_at = ? WHERE id = ? AND redeemed_at IS NULL AND expires_at > ?',
      ),
      markFailure: db.prepare(
        'UPDATE invites SET failed_attempts = failed_attempts + 1, last_failure = ?, last_failure_at = ? WHERE id = ?',
      ),
      attempt: db.prepare('INSERT INTO invite_attempts (at, user, invite_id, outcome) VALUES (?, ?, ?, ?)'),
      pruneAttempts: db.prepare(
        'DELETE FROM invite_attempts WHERE id <= (SELECT max(id) FROM invite_attempts) - ?',
      ),
      prune: db.prepare(
        'DELETE FROM invites WHERE (redeemed_at IS NOT NULL AND redeemed_at < ?) OR (redeemed_at IS NULL AND expires_at < ?)',
      ),
      list: db.prepare('SELECT * FROM invites ORDER BY created_at DESC, id DESC'),
      attempts: db.prepare(
        'SELECT at, user, invite_id, outcome FROM invite_attempts ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  /** Creates an invite for an existing user, valid for `ttlMs`. */
  create(user: string, ttlMs: number, now = this.ctx.now()): CreatedInvite {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
      throw new StoreError(
        'invalid-argument',
        'the invite lifetime must be more than 0 and at most 365 days',
      );
    }
    const name = user.trim().toLowerCase();
    return this.ctx.transaction(() => {
      if ((this.q.userExists.get(name)?.n ?? 0) === 0)
        throw new StoreError('no-such-user', `no such user '${name}'`);
      this.q.prune.run(now - KEEP_MS, now - KEEP_MS);
      const token = randomBytes(32).toString('base64url');
      const expiresAt = now + ttlMs;
      const { lastInsertRowid } = this.q.insert.run(name, tokenHash(token), now, expiresAt);
      return { token, expiresAt, invite: toInvite(this.q.byId.get(lastInsertRowid)!, now) };
    });
  }

  /**
   * Redeems a token for `user`, atomically: 'ok' exactly once for a valid, unexpired token of that
   * user. Unknown, already used, expired and other-user tokens all give 'invalid' (the reason is
   * recorded on the invite and in the attempt log for the admin).
   */
  redeem(user: string, token: string, now = this.ctx.now()): 'ok' | 'invalid' {
    return this.ctx.transaction(() => this.redeemInTransaction(user, token, now).outcome) === 'ok'
      ? 'ok'
      : 'invalid';
  }

  /** @internal The detailed outcome; must run inside a transaction. */
  redeemInTransaction(user: string, token: string, now: number): { outcome: RedeemOutcome; invite?: Invite } {
    const claimed = user.trim().toLowerCase().slice(0, 100);
    const row = TOKEN.test(token) ? this.q.byHash.get(tokenHash(token)) : undefined;
    let outcome: RedeemOutcome;
    if (!row) outcome = 'unknown';
    else if (row.user !== claimed) outcome = 'wrong-user';
    else if (row.redeemed_at !== null) outcome = 'used';
    else if (row.expires_at <= now) outcome = 'expired';
    else outcome = this.q.markRedeemed.run(now, row.id, now).changes === 1 ? 'ok' : 'used';
    if (row && outcome !== 'ok' && outcome !== 'unknown') this.q.markFailure.run(outcome, now, row.id);
    this.q.attempt.run(now, claimed, row?.id ?? null, outcome);
    this.q.pruneAttempts.run(KEEP_ATTEMPTS);
    // Not ctx.changed(): no cache holds invites, and every redemption attempt (unauthenticated, from
    // the network) would otherwise make a running server reload its policy and caches.
    return row ? { outcome, invite: toInvite(this.q.byId.get(row.id)!, now) } : { outcome };
  }

  /** Every invite kept (newest first), with its status. Never the token. */
  list(now = this.ctx.now()): Invite[] {
    return this.q.list.all().map((r) => toInvite(r, now));
  }

  /** The newest redemption attempts, including those with unknown tokens. */
  attempts(limit = 100): InviteAttempt[] {
    return this.q.attempts
      .all(limit)
      .map((r) => ({ at: r.at, user: r.user, inviteId: r.invite_id, outcome: r.outcome }));
  }
}
