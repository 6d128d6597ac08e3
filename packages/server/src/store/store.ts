import Database from 'better-sqlite3';
import fs from 'node:fs';
import { Certificates } from './certificates.js';
import type { StoreContext } from './context.js';
import { Devices } from './devices.js';
import type { EnrolledDevice } from './devices.js';
import { StoreError } from './errors.js';
import { Groups } from './groups.js';
import { Invites } from './invites.js';
import { APPLICATION_ID, MIGRATIONS } from './migrations.js';
import type { Migration } from './migrations.js';
import { DEVICE_ID, USER_NAME, normaliseDeviceName, normaliseInstance } from './names.js';
import { Peers } from './peers.js';
import { Rules } from './rules.js';
import { Settings } from './settings.js';
import { Users } from './users.js';

/** What the registrar needs to check a digest response. Never contains a password. */
export interface Credentials {
  /** The user name (AOR user part) the credentials authenticate. */
  user: string;
  /** Set when the digest username was `user/deviceId` (an enrolled device's own secret). */
  deviceId?: string;
  /** HA1 per algorithm, lower-case hex. MD5 only when the user allows it and has an MD5 HA1. */
  ha1: { 'SHA-256': string; MD5?: string };
  /** Challenge with MD5 alone (a legacy client the admin marked so). */
  md5Only?: boolean;
  /** The device was revoked: the credentials are right, and still refused (with a reason). */
  revoked?: boolean;
}

export interface OpenStoreOptions {
  /** Create the file (mode 0600) if it does not exist. Default true; admin commands pass false. */
  create?: boolean;
  /** Clock for tests; default Date.now. */
  now?: () => number;
  /** For tests of the migration machinery; default MIGRATIONS. */
  migrations?: readonly Migration[];
}

