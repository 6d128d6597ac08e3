import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { computeHa1 } from '../auth/digest.js';
import { StoreError } from './errors.js';
import { MIGRATIONS } from './migrations.js';
import { normaliseCaFingerprint } from './peers.js';
import type { Migration } from './migrations.js';
import { migrate, openStore } from './store.js';
import type { Store } from './store.js';

const REALM = 'example.org';
const here = path.dirname(fileURLToPath(import.meta.url));

let dir: string;
let file: string;
let store: Store;
let clock: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-store-'));
  file = path.join(dir, 'tsunagu.db');
  clock = Date.parse('2026-01-01T00:00:00Z');
  store = openStore(file, { now: () => clock });
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function code(c: string) {
  return (e: unknown) => e instanceof StoreError && e.code === c;
}

/** Every byte of the database, its WAL and shared-memory files. */
function allDbBytes(): Buffer {
  return Buffer.concat(
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('tsunagu.db'))
      .map((f) => fs.readFileSync(path.join(dir, f))),
  );
}

describe('opening', () => {
  it('creates an owner-only WAL database with foreign keys and a busy timeout', () => {
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
    assert.equal(store.db.pragma('busy_timeout', { simple: true }), 5000);
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    store.users.add('alice', { realm: REALM, password: 'pw' });
    for (const f of fs.readdirSync(dir)) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o077, 0, f);
  });
  it('refuses to create with create:false, and refuses files that are not Tsunagu databases', () => {
    assert.throws(() => openStore(path.join(dir, 'missing.db'), { create: false }), code('not-found'));
    assert.equal(fs.existsSync(path.join(dir, 'missing.db')), false);
    const junk = path.join(dir, 'junk.db');
    fs.writeFileSync(
      junk,
      'this is not sqlite at all, not even close........................................................',
    );
    assert.throws(
      () => openStore(junk),
      (e: unknown) => e instanceof StoreError && /is not a Tsunagu database/.test(e.message),
    );
    const other = path.join(dir, 'other.db');
    const o = new Database(other);
    o.exec('CREATE TABLE t (x)');
    o.close();
    assert.throws(() => openStore(other), code('not-tsunagu'));
  });
  it('loses nothing across close and reopen', () => {
    store.users.add('alice', { realm: REALM, password: 'pw', allowMd5: true });
    store.users.add('bob', { realm: REALM });
    const { device } = store.devices.enroll('alice', {
      name: 'Laptop',
      instance: '<urn:uuid:00000000-0000-0000-0000-00000000000a>',
    });
    store.devices.touch('bob', 'urn:uuid:b', { address: '192.0.2.1:5555' });
    const inv = store.invites.create('bob', 3_600_000);
    store.groups.addMembers('eng', ['alice', 'bob', 'carol@b.example']);
    store.rules.add({ action: 'allow', src: 'group:eng', dst: 'group:eng' });
    store.rules.add({ action: 'deny', src: 'carol', dst: '*' });
    store.settings.setPolicyDefault('deny-all');
    const before = {
      users: store.users.list(),
      devices: store.devices.list(),
      invites: store.invites.list(clock),
      groups: store.groups.list(),
      rules: store.rules.list(),
      def: store.settings.policyDefault(),
      cred: store.credentialsFor(`alice/${device.id}`, REALM),
    };
    store.close();
    store = openStore(file, { create: false, now: () => clock });
    assert.deepEqual(
      {
        users: store.users.list(),
        devices: store.devices.list(),
        invites: store.invites.list(clock),
        groups: store.groups.list(),
        rules: store.rules.list(),
        def: store.settings.policyDefault(),
        cred: store.credentialsFor(`alice/${device.id}`, REALM),
      },
      before,
    );
    assert.equal(store.invites.redeem('bob', inv.token, clock), 'ok');
  });
});

