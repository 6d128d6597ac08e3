import type { Statement } from 'better-sqlite3';
import type { StoreContext } from './context.js';

/** Why a certificate stopped being valid before its time. */
export type RevokeReason = 'device-revoked' | 'device-removed' | 'user-removed';

/** A certificate the CA issued, as the database keeps it. Times are milliseconds since the epoch. */
export interface CertificateRecord {
  /** Hex, as in the certificate. */
  serial: string;
  /** `sha256:AB:CD:…` of the DER. */
  fingerprint: string;
  user: string;
  device: string;
  /** The device's `+sip.instance` URN. */
  instance: string;
  pem: string;
  notBefore: number;
  notAfter: number;
  issuedAt: number;
  revokedAt: number | null;
  revokeReason: RevokeReason | null;
}

/** One entry of the revocation list: what terminals and CRLs need. */
export interface RevokedCertificate {
  serial: string;
  fingerprint: string;
  revokedAt: number;
}

interface Row {
  serial: string;
  fingerprint: string;
  user: string;
  device: string;
  instance: string;
  pem: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
  revoke_reason: RevokeReason | null;
}

const toRecord = (r: Row): CertificateRecord => ({
  serial: r.serial,
  fingerprint: r.fingerprint,
  user: r.user,
  device: r.device,
  instance: r.instance,
  pem: r.pem,
  notBefore: r.not_before,
  notAfter: r.not_after,
  issuedAt: r.issued_at,
  revokedAt: r.revoked_at,
  revokeReason: r.revoke_reason,
});

/**
 * The CA's register of issued certificates (DESIGN.md: "the CA keeps every issued certificate with its
 * owner and device") and the revocation state derived from it.
 */
export class Certificates {
  private readonly q: {
    insert: Statement<[string, string, string, string, string, string, number, number, number]>;
    all: Statement<[], Row>;
    byUser: Statement<[string], Row>;
    byDevice: Statement<[string, string], Row>;
    byFingerprint: Statement<[string], Row>;
    current: Statement<[string, number], Row>;
    revokeDevice: Statement<[number, RevokeReason, string, string]>;
    revokeUser: Statement<[number, RevokeReason, string]>;
    revoked: Statement<[number], RevokedCertificate>;
    issuedSince: Statement<[string, string, number], { n: number }>;
  };

  constructor(private readonly ctx: StoreContext) {
    const db = ctx.db;
    this.q = {
      insert: db.prepare(
        `INSERT INTO certificates (serial, fingerprint, user, device, instance, pem, not_before, not_after, issued_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      all: db.prepare('SELECT * FROM certificates ORDER BY issued_at, serial'),
      byUser: db.prepare('SELECT * FROM certificates WHERE user = ? ORDER BY issued_at, serial'),
      byDevice: db.prepare(
        'SELECT * FROM certificates WHERE user = ? AND device = ? ORDER BY issued_at, serial',
      ),
      byFingerprint: db.prepare('SELECT * FROM certificates WHERE fingerprint = ?'),
      // The newest valid certificate of each device that is not revoked.
      current: db.prepare(
        `SELECT c.* FROM certificates c JOIN devices d ON d.user = c.user AND d.id = c.device
          WHERE c.user = ? AND c.revoked_at IS NULL AND d.revoked_at IS NULL AND c.not_after > ?
            AND c.issued_at = (SELECT max(issued_at) FROM certificates c2
                                WHERE c2.user = c.user AND c2.device = c.device AND c2.revoked_at IS NULL)
          ORDER BY c.device`,
      ),
      revokeDevice: db.prepare(
        `UPDATE certificates SET revoked_at = ?, revoke_reason = ?
          WHERE user = ? AND device = ? AND revoked_at IS NULL`,
      ),
      revokeUser: db.prepare(
        'UPDATE certificates SET revoked_at = ?, revoke_reason = ? WHERE user = ? AND revoked_at IS NULL',
      ),
      revoked: db.prepare(
        `SELECT serial, fingerprint, revoked_at AS revokedAt FROM certificates
          WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY revoked_at, serial`,
      ),
      issuedSince: db.prepare(
        'SELECT count(*) AS n FROM certificates WHERE user = ? AND device = ? AND issued_at >= ?',
      ),
    };
  }

  /** Records a certificate the CA just issued. */
  record(c: Omit<CertificateRecord, 'issuedAt' | 'revokedAt' | 'revokeReason'>, now = this.ctx.now()): void {
    this.q.insert.run(
      c.serial,
      c.fingerprint,
      c.user,
      c.device,
      c.instance,
      c.pem,
      c.notBefore,
      c.notAfter,
      now,
    );
  }

  list(user?: string, device?: string): CertificateRecord[] {
    if (user === undefined) return this.q.all.all().map(toRecord);
    const u = user.trim().toLowerCase();
    if (device === undefined) return this.q.byUser.all(u).map(toRecord);
    return this.q.byDevice.all(u, device.trim().toLowerCase()).map(toRecord);
  }

  byFingerprint(fingerprint: string): CertificateRecord | undefined {
    const row = this.q.byFingerprint.get(fingerprint);
    return row ? toRecord(row) : undefined;
  }

  /** The key directory's answer: each live device's newest certificate that is valid at `now`. */
  current(user: string, now = this.ctx.now()): CertificateRecord[] {
    return this.q.current.all(user.trim().toLowerCase(), now).map(toRecord);
  }

  /** How many certificates a device got since `since` (the issuance rate limit). */
  issuedSince(user: string, device: string, since: number): number {
    return this.q.issuedSince.get(user, device, since)?.n ?? 0;
  }

  /**
   * Revoked certificates that have not expired yet (`not_after` later than `notAfterFrom`): an expired
   * certificate is refused anyway, so the list stays as short as the validity period allows.
   */
  revoked(notAfterFrom = this.ctx.now()): RevokedCertificate[] {
    return this.q.revoked.all(notAfterFrom);
  }

  /** @internal for Devices and Users, inside their transactions. Returns how many were revoked. */
  revokeDevice(user: string, device: string, reason: RevokeReason, now = this.ctx.now()): number {
    return this.q.revokeDevice.run(now, reason, user, device).changes;
  }

  /** @internal for Users.remove. */
  revokeUser(user: string, reason: RevokeReason, now = this.ctx.now()): number {
    return this.q.revokeUser.run(now, reason, user).changes;
  }
}