/** Applies missing migrations. Exported for tests; openStore calls it. */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
  file = 'the database',
): number {
  const latest = migrations.length;
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}, expected ${i + 1}`);
  });
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    throw new StoreError(
      'schema-too-new',
      `${file} has schema version ${current}, but this tsunagu-server knows only up to version ${latest}: it was written by a newer tsunagu-server; upgrade (the database was not changed)`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    const step = db.transaction(() => {
      const v = db.pragma('user_version', { simple: true }) as number; // another process may have migrated meanwhile
      if (v >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
      if (m.version === 1) db.pragma(`application_id = ${APPLICATION_ID}`);
    });
    try {
      step.immediate();
    } catch (e) {
      throw new StoreError(
        'migration-failed',
        `${file}: migration ${m.version} (${m.description}) failed: ${(e as Error).message}`,
      );
    }
  }
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * The server's database: one SQLite file (WAL mode, busy timeout 5 s, foreign keys on), shared by
 * the running server and the admin CLI. Every query is a prepared statement with bound parameters.
 */
export class Store {
  readonly users: Users;
  readonly devices: Devices;
  readonly invites: Invites;
  readonly groups: Groups;
  readonly rules: Rules;
  readonly settings: Settings;
  readonly certificates: Certificates;
  readonly peers: Peers;
  readonly schemaVersion: number;
  private localChanges = 0;
  private readonly ctx: StoreContext;
  private readonly dataVersion: Database.Statement<[], number>;

  /** Use openStore(). */
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    options: { now?: () => number; migrations?: readonly Migration[] } = {},
  ) {
    this.schemaVersion = migrate(db, options.migrations ?? MIGRATIONS, path);
    const now = options.now ?? Date.now;
    this.ctx = {
      db,
      now,
      changed: () => {
        this.localChanges++;
      },
      transaction: <T>(fn: () => T): T => db.transaction(fn).immediate(),
    };
    this.certificates = new Certificates(this.ctx);
    this.users = new Users(this.ctx, this.certificates);
    this.devices = new Devices(this.ctx, this.certificates);
    this.invites = new Invites(this.ctx);
    this.groups = new Groups(this.ctx);
    this.rules = new Rules(this.ctx);
    this.settings = new Settings(this.ctx);
    this.peers = new Peers(this.ctx);
    this.dataVersion = db.prepare('PRAGMA data_version').pluck() as Database.Statement<[], number>;
  }

  /**
   * A number that changes whenever the database changed in a way a cache may care about: commits by
   * any OTHER connection or process (`PRAGMA data_version`, e.g. the admin CLI while the server runs),
   * plus changes made through this Store (users, devices added or removed, groups, rules, settings, peers —
   * but not invites, which nothing caches, nor the last-seen updates of `devices.touch`). Costs one
   * tiny query; compare it with the previous value before using cached data.
   */
  changeCounter(): number {
    return this.dataVersion.get()! + this.localChanges;
  }

  /** Runs `fn` in one IMMEDIATE transaction: all or nothing. Nested calls become savepoints. */
  transaction<T>(fn: () => T): T {
    return this.ctx.transaction(fn);
  }

  /**
   * The HA1s for a digest username in a realm, or undefined (unknown user or device, no password,
   * another realm). `alice` → the user's password credentials; `alice/DEVICE` → the enrolled
   * device's own credentials. Lookups are exact: digest usernames are lower-case.
   */
  credentialsFor(digestUsername: string, realm: string): Credentials | undefined {
    const slash = digestUsername.indexOf('/');
    if (slash < 0) {
      if (!USER_NAME.test(digestUsername)) return undefined;
      const row = this.users.credentialRow(digestUsername);
      if (!row || row.ha1_sha256 === null || row.realm !== realm) return undefined;
      const ha1: Credentials['ha1'] = { 'SHA-256': row.ha1_sha256 };
      if (row.allow_md5 === 1 && row.ha1_md5 !== null) ha1.MD5 = row.ha1_md5;
      return { user: digestUsername, ha1, ...(row.md5_only === 1 && ha1.MD5 ? { md5Only: true } : {}) };
    }
    const user = digestUsername.slice(0, slash);
    const deviceId = digestUsername.slice(slash + 1);
    if (!USER_NAME.test(user) || !DEVICE_ID.test(deviceId)) return undefined;
    const row = this.devices.credentialRow(user, deviceId);
    if (!row || row.kind !== 'enrolled' || row.ha1_sha256 === null || row.realm !== realm) return undefined;
    return {
      user,
      deviceId,
      ha1: { 'SHA-256': row.ha1_sha256 },
      ...(row.revoked_at !== null ? { revoked: true } : {}),
    };
  }

  /**
   * Redeems an invite and enrols the device in ONE transaction: either the token is spent and the
   * device exists with a fresh secret, or nothing changed but the attempt log. Invalid device
   * name/instance throw before anything is touched.
   */
  enrollWithInvite(
    user: string,
    token: string,
    device: { name: string; instance: string },
    now = this.ctx.now(),
  ): ({ status: 'ok' } & EnrolledDevice) | { status: 'invalid' } {
    normaliseDeviceName(device.name);
    normaliseInstance(device.instance);
    return this.transaction(() => {
      const { outcome } = this.invites.redeemInTransaction(user, token, now);
      if (outcome !== 'ok') return { status: 'invalid' as const };
      return { status: 'ok' as const, ...this.devices.enroll(user, device, now) };
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens (and creates, with mode 0600, unless `create: false`) the database, checks it is a Tsunagu
 * database no newer than this code, and applies pending migrations.
 */
export function openStore(file: string, options: OpenStoreOptions = {}): Store {
  if (!fs.existsSync(file)) {
    if (options.create === false) throw new StoreError('not-found', `${file} does not exist`);
    try {
      // An empty file is an empty SQLite database; creating it ourselves sets its mode, which SQLite
      // then also uses for the -wal and -shm files. It holds HA1s: owner only.
      fs.writeFileSync(file, '', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 5000 });
  } catch (e) {
    throw new StoreError('not-found', `cannot open ${file}: ${(e as Error).message}`);
  }
  try {
    let appId: number;
    let version: number;
    let tables: number;
    try {
      appId = db.pragma('application_id', { simple: true }) as number;
      version = db.pragma('user_version', { simple: true }) as number;
      tables = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get() as number;
    } catch (e) {
      throw new StoreError('not-tsunagu', `${file} is not a Tsunagu database (${(e as Error).message})`);
    }
    if ((appId !== 0 && appId !== APPLICATION_ID) || (appId === 0 && (version !== 0 || tables !== 0))) {
      throw new StoreError('not-tsunagu', `${file} is not a Tsunagu database`);
    }
    const latest = (options.migrations ?? MIGRATIONS).length;
    if (version > latest) migrate(db, options.migrations ?? MIGRATIONS, file); // throws, before any write
    db.pragma('busy_timeout = 5000');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal')
      throw new StoreError('not-tsunagu', `${file}: cannot switch to WAL mode (got ${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return new Store(db, file, options);
  } catch (e) {
    db.close();
    throw e;
  }
}