describe('migrations', () => {
  const v1: Migration = { version: 1, description: 'one', sql: 'CREATE TABLE a (x INTEGER) STRICT;' };
  const v2: Migration = {
    version: 2,
    description: 'two',
    sql: 'ALTER TABLE a ADD COLUMN y INTEGER NOT NULL DEFAULT 7;',
  };
  const broken: Migration = {
    version: 2,
    description: 'broken',
    sql: 'ALTER TABLE a ADD COLUMN z INTEGER; CREATE TABLE oops (',
  };

  it('migrates a database written by an older version, keeping its data', () => {
    const f = path.join(dir, 'old.db');
    const db = new Database(f);
    assert.equal(migrate(db, [v1]), 1);
    db.prepare('INSERT INTO a (x) VALUES (?)').run(42);
    db.close();
    const db2 = new Database(f);
    assert.equal(migrate(db2, [v1, v2]), 2);
    assert.deepEqual(db2.prepare('SELECT x, y FROM a').all(), [{ x: 42, y: 7 }]);
    assert.equal(migrate(db2, [v1, v2]), 2, 'idempotent');
    db2.close();
  });
  it('rolls back a failing migration completely', () => {
    const db = new Database(path.join(dir, 'broken.db'));
    migrate(db, [v1]);
    assert.throws(
      () => migrate(db, [v1, broken]),
      (e: unknown) => e instanceof StoreError && /migration 2 \(broken\) failed/.test(e.message),
    );
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    assert.deepEqual(
      db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('a'),
      ['x'],
      'the ALTER of the failed step was rolled back',
    );
    db.close();
  });
  it('opens a current-schema database created by a version-0 file (fresh install path)', () => {
    const f = path.join(dir, 'empty.db');
    new Database(f).close();
    const s = openStore(f);
    assert.equal(s.schemaVersion, MIGRATIONS.length);
    s.close();
  });
  it('refuses a database from a newer tsunagu-server and leaves it untouched', () => {
    store.close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const bytes = fs.readFileSync(file);
    assert.throws(
      () => openStore(file),
      (e: unknown) =>
        e instanceof StoreError &&
        e.code === 'schema-too-new' &&
        e.message.includes(
          `schema version ${MIGRATIONS.length + 5}, but this tsunagu-server knows only up to version ${MIGRATIONS.length}`,
        ),
    );
    assert.ok(fs.readFileSync(file).equals(bytes), 'file unchanged');
    store = openStore(path.join(dir, 'fresh.db'));
  });
});

describe('users', () => {
  it('stores HA1s, never the password', () => {
    const password = 'correct horse battery staple 7f3a';
    const u = store.users.add('Alice', { realm: REALM, password });
    assert.equal(u.name, 'alice');
    assert.equal(u.hasPassword, true);
    assert.equal(u.allowMd5, false);
    const c = store.credentialsFor('alice', REALM);
    assert.deepEqual(c, {
      user: 'alice',
      ha1: { 'SHA-256': computeHa1('SHA-256', 'alice', REALM, password) },
    });
    assert.equal(c?.ha1['SHA-256'], createHash('sha256').update(`alice:${REALM}:${password}`).digest('hex'));
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    assert.equal(allDbBytes().includes(Buffer.from(password)), false);
  });
  it('keeps an MD5 HA1 only while MD5 is allowed', () => {
    store.users.add('bob', { realm: REALM, password: 'pw', allowMd5: true });
    assert.equal(
      store.credentialsFor('bob', REALM)?.ha1.MD5,
      createHash('md5').update(`bob:${REALM}:pw`).digest('hex'),
    );
    let u = store.users.setAllowMd5('bob', false);
    assert.deepEqual([u.allowMd5, u.md5Ready], [false, false]);
    assert.equal(store.credentialsFor('bob', REALM)?.ha1.MD5, undefined);
    u = store.users.setAllowMd5('bob', true);
    assert.deepEqual([u.allowMd5, u.md5Ready], [true, false], 'MD5 on, but the password must be set again');
    assert.equal(store.credentialsFor('bob', REALM)?.ha1.MD5, undefined);
    u = store.users.setPassword('bob', REALM, 'pw2', true);
    assert.equal(u.md5Ready, true);
    assert.equal(store.credentialsFor('bob', REALM)?.ha1.MD5, computeHa1('MD5', 'bob', REALM, 'pw2'));
    assert.equal(
      store.credentialsFor('bob', REALM)?.ha1['SHA-256'],
      computeHa1('SHA-256', 'bob', REALM, 'pw2'),
    );
  });
  it('validates names and passwords', () => {
    for (const bad of ['', '-x', '.x', 'a b', 'a/b', 'a@b', 'é', 'x'.repeat(65)]) {
      assert.throws(
        () => store.users.add(bad, { realm: REALM }),
        (e: unknown) => e instanceof StoreError && /^invalid user name/.test(e.message),
        bad,
      );
    }
    store.users.add('x'.repeat(64), { realm: REALM });
    assert.throws(
      () => store.users.add('carol', { realm: REALM, password: '' }),
      /the password must not be empty/,
    );
    assert.throws(() => store.users.add('carol', { realm: REALM, password: 'a\nb' }), /line breaks/);
    assert.equal(store.users.get('carol'), undefined, 'nothing half-created');
    store.users.add('carol', { realm: REALM });
    assert.throws(() => store.users.add('CAROL', { realm: REALM }), /user 'carol' already exists/);
    assert.throws(() => store.users.setPassword('nobody', REALM, 'x', false), /no such user 'nobody'/);
  });
  it('a user without a password, another realm or a malformed name has no credentials', () => {
    store.users.add('dave', { realm: REALM });
    store.users.add('erin', { realm: REALM, password: 'pw' });
    assert.equal(store.credentialsFor('dave', REALM), undefined);
    assert.equal(store.credentialsFor('erin', 'other.realm'), undefined);
    assert.equal(store.credentialsFor('Erin', REALM), undefined, 'exact, lower-case');
    for (const s of ['', '/', 'erin/', '/x', 'erin/../x', "erin' OR 1=1 --", 'erin/x/y'])
      assert.equal(store.credentialsFor(s, REALM), undefined, s);
  });
  it('removing a user cascades devices, invites and group memberships but keeps rules', () => {
    store.users.add('alice', { realm: REALM, password: 'pw' });
    store.users.add('bob', { realm: REALM });
    store.devices.enroll('alice', { name: 'phone', instance: 'urn:uuid:1' });
    store.devices.touch('alice', 'urn:uuid:2', { address: '192.0.2.1:1' });
    store.invites.create('alice', 60_000);
    store.groups.addMembers('eng', ['alice', 'bob']);
    store.rules.add({ action: 'deny', src: 'alice', dst: '*' });
    const r = store.users.remove('ALICE');
    assert.deepEqual([r.user.name, r.devices, r.invites, r.groupMemberships], ['alice', 2, 1, 1]);
    assert.deepEqual(store.devices.list(), []);
    assert.deepEqual(store.invites.list(), []);
    assert.deepEqual(store.groups.get('eng')?.members, ['bob']);
    assert.equal(store.rules.list().length, 1);
    assert.throws(() => store.users.remove('alice'), code('no-such-user'));
  });
});

