import type { Statement } from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { Certificates } from './certificates.js';
import type { StoreContext } from './context.js';
import { computeHa1 } from '../auth/digest.js';
import { StoreError } from './errors.js';
import { normaliseDeviceId, normaliseDeviceName, normaliseInstance, slugFromName } from './names.js';

export type DeviceKind = 'enrolled' | 'password';

export interface Device {
  user: string;
  /** Unique per user; part of the digest username `user/id` of an enrolled device. */
  id: string;
  name: string;
  kind: DeviceKind;
  /** The `+sip.instance` URN, without angle brackets; unique per user. */
  instance: string;
  createdAt: number;
  lastSeenAt: number | null;
  /** As the registrar saw it, e.g. `203.0.113.7:50123` or `[2001:db8::10]:50123`. */
  lastAddress: string | null;
  /** `user/id` for an enrolled device (its digest username); null for a password device. */
  digestUsername: string | null;
  /** When an admin revoked the device; it can no longer authenticate. */
  revokedAt: number | null;
}

export interface EnrolledDevice {
  device: Device;
  /**
   * The device's digest password: 32 random bytes, base64url. Returned once, to be handed to the
   * device; only its HA1 is stored.
   */
  secret: string;
}

interface DeviceRow {
  user: string;
  id: string;
  name: string;
  kind: DeviceKind;
  instance: string;
  realm: string | null;
  ha1_sha256: string | null;
  created_at: number;
  last_seen_at: number | null;
  last_address: string | null;
  revoked_at: number | null;
}

export interface DeviceCredentialRow {
  realm: string | null;
  ha1_sha256: string | null;
  kind: DeviceKind;
  revoked_at: number | null;
}

