/**
 * The database schema, as an ordered list of migrations. `PRAGMA user_version` holds the number of
 * migrations applied; `openStore` applies the missing ones, each in its own transaction, and refuses a
 * database whose version is newer than this list (written by a newer tsunagu-server).
 *
 * Rules for changing the schema: never edit a migration that has shipped; append a new one.
 */
export interface Migration {
  /** 1-based; equal to its position in MIGRATIONS + 1. */
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'users, devices, invites, groups, policy rules, settings',
    sql: /* sql */ `
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      -- Passwords are never stored: only HA1 = H(name:realm:password). ha1_md5 exists only while
      -- allow_md5 = 1 and the password was set with it on.
      CREATE TABLE users (
        name                TEXT PRIMARY KEY,
        realm               TEXT NOT NULL,
        ha1_sha256          TEXT,
        ha1_md5             TEXT,
        allow_md5           INTEGER NOT NULL DEFAULT 0 CHECK (allow_md5 IN (0, 1)),
        created_at          INTEGER NOT NULL,
        password_changed_at INTEGER,
        CHECK (ha1_md5 IS NULL OR (ha1_sha256 IS NOT NULL AND allow_md5 = 1))
      ) STRICT;

      -- kind 'enrolled': joined by invite; its own random secret, digest username 'user/id',
      --   SHA-256 HA1 only.
      -- kind 'password': first seen registering with the user's password (registrar's touch()).
      CREATE TABLE devices (
        user         TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        id           TEXT NOT NULL,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('enrolled', 'password')),
        instance     TEXT NOT NULL,
        realm        TEXT,
        ha1_sha256   TEXT,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER,
        last_address TEXT,
        PRIMARY KEY (user, id),
        UNIQUE (user, instance),
        CHECK ((kind = 'enrolled') = (ha1_sha256 IS NOT NULL AND realm IS NOT NULL))
      ) STRICT;

      -- Only the SHA-256 of a token is stored. last_failure records why the latest attempt on this
      -- invite failed (the enrolling client only ever hears 'invalid').
      CREATE TABLE invites (
        id              INTEGER PRIMARY KEY,
        user            TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        token_sha256    TEXT NOT NULL UNIQUE,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        redeemed_at     INTEGER,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        last_failure    TEXT CHECK (last_failure IN ('used', 'expired', 'wrong-user')),
        last_failure_at INTEGER
      ) STRICT;
      CREATE INDEX invites_by_user ON invites(user);

      -- Every redemption attempt, including unknown tokens (bounded: the newest 1000 are kept).
      CREATE TABLE invite_attempts (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        user      TEXT NOT NULL,
        invite_id INTEGER,
        outcome   TEXT NOT NULL CHECK (outcome IN ('ok', 'unknown', 'used', 'expired', 'wrong-user'))
      ) STRICT;

      CREATE TABLE groups (
        name       TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      ) STRICT;

      -- member: a local user name ('bob') or a remote user ('bob@b.example'). Not a foreign key, so
      -- a policy can name people before they are invited; removing a local user deletes its rows.
      CREATE TABLE group_members (
        group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        member     TEXT NOT NULL,
        PRIMARY KEY (group_name, member)
      ) STRICT;
      CREATE INDEX group_members_by_member ON group_members(member);

      -- Rules in the order shown by 'policy show' (ORDER BY id). src/dst are selectors:
      -- '*', 'bob', 'bob@b.example', 'group:eng', 'domain:b.example'.
      CREATE TABLE policy_rules (
        id         INTEGER PRIMARY KEY,
        action     TEXT NOT NULL CHECK (action IN ('allow', 'deny')),
        src        TEXT NOT NULL,
        dst        TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'users.md5_only: offer only an MD5 challenge, for legacy clients',
    sql: /* sql */ `
      -- Some legacy clients (baresip 1.0, SIPp 3.6) give up on a challenge list that starts with an
      -- algorithm they do not know, instead of taking the first they support (RFC 8760 §2.4).
      ALTER TABLE users ADD COLUMN md5_only INTEGER NOT NULL DEFAULT 0 CHECK (md5_only IN (0, 1));
    `,
  },
  {
    version: 3,
    description: 'certificates issued by the CA; revoked devices',
    sql: /* sql */ `
      -- A revoked device keeps its row (for the audit trail and a clear refusal when it retries) but
      -- can no longer authenticate, by secret or by certificate.
      ALTER TABLE devices ADD COLUMN revoked_at INTEGER;

      -- Every certificate the CA issued, with its owner and device. Not a foreign key: removing a user
      -- or device revokes its certificates, and the rows stay so that the revocation list names them.
      CREATE TABLE certificates (
        serial        TEXT PRIMARY KEY,
        fingerprint   TEXT NOT NULL UNIQUE,
        user          TEXT NOT NULL,
        device        TEXT NOT NULL,
        instance      TEXT NOT NULL,
        pem           TEXT NOT NULL,
        not_before    INTEGER NOT NULL,
        not_after     INTEGER NOT NULL,
        issued_at     INTEGER NOT NULL,
        revoked_at    INTEGER,
        revoke_reason TEXT CHECK (revoke_reason IN ('device-revoked', 'device-removed', 'user-removed')),
        CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
      ) STRICT;
      CREATE INDEX certificates_by_device ON certificates(user, device, not_after);
      CREATE INDEX certificates_revoked ON certificates(not_after) WHERE revoked_at IS NOT NULL;
    `,
  },
  {
    version: 4,
    description: 'federation peers: the servers of other domains',
    sql: /* sql */ `
      -- One row per other domain this server exchanges SIP with. ca_fingerprint is the peer CA's
      -- certificate fingerprint in the form 'sha256:AB:CD:…' (upper case, colon-separated). transport
      -- 'tcp' is a plain-TCP leg (tests, legacy peers): Route-Security shows it as not secure.
      CREATE TABLE peers (
        domain         TEXT PRIMARY KEY,
        host           TEXT NOT NULL,
        port           INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        ca_fingerprint TEXT NOT NULL,
        transport      TEXT NOT NULL DEFAULT 'tls' CHECK (transport IN ('tls', 'tcp')),
        created_at     INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    description: 'federation peers without a fixed address, found by DNS',
    sql: /* sql */ `
      -- host and port NULL (both): the peer's server is found by DNS (_sips._tcp SRV, else the domain
      -- on 5061). A plain-TCP peer keeps a fixed address: its listener admits peers by IP address.
      -- SQLite cannot drop NOT NULL in place, so the table is rebuilt with its rows.
      CREATE TABLE peers_v5 (
        domain         TEXT PRIMARY KEY,
        host           TEXT,
        port           INTEGER CHECK (port BETWEEN 1 AND 65535),
        ca_fingerprint TEXT NOT NULL,
        transport      TEXT NOT NULL DEFAULT 'tls' CHECK (transport IN ('tls', 'tcp')),
        created_at     INTEGER NOT NULL,
        CHECK ((host IS NULL) = (port IS NULL)),
        CHECK (host IS NOT NULL OR transport = 'tls')
      ) STRICT;
      INSERT INTO peers_v5 (domain, host, port, ca_fingerprint, transport, created_at)
        SELECT domain, host, port, ca_fingerprint, transport, created_at FROM peers;
      DROP TABLE peers;
      ALTER TABLE peers_v5 RENAME TO peers;
    `,
  },
];

/** 'TSNG': marks the file as a Tsunagu database (PRAGMA application_id). */
export const APPLICATION_ID = 0x54534e47;