describe('devices', () => {
  beforeEach(() => {
    store.users.add('alice', { realm: REALM, password: 'pw' });
  });
  it('touch creates a password device once, then records last seen', () => {
    const d = store.devices.touch('alice', '<urn:uuid:AAAAAAAA-0000-0000-0000-000000000001>', {
      address: '192.0.2.7:5061',
    });
    assert.match(d.id, /^d-[a-z2-7]{8}$/);
    assert.equal(d.kind, 'password');
    assert.equal(d.instance, 'urn:uuid:aaaaaaaa-0000-0000-0000-000000000001');
    assert.equal(d.digestUsername, null);
    assert.deepEqual([d.createdAt, d.lastSeenAt, d.lastAddress], [clock, clock, '192.0.2.7:5061']);
    clock += 1000;
    const again = store.devices.touch('alice', 'urn:uuid:aaaaaaaa-0000-0000-0000-000000000001', {
      address: '[2001:db8::10]:5061',
      name: 'Desk',
    });
    assert.equal(again.id, d.id);
    assert.deepEqual(
      [again.name, again.lastSeenAt, again.lastAddress],
      ['Desk', clock, '[2001:db8::10]:5061'],
    );
    assert.equal(store.devices.list('alice').length, 1);
    assert.deepEqual(
      store.devices.findByInstance('alice', '<urn:uuid:aaaaaaaa-0000-0000-0000-000000000001>'),
      again,
    );
    assert.equal(store.devices.findByInstance('alice', 'urn:uuid:nope'), undefined);
    assert.equal(store.devices.findByInstance('alice', '<bad value>'), undefined);
    assert.throws(
      () => store.devices.touch('nobody', 'urn:uuid:1', { address: 'x:1' }),
      code('no-such-user'),
    );
  });
  it('enroll stores only the HA1 of a random secret, for user/deviceId', () => {
    const { device, secret } = store.devices.enroll('alice', {
      name: "Alice's Laptop",
      instance: 'urn:uuid:1',
    });
    assert.equal(device.id, 'alice-s-laptop');
    assert.equal(device.kind, 'enrolled');
    assert.equal(device.digestUsername, 'alice/alice-s-laptop');
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(store.credentialsFor('alice/alice-s-laptop', REALM), {
      user: 'alice',
      deviceId: 'alice-s-laptop',
      ha1: { 'SHA-256': computeHa1('SHA-256', 'alice/alice-s-laptop', REALM, secret) },
    });
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    assert.equal(allDbBytes().includes(Buffer.from(secret)), false);
    // same name again → deduplicated id; same instance again → re-keyed, same id
    const second = store.devices.enroll('alice', { name: "Alice's laptop", instance: 'urn:uuid:2' });
    assert.equal(second.device.id, 'alice-s-laptop-2');
    const rekey = store.devices.enroll('alice', { name: 'Renamed', instance: 'urn:uuid:1' });
    assert.equal(rekey.device.id, 'alice-s-laptop');
    assert.equal(rekey.device.name, 'Renamed');
    assert.notEqual(rekey.secret, secret);
    assert.equal(
      store.credentialsFor('alice/alice-s-laptop', REALM)?.ha1['SHA-256'],
      computeHa1('SHA-256', 'alice/alice-s-laptop', REALM, rekey.secret),
    );
    // a name with nothing usable gets a random id
    assert.match(
      store.devices.enroll('alice', { name: '★★★', instance: 'urn:uuid:3' }).device.id,
      /^d-[a-z2-7]{8}$/,
    );
    // a password device has no device credentials
    const pd = store.devices.touch('alice', 'urn:uuid:4', { address: 'h:1' });
    assert.equal(store.credentialsFor(`alice/${pd.id}`, REALM), undefined);
  });
  it('a password device becomes enrolled when its instance enrols', () => {
    const pd = store.devices.touch('alice', 'urn:uuid:9', { address: 'h:1', name: 'Phone' });
    const { device, secret } = store.devices.enroll('alice', { name: 'Phone', instance: 'urn:uuid:9' });
    assert.equal(device.id, pd.id);
    assert.equal(device.kind, 'enrolled');
    assert.ok(store.credentialsFor(`alice/${pd.id}`, REALM));
    assert.ok(secret);
  });
  it('validates input and removes', () => {
    assert.throws(
      () => store.devices.enroll('alice', { name: '', instance: 'urn:uuid:1' }),
      /invalid device name/,
    );
    assert.throws(
      () => store.devices.enroll('alice', { name: 'x', instance: '' }),
      /invalid device instance/,
    );
    assert.throws(
      () => store.devices.enroll('alice', { name: 'x\u0000', instance: 'urn:uuid:1' }),
      /invalid device name/,
    );
    assert.throws(
      () => store.devices.touch('alice', 'urn:uuid:1', { address: 'a b' }),
      /invalid device address/,
    );
    const { device } = store.devices.enroll('alice', { name: 'tab', instance: 'urn:uuid:1' });
    assert.throws(
      () => store.devices.remove('bob', 'tab'),
      (e: unknown) => e instanceof StoreError && e.message === "no such user 'bob'",
    );
    assert.throws(
      () => store.devices.remove('alice', 'nope'),
      (e: unknown) => e instanceof StoreError && e.message === "user 'alice' has no device 'nope'",
    );
    assert.deepEqual(store.devices.remove('alice', 'TAB'), device);
    assert.equal(store.credentialsFor('alice/tab', REALM), undefined);
    assert.deepEqual(store.devices.list('bob'), [], 'an unknown user has no devices (no exception)');
  });
});