function toDevice(r: DeviceRow): Device {
  return {
    user: r.user,
    id: r.id,
    name: r.name,
    kind: r.kind,
    instance: r.instance,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    lastAddress: r.last_address,
    digestUsername: r.kind === 'enrolled' ? `${r.user}/${r.id}` : null,
    revokedAt: r.revoked_at,
  };
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `d-` + 8 base32 characters (40 random bits). */
export function randomDeviceId(): string {
  const b = randomBytes(5);
  let bits = 0n;
  for (const byte of b) bits = (bits << 8n) | BigInt(byte);
  let out = '';
  for (let i = 7; i >= 0; i--) out += BASE32[Number((bits >> BigInt(i * 5)) & 31n)];
  return `d-${out}`;
}

function validateAddress(address: string): string {
  if (address.length === 0 || address.length > 200 || /[\x00-\x1f\x7f\s]/.test(address)) {
    throw new StoreError('invalid-argument', 'invalid device address');
  }
  return address;
}

/** Devices of users: enrolled by invite, or first seen registering with the user's password. */
export class Devices {
  private readonly q: {
    all: Statement<[], DeviceRow>;
    byUser: Statement<[string], DeviceRow>;
    get: Statement<[string, string], DeviceRow>;
    byInstance: Statement<[string, string], DeviceRow>;
    userExists: Statement<[string], { realm: string }>;
    insert: Statement<
      [
        string,
        string,
        string,
        DeviceKind,
        string,
        string | null,
        string | null,
        number,
        number | null,
        string | null,
      ]
    >;
    seen: Statement<[number, string, string, string]>;
    rename: Statement<[string, string, string]>;
    reenroll: Statement<[string, string, string, string, string]>;
    revoke: Statement<[number, string, string]>;
    remove: Statement<[string, string]>;
    credentials: Statement<[string, string], DeviceCredentialRow>;
  };

  constructor(
    private readonly ctx: StoreContext,
    private readonly certificates: Certificates,
  ) {
    const db = ctx.db;
    this.q = {
      all: db.prepare('SELECT * FROM devices ORDER BY user, created_at, id'),
      byUser: db.prepare('SELECT * FROM devices WHERE user = ? ORDER BY created_at, id'),
      get: db.prepare('SELECT * FROM devices WHERE user = ? AND id = ?'),
      byInstance: db.prepare('SELECT * FROM devices WHERE user = ? AND instance = ?'),
      userExists: db.prepare('SELECT realm FROM users WHERE name = ?'),
      insert: db.prepare(
        `INSERT INTO devices (user, id, name, kind, instance, realm, ha1_sha256, created_at, last_seen_at, last_address)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      seen: db.prepare('UPDATE devices SET last_seen_at = ?, last_address = ? WHERE user = ? AND id = ?'),
      rename: db.prepare('UPDATE devices SET name = ? WHERE user = ? AND id = ?'),
      reenroll: db.prepare(
        "UPDATE devices SET kind = 'enrolled', name = ?, realm = ?, ha1_sha256 = ?, revoked_at = NULL WHERE user = ? AND id = ?",
      ),
      revoke: db.prepare('UPDATE devices SET revoked_at = ? WHERE user = ? AND id = ?'),
      remove: db.prepare('DELETE FROM devices WHERE user = ? AND id = ?'),
      credentials: db.prepare(
        'SELECT realm, ha1_sha256, kind, revoked_at FROM devices WHERE user = ? AND id = ?',
      ),
    };
  }

  /**
   * Every device, or the devices of one user. An unknown user simply has none (no exception: the
   * proxy must answer for an unknown name exactly as for a name without devices).
   */
  list(user?: string): Device[] {
    if (user === undefined) return this.q.all.all().map(toDevice);
    return this.q.byUser.all(user.trim().toLowerCase()).map(toDevice);
  }

  get(user: string, id: string): Device | undefined {
    const row = this.q.get.get(user.trim().toLowerCase(), id.trim().toLowerCase());
    return row ? toDevice(row) : undefined;
  }

  findByInstance(user: string, instance: string): Device | undefined {
    let inst: string;
    try {
      inst = normaliseInstance(instance);
    } catch {
      return undefined;
    }
    const row = this.q.byInstance.get(user.trim().toLowerCase(), inst);
    return row ? toDevice(row) : undefined;
  }

  /**
   * Called by the registrar on every successful REGISTER: records when and from where the device
   * was seen. The first registration of an unknown instance creates a 'password' device (a device
   * that authenticated with the user's password). `name`, when given, renames the device.
   */
  touch(
    user: string,
    instance: string,
    seen: { name?: string; address: string },
    now = this.ctx.now(),
  ): Device {
    const inst = normaliseInstance(instance);
    const address = validateAddress(seen.address);
    const name = seen.name === undefined ? undefined : normaliseDeviceName(seen.name);
    return this.ctx.transaction(() => {
      const owner = this.requireUser(user).name;
      const existing = this.q.byInstance.get(owner, inst);
      if (existing?.revoked_at) {
        throw new StoreError('device-revoked', `device ${owner}/${existing.id} has been revoked`);
      }
      if (existing) {
        this.q.seen.run(now, address, owner, existing.id);
        if (name !== undefined && name !== existing.name) {
          this.q.rename.run(name, owner, existing.id);
          this.ctx.changed();
        }
        // Deliberately not ctx.changed() for last-seen updates: they happen on every REGISTER and
        // no cache depends on them.
        return toDevice(this.q.get.get(owner, existing.id)!);
      }
      const id = this.newId(owner, name);
      this.q.insert.run(owner, id, name ?? id, 'password', inst, null, null, now, now, address);
      this.ctx.changed();
      return toDevice(this.q.get.get(owner, id)!);
    });
  }

  /**
   * Enrols a device for a user (after an invite was redeemed): a fresh random secret, whose
   * SHA-256 HA1 is stored for the digest username `user/deviceId` in the user's realm. If the user
   * already has a device with this instance (an app re-enrolling), that device is re-keyed and keeps
   * its id; its old secret stops working. A new invite is the admin's decision to let the device back
   * in: a revoked device re-enrolled this way is no longer revoked (its old certificates stay revoked).
   */
  enroll(user: string, device: { name: string; instance: string }, now = this.ctx.now()): EnrolledDevice {
    const inst = normaliseInstance(device.instance);
    const name = normaliseDeviceName(device.name);
    return this.ctx.transaction(() => {
      const owner = this.requireUser(user);
      const secret = randomBytes(32).toString('base64url');
      const existing = this.q.byInstance.get(owner.name, inst);
      const id = existing ? existing.id : this.newId(owner.name, name);
      const ha1 = computeHa1('SHA-256', `${owner.name}/${id}`, owner.realm, secret);
      if (existing) this.q.reenroll.run(name, owner.realm, ha1, owner.name, id);
      else this.q.insert.run(owner.name, id, name, 'enrolled', inst, owner.realm, ha1, now, null, null);
      this.ctx.changed();
      return { device: toDevice(this.q.get.get(owner.name, id)!), secret };
    });
  }

  /**
   * Revokes a device: its secret and its certificates stop working, and the certificates join the
   * revocation list. The row stays, so the device hears why when it retries. Returns the device and
   * how many certificates were revoked; revoking twice changes nothing more.
   */
  revoke(user: string, id: string, now = this.ctx.now()): { device: Device; certificates: number } {
    return this.ctx.transaction(() => {
      const row = this.require(user, id);
      if (row.revoked_at === null) this.q.revoke.run(now, row.user, row.id);
      const certificates = this.certificates.revokeDevice(row.user, row.id, 'device-revoked', now);
      this.ctx.changed();
      return { device: toDevice(this.q.get.get(row.user, row.id)!), certificates };
    });
  }

  /**
   * Removes a device; its credentials stop working at once and its certificates are revoked. Throws
   * if the user or device is unknown.
   */
  remove(user: string, id: string): Device {
    return this.ctx.transaction(() => {
      const row = this.require(user, id);
      this.certificates.revokeDevice(row.user, row.id, 'device-removed');
      this.q.remove.run(row.user, row.id);
      this.ctx.changed();
      return toDevice(row);
    });
  }

  private require(user: string, id: string): DeviceRow {
    const owner = this.requireUser(user).name;
    const deviceId = id.trim().toLowerCase();
    const row = this.q.get.get(owner, deviceId);
    if (!row) throw new StoreError('no-such-device', `user '${owner}' has no device '${deviceId}'`);
    return row;
  }

  /** @internal for Store.credentialsFor */
  credentialRow(user: string, id: string): DeviceCredentialRow | undefined {
    return this.q.credentials.get(user, id);
  }

  private requireUser(user: string): { name: string; realm: string } {
    const name = user.trim().toLowerCase();
    const row = this.q.userExists.get(name);
    if (!row) throw new StoreError('no-such-user', `no such user '${name}'`);
    return { name, realm: row.realm };
  }

  /** A slug of the name if free (`laptop`, then `laptop-2` … `laptop-9`), else a random `d-xxxxxxxx`. */
  private newId(user: string, name: string | undefined): string {
    const slug = name === undefined ? undefined : slugFromName(name);
    if (slug !== undefined) {
      for (let n = 1; n <= 9; n++) {
        const candidate = n === 1 ? slug : `${slug}-${n}`;
        if (!this.q.get.get(user, candidate)) return normaliseDeviceId(candidate);
      }
    }
    for (;;) {
      const id = randomDeviceId();
      if (!this.q.get.get(user, id)) return id;
    }
  }
}
