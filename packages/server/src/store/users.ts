import type { Certificates } from './certificates.js';
import type { Statement } from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { computeHa1 } from '../auth/digest.js';
import { StoreError } from './errors.js';
import { normaliseUserName } from './names.js';

export interface User {
  name: string;
  /** The realm the stored HA1s were computed for. */
  realm: string;
  hasPassword: boolean;
  allowMd5: boolean;
  /** allowMd5 is on and an MD5 HA1 exists (i.e. the password was set while MD5 was allowed). */
  md5Ready: boolean;
  /** Challenge with MD5 alone (legacy clients that reject a SHA-256 challenge); implies allowMd5. */
  md5Only: boolean;
  createdAt: number;
  passwordChangedAt: number | null;
}

export interface AddUserOptions {
  realm: string;
  /** Without a password the user can only join through an invite (an enrolled device). */
  password?: string;
  /** Also keep an MD5 HA1, for legacy SIP clients that cannot do SHA-256 digest (RFC 8760). */
  allowMd5?: boolean;
  /** Offer only MD5 (implies allowMd5). */
  md5Only?: boolean;
}

export interface RemovedUser {
  user: User;
  devices: number;
  groupMemberships: number;
  invites: number;
}

interface UserRow {
  name: string;
  realm: string;
  ha1_sha256: string | null;
  ha1_md5: string | null;
  allow_md5: number;
  md5_only: number;
  created_at: number;
  password_changed_at: number | null;
}

/** Also used for the SHA-256 and MD5 HA1 lookups of the registrar. */
export interface UserCredentialRow {
  realm: string;
  ha1_sha256: string | null;
  ha1_md5: string | null;
  allow_md5: number;
  md5_only: number;
}

const MAX_PASSWORD_BYTES = 1024;