describe('invites', () => {
  beforeEach(() => {
    store.users.add('alice', { realm: REALM });
    store.users.add('bob', { realm: REALM });
  });
  it('a token redeems once, for its user, before it expires', () => {
    const { token, expiresAt } = store.invites.create('alice', 3_600_000);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt, clock + 3_600_000);
    assert.equal(store.invites.redeem('bob', token), 'invalid', 'wrong user');
    assert.equal(store.invites.redeem('alice', token), 'ok');
    assert.equal(store.invites.redeem('alice', token), 'invalid', 'used');
    assert.equal(store.invites.redeem('alice', 'A'.repeat(43)), 'invalid', 'unknown');
    assert.equal(store.invites.redeem('alice', '../etc'), 'invalid', 'malformed');
    const [inv] = store.invites.list();
    assert.ok(inv);
    assert.deepEqual(
      { status: inv.status, redeemedAt: inv.redeemedAt, failed: inv.failedAttempts, last: inv.lastFailure },
      { status: 'redeemed', redeemedAt: clock, failed: 2, last: 'used' },
    );
    assert.deepEqual(
      store.invites.attempts().map((a) => a.outcome),
      ['unknown', 'unknown', 'used', 'ok', 'wrong-user'],
    );
    assert.ok(!JSON.stringify(store.invites.list()).includes(token), 'never lists the token');
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    assert.equal(allDbBytes().includes(Buffer.from(token)), false, 'only its hash is stored');
  });
  it('an expired token is invalid and recorded as expired', () => {
    const { token } = store.invites.create('alice', 60_000);
    assert.equal(store.invites.redeem('alice', token, clock + 60_000), 'invalid');
    const [inv] = store.invites.list(clock + 60_000);
    assert.deepEqual([inv?.status, inv?.lastFailure], ['expired', 'expired']);
  });
  it('rejects bad lifetimes and unknown users', () => {
    assert.throws(() => store.invites.create('alice', 0), /lifetime/);
    assert.throws(() => store.invites.create('alice', 366 * 86_400_000), /lifetime/);
    assert.throws(() => store.invites.create('nobody', 60_000), code('no-such-user'));
  });
  it('enrollWithInvite is all or nothing', () => {
    const { token } = store.invites.create('alice', 60_000);
    assert.throws(
      () => store.enrollWithInvite('alice', token, { name: '', instance: 'urn:uuid:1' }),
      /invalid device name/,
    );
    assert.equal(store.invites.list()[0]?.status, 'pending', 'token not spent by a bad request');
    assert.deepEqual(store.enrollWithInvite('bob', token, { name: 'x', instance: 'urn:uuid:1' }), {
      status: 'invalid',
    });
    const ok = store.enrollWithInvite('alice', token, { name: 'Laptop', instance: 'urn:uuid:1' });
    assert.equal(ok.status, 'ok');
    assert.ok(ok.status === 'ok' && store.credentialsFor(`alice/${ok.device.id}`, REALM));
    assert.deepEqual(store.enrollWithInvite('alice', token, { name: 'Other', instance: 'urn:uuid:2' }), {
      status: 'invalid',
    });
    assert.equal(store.devices.list('alice').length, 1);
  });
  it('redeems atomically when two processes race for one token', async () => {
    const { token } = store.invites.create('alice', 3_600_000, Date.now()); // the children use the real clock
    const script = `
      import { openStore } from ${JSON.stringify(path.join(here, 'store.ts'))};
      const s = openStore(${JSON.stringify(file)}, { create: false });
      process.stdout.write(s.invites.redeem('alice', ${JSON.stringify(token)}));
      s.close();`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          cwd: path.join(here, '..', '..'),
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => process.stderr.write(d));
        p.on('exit', (c) => (c === 0 ? resolve(out) : reject(new Error(`exit ${c}`))));
      });
    const results = await Promise.all([run(), run(), run(), run()]);
    assert.deepEqual(results.sort(), ['invalid', 'invalid', 'invalid', 'ok']);
  });
});