export function validatePassword(password: string): void {
  if (password.length === 0) throw new StoreError('invalid-argument', 'the password must not be empty');
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new StoreError('invalid-argument', `the password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  }
  if (/[\r\n\x00]/.test(password))
    throw new StoreError('invalid-argument', 'the password must not contain line breaks or NUL');
}

function toUser(r: UserRow): User {
  return {
    name: r.name,
    realm: r.realm,
    hasPassword: r.ha1_sha256 !== null,
    allowMd5: r.allow_md5 === 1,
    md5Ready: r.allow_md5 === 1 && r.ha1_md5 !== null,
    md5Only: r.md5_only === 1,
    createdAt: r.created_at,
    passwordChangedAt: r.password_changed_at,
  };
}

/**
 * Users and their password credentials. Passwords are never stored: only the digest HA1s
 * (SHA-256 always, MD5 only while allowMd5 is on).
 */
export class Users {
  private readonly q: {
    get: Statement<[string], UserRow>;
    list: Statement<[], UserRow>;
    insert: Statement<[string, string, string | null, string | null, number, number, number, number | null]>;
    setPassword: Statement<[string, string, string | null, number, number, number, string]>;
    setAllowMd5: Statement<[number, string]>;
    dropMd5: Statement<[string]>;
    setMd5Only: Statement<[number, string]>;
    remove: Statement<[string]>;
    countDevices: Statement<[string], { n: number }>;
    countInvites: Statement<[string], { n: number }>;
    removeMemberships: Statement<[string]>;
    credentials: Statement<[string], UserCredentialRow>;
  };

  constructor(
    private readonly ctx: StoreContext,
    private readonly certificates: Certificates,
  ) {
    const db = ctx.db;
    this.q = {
      get: db.prepare('SELECT * FROM users WHERE name = ?'),
      list: db.prepare('SELECT * FROM users ORDER BY name'),
      insert: db.prepare(
        'INSERT INTO users (name, realm, ha1_sha256, ha1_md5, allow_md5, md5_only, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      setPassword: db.prepare(
        'UPDATE users SET realm = ?, ha1_sha256 = ?, ha1_md5 = ?, allow_md5 = ?, md5_only = md5_only * ?, password_changed_at = ? WHERE name = ?',
      ),
      setAllowMd5: db.prepare('UPDATE users SET allow_md5 = ? WHERE name = ?'),
      dropMd5: db.prepare('UPDATE users SET ha1_md5 = NULL, allow_md5 = 0, md5_only = 0 WHERE name = ?'),
      setMd5Only: db.prepare('UPDATE users SET md5_only = ? WHERE name = ?'),
      remove: db.prepare('DELETE FROM users WHERE name = ?'),
      countDevices: db.prepare('SELECT count(*) AS n FROM devices WHERE user = ?'),
      countInvites: db.prepare('SELECT count(*) AS n FROM invites WHERE user = ?'),
      removeMemberships: db.prepare('DELETE FROM group_members WHERE member = ?'),
      credentials: db.prepare(
        'SELECT realm, ha1_sha256, ha1_md5, allow_md5, md5_only FROM users WHERE name = ?',
      ),
    };
  }

  /** Adds a user; the name is case-folded. Throws if it exists. */
  add(name: string, options: AddUserOptions): User {
    const user = normaliseUserName(name);
    const realm = validateRealm(options.realm);
    const md5Only = options.md5Only ?? false;
    const allowMd5 = (options.allowMd5 ?? false) || md5Only;
    if (options.password !== undefined) validatePassword(options.password);
    return this.ctx.transaction(() => {
      if (this.q.get.get(user)) throw new StoreError('user-exists', `user '${user}' already exists`);
      const now = this.ctx.now();
      const pw = options.password;
      this.q.insert.run(
        user,
        realm,
        pw === undefined ? null : computeHa1('SHA-256', user, realm, pw),
        pw === undefined || !allowMd5 ? null : computeHa1('MD5', user, realm, pw),
        allowMd5 ? 1 : 0,
        md5Only ? 1 : 0,
        now,
        pw === undefined ? null : now,
      );
      this.ctx.changed();
      return this.require(user);
    });
  }

  get(name: string): User | undefined {
    const row = this.q.get.get(name.trim().toLowerCase());
    return row ? toUser(row) : undefined;
  }

  /** Like get, but throws a StoreError('no-such-user'). */
  require(name: string): User {
    const u = this.get(name);
    if (!u) throw new StoreError('no-such-user', `no such user '${name.trim().toLowerCase()}'`);
    return u;
  }

  list(): User[] {
    return this.q.list.all().map(toUser);
  }

  /**
   * Removes a user with its devices, invites and group memberships, and revokes their certificates. Policy rules that name the user
   * are kept (they are statements about a name, like rules naming people not yet invited); they
   * apply again if a user of that name is created later. The CLI says so.
   */
  remove(name: string): RemovedUser {
    return this.ctx.transaction(() => {
      const user = this.require(name);
      const devices = this.q.countDevices.get(user.name)?.n ?? 0;
      const invites = this.q.countInvites.get(user.name)?.n ?? 0;
      const groupMemberships = this.q.removeMemberships.run(user.name).changes;
      this.certificates.revokeUser(user.name, 'user-removed');
      this.q.remove.run(user.name);
      this.ctx.changed();
      return { user, devices, groupMemberships, invites };
    });
  }

  /** Sets the password (stores its HA1s for `realm`) and the MD5 opt-in in one step. */
  setPassword(name: string, realm: string, password: string, allowMd5: boolean): User {
    validatePassword(password);
    const r = validateRealm(realm);
    return this.ctx.transaction(() => {
      const user = this.require(name);
      this.q.setPassword.run(
        r,
        computeHa1('SHA-256', user.name, r, password),
        allowMd5 ? computeHa1('MD5', user.name, r, password) : null,
        allowMd5 ? 1 : 0,
        allowMd5 ? 1 : 0,
        this.ctx.now(),
        user.name,
      );
      this.ctx.changed();
      return this.require(user.name);
    });
  }

  /**
   * Turns MD5 digest on or off. Turning it off erases the MD5 HA1. Turning it on cannot create an
   * MD5 HA1 without the password: `md5Ready` is then false and the password must be set again.
   */
  setAllowMd5(name: string, allow: boolean): User {
    return this.ctx.transaction(() => {
      const user = this.require(name);
      if (allow) this.q.setAllowMd5.run(1, user.name);
      else this.q.dropMd5.run(user.name);
      this.ctx.changed();
      return this.require(user.name);
    });
  }

  /** Offer MD5 alone (on) or SHA-256 first again (off); on needs MD5 to be allowed. */
  setMd5Only(name: string, on: boolean): User {
    return this.ctx.transaction(() => {
      const user = this.require(name);
      if (on && !user.allowMd5) {
        throw new StoreError(
          'invalid-argument',
          `MD5 is not allowed for '${user.name}': allow it first (user md5 ${user.name} on)`,
        );
      }
      this.q.setMd5Only.run(on ? 1 : 0, user.name);
      this.ctx.changed();
      return this.require(user.name);
    });
  }

  /** @internal for Store.credentialsFor */
  credentialRow(name: string): UserCredentialRow | undefined {
    return this.q.credentials.get(name);
  }
}

export function validateRealm(realm: string): string {
  if (realm.length === 0 || realm.length > 253 || /["\\\x00-\x1f\x7f]/.test(realm)) {
    throw new StoreError('invalid-argument', `invalid realm '${realm}'`);
  }
  return realm;
}