describe('groups and rules', () => {
  it('adds, lists and removes members and groups', () => {
    assert.deepEqual(store.groups.addMembers('Eng', ['alice', 'Bob', 'carol@B.example', 'alice']), {
      created: true,
      added: ['alice', 'bob', 'carol@b.example'],
    });
    assert.deepEqual(store.groups.addMembers('eng', ['bob', 'dave']), { created: false, added: ['dave'] });
    assert.deepEqual(store.groups.get('eng')?.members, ['alice', 'bob', 'carol@b.example', 'dave']);
    assert.deepEqual(store.groups.removeMembers('eng', ['dave', 'zed']), {
      removed: ['dave'],
      notMembers: ['zed'],
    });
    assert.throws(() => store.groups.addMembers('eng', ['group:x']), /invalid member 'group:x'/);
    assert.throws(() => store.groups.addMembers('bad name', ['a']), /invalid group name/);
    assert.throws(() => store.groups.removeMembers('nope', ['a']), code('no-such-group'));
    store.rules.add({ action: 'allow', src: '*', dst: '*' });
    store.rules.add({ action: 'allow', src: 'group:eng', dst: '*' });
    assert.throws(
      () => store.groups.remove('eng'),
      (e: unknown) =>
        e instanceof StoreError &&
        e.message.startsWith("group 'eng' is used by policy rule 2: remove it first"),
    );
    store.rules.removeAt(2);
    assert.equal(store.groups.remove('eng').name, 'eng');
    assert.deepEqual(store.groups.list(), []);
  });
  it('numbers rules from 1 and removes by position', () => {
    store.rules.add({ action: 'allow', src: 'a', dst: 'b' });
    store.rules.add({ action: 'deny', src: 'c', dst: 'd' });
    store.rules.add({ action: 'allow', src: 'e', dst: 'f' });
    assert.deepEqual(store.rules.removeAt(2).src, 'c');
    assert.deepEqual(
      store.rules.list().map((r) => [r.position, r.src]),
      [
        [1, 'a'],
        [2, 'e'],
      ],
    );
    assert.throws(() => store.rules.removeAt(3), /there is no rule 3: rules are numbered 1 to 2/);
    assert.throws(() => store.rules.removeAt(0), code('no-such-rule'));
    assert.throws(() => store.rules.add({ action: 'allow', src: 'a b', dst: 'c' }), /invalid selector/);
  });
});

const HEX = 'd2c8c1953bbcaae703a0a18ff585bbe318e62dbed665d56830713b129ad50f68';
const CANONICAL = `sha256:${HEX.toUpperCase().match(/../g)!.join(':')}`;

describe('peers', () => {
  it('adds, lists sorted by domain, gets and removes; each change moves changeCounter', () => {
    const c0 = store.changeCounter();
    const b = store.peers.add({
      domain: ' B.Example ',
      host: 'SIP.B.example',
      port: 5061,
      caFingerprint: `sha256:${HEX}`,
    });
    assert.deepEqual(b, {
      domain: 'b.example',
      host: 'sip.b.example',
      port: 5061,
      caFingerprint: CANONICAL,
      transport: 'tls',
      createdAt: clock,
    });
    const c1 = store.changeCounter();
    assert.notEqual(c1, c0);
    clock += 1000;
    store.peers.add({
      domain: 'a.example',
      host: '2001:db8::1',
      port: 5070,
      caFingerprint: CANONICAL,
      transport: 'tcp',
    });
    assert.deepEqual(
      store.peers.list().map((p) => [p.domain, p.host, p.port, p.transport]),
      [
        ['a.example', '2001:db8::1', 5070, 'tcp'],
        ['b.example', 'sip.b.example', 5061, 'tls'],
      ],
    );
    assert.deepEqual(store.peers.get('B.EXAMPLE'), b);
    assert.equal(store.peers.get('c.example'), undefined);
    const c2 = store.changeCounter();
    assert.equal(store.peers.remove('nope.example'), false);
    assert.equal(store.changeCounter(), c2, 'removing nothing is no change');
    assert.equal(store.peers.remove('A.example'), true);
    assert.notEqual(store.changeCounter(), c2);
    assert.deepEqual(store.peers.list(), [b]);
    store.close();
    store = openStore(file, { create: false, now: () => clock });
    assert.deepEqual(store.peers.list(), [b], 'kept across reopen');
  });
  it('refuses a duplicate domain and bad input, and changes nothing', () => {
    const b = store.peers.add({ domain: 'b.example', host: 'h', port: 1, caFingerprint: CANONICAL });
    const ok = { domain: 'c.example', host: 'h', port: 5061, caFingerprint: CANONICAL };
    assert.throws(
      () => store.peers.add({ ...ok, domain: 'B.example', port: 5062 }),
      (e: unknown) =>
        e instanceof StoreError &&
        e.code === 'peer-exists' &&
        e.message ===
          "peer 'b.example' already exists: remove it first to change it (tsunagu-server peer remove b.example)",
    );
    assert.throws(() => store.peers.add({ ...ok, domain: 'bad_domain' }), /invalid peer domain 'bad_domain'/);
    assert.throws(() => store.peers.add({ ...ok, domain: '' }), code('invalid-name'));
    assert.throws(() => store.peers.add({ ...ok, host: 'bad host' }), /invalid peer host 'bad host'/);
    assert.throws(() => store.peers.add({ ...ok, host: '[::1]' }), code('invalid-argument'));
    for (const port of [0, 65536, 1.5, Number.NaN])
      assert.throws(() => store.peers.add({ ...ok, port }), /invalid peer port/);
    assert.throws(() => store.peers.add({ ...ok, caFingerprint: HEX }), /invalid CA fingerprint/);
    assert.throws(
      () => store.peers.add({ ...ok, transport: 'udp' as 'tls' }),
      /invalid peer transport 'udp'/,
    );
    assert.deepEqual(store.peers.list(), [b]);
  });
  it('normalises a CA fingerprint to the form fingerprint() prints, or names the expected form', () => {
    for (const input of [
      `sha256:${HEX}`,
      `SHA256:${HEX.toUpperCase()}`,
      CANONICAL.toLowerCase(),
      `  ${CANONICAL}\n`,
    ])
      assert.equal(normaliseCaFingerprint(input), CANONICAL, input);
    for (const bad of [
      HEX, // no prefix
      CANONICAL.slice('sha256:'.length),
      `sha1:${HEX.slice(0, 40)}`,
      `sha256:${HEX.slice(0, 62)}`, // 31 bytes
      `sha256:${HEX}00`, // 33 bytes
      `sha256:${HEX.slice(0, 4)}:${HEX.slice(4)}`, // colons not between every byte
      `${CANONICAL}:`,
      `sha256:${HEX.slice(0, 63)}g`,
      `sha256: ${HEX}`,
      '',
    ]) {
      assert.throws(
        () => normaliseCaFingerprint(bad),
        (e: unknown) =>
          e instanceof StoreError &&
          e.code === 'invalid-argument' &&
          e.message.startsWith(
            `invalid CA fingerprint '${bad}': expected sha256: followed by 32 bytes in hex`,
          ),
        bad,
      );
    }
  });
  it('migration 4 adds the peers table to a version 3 database, keeping its data', () => {
    store.close();
    const f = path.join(dir, 'v3.db');
    const raw = new Database(f);
    assert.equal(migrate(raw, MIGRATIONS.slice(0, 3)), 3);
    raw.prepare("INSERT INTO users (name, realm, created_at) VALUES ('alice', ?, 1)").run(REALM);
    raw.close();
    store = openStore(f, { create: false, now: () => clock });
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    assert.equal(store.users.get('alice')?.name, 'alice');
    assert.deepEqual(store.peers.list(), []);
    store.peers.add({ domain: 'b.example', host: '192.0.2.7', port: 5061, caFingerprint: CANONICAL });
    assert.equal(store.peers.get('b.example')?.host, '192.0.2.7');
    // The schema itself refuses what the repository would: a port out of range, an unknown transport.
    const insert = store.db.prepare(
      'INSERT INTO peers (domain, host, port, ca_fingerprint, transport, created_at) VALUES (?, ?, ?, ?, ?, 1)',
    );
    assert.throws(() => insert.run('c.example', 'h', 0, CANONICAL, 'tls'), /CHECK constraint failed/);
    assert.throws(() => insert.run('c.example', 'h', 5061, CANONICAL, 'udp'), /CHECK constraint failed/);
    assert.throws(
      () => insert.run('c.example', 'h', '5061x', CANONICAL, 'tls'),
      /cannot store TEXT value in INTEGER column/,
    );
    store.db
      .prepare('INSERT INTO peers (domain, host, port, ca_fingerprint, created_at) VALUES (?, ?, ?, ?, 1)')
      .run('d.example', 'h', 5061, CANONICAL);
    assert.equal(store.peers.get('d.example')?.transport, 'tls', "transport defaults to 'tls'");
  });
  it('adds a TLS peer without an address, found by DNS; a plain-TCP one needs an address', () => {
    const d = store.peers.add({ domain: 'd.example', caFingerprint: CANONICAL });
    assert.deepEqual(d, {
      domain: 'd.example',
      host: null,
      port: null,
      caFingerprint: CANONICAL,
      transport: 'tls',
      createdAt: clock,
    });
    assert.deepEqual(store.peers.get('d.example'), d);
    const ok = { domain: 'e.example', caFingerprint: CANONICAL };
    assert.throws(
      () => store.peers.add({ ...ok, transport: 'tcp' }),
      (e: unknown) =>
        e instanceof StoreError &&
        e.code === 'invalid-argument' &&
        e.message ===
          'a plain-TCP peer needs a fixed address: its listener admits peers by IP address, so it cannot be found by DNS',
    );
    assert.throws(() => store.peers.add({ ...ok, host: 'h' }), /needs both a host and a port/);
    assert.throws(() => store.peers.add({ ...ok, port: 5061 }), /needs both a host and a port/);
    assert.deepEqual(store.peers.list(), [d]);
  });
  it('migration 5 keeps the peers of a version 4 database and lets new ones go without an address', () => {
    store.close();
    const f = path.join(dir, 'v4.db');
    const raw = new Database(f);
    assert.equal(migrate(raw, MIGRATIONS.slice(0, 4)), 4);
    const insert = raw.prepare(
      'INSERT INTO peers (domain, host, port, ca_fingerprint, transport, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    insert.run('b.example', 'sip.b.example', 5061, CANONICAL, 'tls', 7);
    insert.run('c.example', '192.0.2.9', 5070, CANONICAL, 'tcp', 8);
    raw.close();
    store = openStore(f, { create: false, now: () => clock });
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    assert.deepEqual(store.peers.list(), [
      {
        domain: 'b.example',
        host: 'sip.b.example',
        port: 5061,
        caFingerprint: CANONICAL,
        transport: 'tls',
        createdAt: 7,
      },
      {
        domain: 'c.example',
        host: '192.0.2.9',
        port: 5070,
        caFingerprint: CANONICAL,
        transport: 'tcp',
        createdAt: 8,
      },
    ]);
    store.peers.add({ domain: 'd.example', caFingerprint: CANONICAL });
    assert.equal(store.peers.get('d.example')?.host, null);
    // The schema itself keeps host and port together, and a plain-TCP peer at an address.
    const raw5 = store.db.prepare(
      'INSERT INTO peers (domain, host, port, ca_fingerprint, transport, created_at) VALUES (?, ?, ?, ?, ?, 1)',
    );
    assert.throws(() => raw5.run('e.example', 'h', null, CANONICAL, 'tls'), /CHECK constraint failed/);
    assert.throws(() => raw5.run('e.example', null, 5061, CANONICAL, 'tls'), /CHECK constraint failed/);
    assert.throws(() => raw5.run('e.example', null, null, CANONICAL, 'tcp'), /CHECK constraint failed/);
    assert.throws(() => raw5.run('e.example', 'h', 0, CANONICAL, 'tls'), /CHECK constraint failed/);
    assert.throws(() => raw5.run('b.example', null, null, CANONICAL, 'tls'), /UNIQUE constraint failed/);
  });
});

describe('changeCounter', () => {
  it('changes when another connection commits, and with this store’s own changes', () => {
    const other = openStore(file, { create: false });
    try {
      const c0 = store.changeCounter();
      assert.equal(store.changeCounter(), c0, 'stable when nothing happens');
      other.users.add('alice', { realm: REALM });
      const c1 = store.changeCounter();
      assert.notEqual(c1, c0, 'commit on another connection');
      store.users.add('bob', { realm: REALM });
      const c2 = store.changeCounter();
      assert.notEqual(c2, c1, 'own change');
      store.devices.touch('bob', 'urn:uuid:1', { address: 'h:1' });
      const c3 = store.changeCounter();
      assert.notEqual(c3, c2, 'a new device counts');
      store.devices.touch('bob', 'urn:uuid:1', { address: 'h:2' });
      assert.equal(store.changeCounter(), c3, 'a last-seen update does not');
      store.invites.redeem('bob', 'no-such-token');
      assert.equal(
        store.changeCounter(),
        c3,
        'nor does an invite redemption attempt (nothing caches invites)',
      );
      assert.equal(other.users.get('bob')?.name, 'bob');
    } finally {
      other.close();
    }
  });
  it('changes when another process commits', () => {
    const c0 = store.changeCounter();
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { openStore } from ${JSON.stringify(path.join(here, 'store.ts'))};
         const s = openStore(${JSON.stringify(file)}, { create: false });
         s.groups.addMembers('eng', ['alice']);
         s.close();`,
      ],
      { cwd: path.join(here, '..', '..') },
    );
    assert.notEqual(store.changeCounter(), c0);
    assert.deepEqual(store.groups.get('eng')?.members, ['alice']);
  });
  it('waits for another process’s write transaction instead of failing (busy_timeout)', async () => {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import Database from 'better-sqlite3';
         const db = new Database(${JSON.stringify(file)});
         db.exec('BEGIN IMMEDIATE');
         db.prepare("INSERT INTO settings (key, value) VALUES ('held', 'yes')").run();
         process.stdout.write('locked\\n');
         setTimeout(() => { db.exec('COMMIT'); db.close(); }, 400);`,
      ],
      { cwd: path.join(here, '..', '..') },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const t = performance.now();
    store.users.add('late', { realm: REALM });
    const waited = performance.now() - t;
    assert.ok(waited > 200, `should have waited for the lock, waited ${waited} ms`);
    assert.equal(store.settings.get('held'), 'yes');
    await new Promise((r) => child.on('exit', r));
  });
});
