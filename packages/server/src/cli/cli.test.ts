import { parseJoinLink } from '@tsunagu/protocol';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalAuthority } from '../ca/authority.js';
import { fingerprint } from '../ca/ca.js';
import { readPrivateKey } from '../ca/files.js';
import { loadConfig } from '../config/config.js';
import { dataPaths } from '../config/paths.js';
import { computeHa1 } from '../auth/digest.js';
import { openStore } from '../store/store.js';
import { runCli as cli, type CliResult as Result } from '../testing/cli.js';
import { initDataDir } from './init.js';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join('src', 'cli', 'main.ts');

/** Exit code 1 or 2, one `tsunagu-server: …` line on stderr, no stack trace. */
function assertFails(r: Result, code: 1 | 2, message: string | RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  const first = r.stderr.split('\n')[0] ?? '';
  assert.ok(first.startsWith('tsunagu-server: '), r.stderr);
  if (typeof message === 'string')
    assert.ok(first.includes(message), `"${first}" should include "${message}"`);
  else assert.match(first, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

let tmp: string;
let data: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-cli-'));
  data = path.join(tmp, 'data');
  const r = await cli([
    'init',
    '--data',
    data,
    '--domain',
    'Example.org',
    '--policy',
    'deny-all',
    '--sip-port',
    '5070',
  ]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('init', () => {
  it('creates every file with the right modes and prints the CA fingerprint', async () => {
    const p = dataPaths(data);
    assert.equal(mode(p.root), 0o700);
    assert.equal(mode(p.caDir), 0o700);
    assert.equal(mode(p.caKey), 0o600);
    assert.equal(mode(p.serverKey), 0o600);
    assert.equal(mode(p.db), 0o600);
    assert.equal(mode(p.caCert) & 0o444, 0o444);
    assert.equal(mode(p.serverCert) & 0o444, 0o444);
    const config = loadConfig(data);
    assert.equal(config.domain, 'example.org');
    assert.deepEqual(config.hosts, ['localhost', '127.0.0.1', '::1']);
    assert.equal(config.sip.port, 5070);
    assert.equal(config.policyDefault, 'deny-all');
    const store = openStore(p.db, { create: false });
    assert.equal(store.settings.policyDefault(), 'deny-all');
    store.close();
    const again = path.join(tmp, 'fp');
    const r = await cli([
      'init',
      '--data',
      again,
      '--domain',
      'example.org',
      '--host',
      'sip.example.org',
      '--host',
      '[2001:db8::5]',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { caFingerprint: string; hosts: string[] };
    assert.equal(json.caFingerprint, fingerprint(fs.readFileSync(dataPaths(again).caCert, 'utf8')));
    assert.deepEqual(json.hosts, ['sip.example.org', '2001:db8::5']);
    const human = await cli(['init', '--data', path.join(tmp, 'human'), '--domain', 'example.org']);
    assert.match(human.stdout, /CA fingerprint {2}sha256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
    assert.match(human.stdout, /tsunagu-server invite alice --data /);
  });
  it('refuses a folder that is not empty and touches nothing', async () => {
    const busy = path.join(tmp, 'busy');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    fs.chmodSync(busy, 0o755);
    const r = await cli(['init', '--data', busy, '--domain', 'example.org']);
    assertFails(r, 1, `${busy} exists and is not empty`);
    assert.deepEqual(fs.readdirSync(busy), ['notes.txt']);
    assert.equal(fs.readFileSync(path.join(busy, 'notes.txt'), 'utf8'), 'mine');
    assert.equal(mode(busy), 0o755);
    assertFails(await cli(['init', '--data', data, '--domain', 'example.org']), 1, 'exists and is not empty');
  });
  it('accepts an existing empty folder; rejects bad arguments before creating anything', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    assert.equal((await cli(['init', '--data', empty, '--domain', 'example.org'])).code, 0);
    assert.ok(fs.existsSync(path.join(empty, 'config.json')));
    const never = path.join(tmp, 'never');
    assertFails(
      await cli(['init', '--data', never, '--domain', 'not a domain']),
      1,
      "invalid domain 'not a domain': expected a DNS name such as example.org",
    );
    assertFails(
      await cli(['init', '--data', never, '--domain', 'example.org', '--host', 'bad host']),
      1,
      "invalid --host 'bad host'",
    );
    assertFails(
      await cli(['init', '--data', never, '--domain', 'example.org', '--policy', 'maybe']),
      2,
      /argument 'maybe' is invalid/,
    );
    assertFails(
      await cli(['init', '--data', never, '--domain', 'example.org', '--sip-port', '70000']),
      2,
      /port number from 1 to 65535/,
    );
    assertFails(await cli(['init', '--data', never]), 2, "required option '--domain <domain>' not specified");
    assert.equal(fs.existsSync(never), false);
  });
  it('removes what it created when a step fails', () => {
    for (const step of ['folders', 'ca', 'server-certificate', 'database', 'config'] as const) {
      const dir = path.join(tmp, `fail-${step}`, 'nested', 'data');
      assert.throws(
        () =>
          initDataDir({ dataDir: dir, domain: 'example.org' }, (s) => {
            if (s === step) throw new Error(`boom at ${s}`);
          }),
        new RegExp(`boom at ${step}`),
      );
      assert.equal(
        fs.existsSync(path.join(tmp, `fail-${step}`)),
        false,
        `${step}: everything it created is gone`,
      );
    }
    const existing = path.join(tmp, 'fail-existing');
    fs.mkdirSync(existing);
    assert.throws(() =>
      initDataDir({ dataDir: existing, domain: 'example.org' }, (s) => {
        if (s === 'database') throw new Error('boom');
      }),
    );
    assert.deepEqual(fs.readdirSync(existing), [], 'the pre-existing empty folder stays, emptied');
  });
});

describe('CA key passphrase', () => {
  const passphrase = 'Passphrase-Canary-51b2';
  it('init --ca-passphrase-file writes the CA key encrypted, 0600, and says so', async () => {
    const passFile = path.join(tmp, 'ca-pass.txt');
    fs.writeFileSync(passFile, `${passphrase}\n`, { mode: 0o600 });
    const enc = path.join(tmp, 'enc');
    const r = await cli(['init', '--data', enc, '--domain', 'example.org', '--ca-passphrase-file', passFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /CA key {10}encrypted: the server needs its passphrase/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(passphrase));
    const p = dataPaths(enc);
    assert.equal(mode(p.caKey), 0o600);
    assert.match(fs.readFileSync(p.caKey, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    assert.ok(!fs.readFileSync(p.caKey, 'utf8').includes(passphrase));
    const pkey = spawnSync('openssl', ['pkey', '-in', p.caKey, '-passin', `file:${passFile}`, '-noout'], {
      encoding: 'utf8',
    });
    assert.equal(pkey.status, 0, pkey.stderr);
    assert.throws(() => readPrivateKey(p.caKey), /is encrypted: give its passphrase/);
    const authority = LocalAuthority.open(p, passphrase);
    assert.equal(authority.caCertPem, fs.readFileSync(p.caCert, 'utf8'));
    await authority.close();
    // the server certificate was still issued by that CA, and its own key is not encrypted
    assert.ok(
      new X509Certificate(fs.readFileSync(p.serverCert, 'utf8')).checkIssued(
        new X509Certificate(fs.readFileSync(p.caCert, 'utf8')),
      ),
    );
    assert.match(fs.readFileSync(p.serverKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  });
  it('init honours TSUNAGU_CA_PASSPHRASE', async () => {
    const enc = path.join(tmp, 'enc-env');
    const r = await cli(['init', '--data', enc, '--domain', 'example.org', '--json'], {
      env: { TSUNAGU_CA_PASSPHRASE: passphrase },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { caKeyEncrypted: boolean }).caKeyEncrypted, true);
    assert.equal(readPrivateKey(dataPaths(enc).caKey, passphrase).asymmetricKeyType, 'rsa');
    assert.throws(() => readPrivateKey(dataPaths(enc).caKey, 'wrong'), /wrong passphrase for /);
    // without either, the key is in clear as before
    const clear = await cli(['init', '--data', path.join(tmp, 'clear'), '--domain', 'example.org', '--json']);
    assert.equal((JSON.parse(clear.stdout) as { caKeyEncrypted: boolean }).caKeyEncrypted, false);
  });
  it('refuses a passphrase file others can read, an empty or a missing one, creating nothing', async () => {
    const open = path.join(tmp, 'open-pass.txt');
    fs.writeFileSync(open, `${passphrase}\n`, { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    const never = path.join(tmp, 'never-enc');
    const args = ['init', '--data', never, '--domain', 'example.org', '--ca-passphrase-file'];
    assertFails(
      await cli([...args, open]),
      1,
      `${open} is readable by others (mode 0644): run chmod 600 ${open}`,
    );
    const empty = path.join(tmp, 'empty-pass.txt');
    fs.writeFileSync(empty, '\n', { mode: 0o600 });
    assertFails(await cli([...args, empty]), 1, 'is empty: write the passphrase on its first line');
    assertFails(await cli([...args, path.join(tmp, 'missing-pass.txt')]), 1, 'missing-pass.txt is missing');
    assertFails(await cli([...args]), 2, "option '--ca-passphrase-file <file>' argument missing");
    assert.equal(fs.existsSync(never), false);
  });
});

describe('ca export', () => {
  it('prints the CA certificate, even when the key is kept elsewhere', async () => {
    const caPem = fs.readFileSync(dataPaths(data).caCert, 'utf8');
    const r = await cli(['ca', 'export', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-----BEGIN CERTIFICATE-----\n[^-]+-----END CERTIFICATE-----\n$/);
    assert.equal(new X509Certificate(r.stdout).fingerprint256, new X509Certificate(caPem).fingerprint256);
    assert.equal(r.stderr, '');
    // openssl reads it as is
    const subject = execFileSync('openssl', ['x509', '-noout', '-subject'], {
      input: r.stdout,
      encoding: 'utf8',
    });
    assert.match(subject, /CN ?= ?Tsunagu CA example\.org/);

    const keyless = path.join(tmp, 'keyless');
    assert.equal((await cli(['init', '--data', keyless, '--domain', 'example.org'])).code, 0);
    fs.renameSync(dataPaths(keyless).caKey, path.join(tmp, 'offline-ca.key'));
    const k = await cli(['ca', 'export'], { env: { TSUNAGU_DATA: keyless } });
    assert.equal(k.code, 0, k.stderr);
    assert.equal(
      k.stdout,
      new X509Certificate(fs.readFileSync(dataPaths(keyless).caCert, 'utf8')).toString(),
    );
  });
  it('ca fingerprint prints the CA fingerprint, in the form peer add takes', async () => {
    const r = await cli(['ca', 'fingerprint', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${fingerprint(fs.readFileSync(dataPaths(data).caCert, 'utf8'))}\n`);
    assert.match(r.stdout, /^sha256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\n$/);
    assert.equal(r.stderr, '');
    const nowhere = path.join(tmp, 'no-data');
    assertFails(
      await cli(['ca', 'fingerprint', '--data', nowhere]),
      1,
      `${path.join(nowhere, 'ca', 'ca.pem')} is missing`,
    );
  });
  it('says what is wrong when there is no CA certificate', async () => {
    const nowhere = path.join(tmp, 'no-data');
    assertFails(
      await cli(['ca', 'export', '--data', nowhere]),
      1,
      `${path.join(nowhere, 'ca', 'ca.pem')} is missing: is ${nowhere} a data folder? (create one with tsunagu-server init)`,
    );
    const broken = path.join(tmp, 'broken-ca');
    fs.mkdirSync(path.join(broken, 'ca'), { recursive: true });
    fs.writeFileSync(path.join(broken, 'ca', 'ca.pem'), 'not a certificate');
    assertFails(await cli(['ca', 'export', '--data', broken]), 1, 'does not hold a PEM certificate');
  });
});

describe('users', () => {
  it('stores no plaintext password', async () => {
    const password = 'Plaintext-Canary-7d1f0e';
    const r = await cli(['user', 'add', 'Alice', '--password-stdin', '--data', data], {
      input: `${password}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Added user alice \(alice@example\.org\) with a password/);
    const files = fs.readdirSync(data).filter((f) => f.startsWith('tsunagu.db'));
    for (const f of files)
      assert.equal(fs.readFileSync(path.join(data, f)).includes(Buffer.from(password)), false, f);
    const store = openStore(dataPaths(data).db, { create: false });
    try {
      assert.equal(
        store.credentialsFor('alice', 'example.org')?.ha1['SHA-256'],
        computeHa1('SHA-256', 'alice', 'example.org', password),
      );
    } finally {
      store.close();
    }
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(password));
  });
  it('refuses an empty password, a duplicate and bad names', async () => {
    assertFails(
      await cli(['user', 'add', 'bob', '--password-stdin', '--data', data], { input: '\n' }),
      1,
      'empty password',
    );
    assertFails(
      await cli(['user', 'add', 'bob', '--password-stdin', '--data', data], { input: '' }),
      1,
      'empty password',
    );
    assertFails(await cli(['user', 'add', 'ALICE', '--data', data]), 1, "user 'alice' already exists");
    assertFails(await cli(['user', 'add', 'a b', '--data', data]), 1, "invalid user name 'a b'");
    const list = JSON.parse((await cli(['user', 'list', '--json', '--data', data])).stdout) as {
      name: string;
    }[];
    assert.deepEqual(
      list.map((u) => u.name),
      ['alice'],
    );
  });
  it('MD5 needs the password again', async () => {
    assert.equal((await cli(['user', 'add', 'legacy', '--data', data])).code, 0);
    const on = await cli(['user', 'md5', 'legacy', 'on', '--data', data]);
    assert.equal(on.code, 0);
    assert.match(on.stdout, /no MD5 credential yet: the password must be set again/);
    assertFails(await cli(['user', 'passwd', 'legacy', '--data', data]), 2, 'needs --password-stdin');
    const pw = await cli(['user', 'passwd', 'legacy', '--password-stdin', '--data', data], {
      input: 'pw\r\n',
    });
    assert.equal(pw.code, 0, pw.stderr);
    assert.match(pw.stdout, /SHA-256 and MD5 digest/);
    const store = openStore(dataPaths(data).db, { create: false });
    try {
      assert.equal(
        store.credentialsFor('legacy', 'example.org')?.ha1.MD5,
        computeHa1('MD5', 'legacy', 'example.org', 'pw'),
      );
    } finally {
      store.close();
    }
    assertFails(
      await cli(['user', 'passwd', 'nobody', '--password-stdin', '--data', data], { input: 'x\n' }),
      1,
      "no such user 'nobody'",
    );
  });
});

describe('invite', () => {
  it('prints a join link whose token redeems once', async () => {
    const r = await cli(['invite', 'Dora', '--json', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      user: string;
      userCreated: boolean;
      link: string;
      expiresAt: string;
    };
    assert.equal(out.userCreated, true);
    const link = parseJoinLink(out.link);
    assert.deepEqual(
      { ...link, token: '' },
      {
        server: 'localhost:5070',
        https: 'localhost:5443',
        caFingerprint: fingerprint(fs.readFileSync(dataPaths(data).caCert, 'utf8')),
        user: 'dora',
        token: '',
        domain: 'example.org',
      },
    );
    const hours = (Date.parse(out.expiresAt) - Date.now()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24, `default ttl 24h, got ${hours}`);
    const store = openStore(dataPaths(data).db, { create: false });
    try {
      assert.equal(store.users.get('dora')?.hasPassword, false);
      assert.equal(store.invites.redeem('dora', link.token), 'ok');
      assert.equal(store.invites.redeem('dora', link.token), 'invalid');
    } finally {
      store.close();
    }
    const human = await cli(['invite', 'dora', '--data', data]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^Join link for dora@example\.org, valid once, for 1d/);
    assert.match(human.stdout, /\ntsunagu:\/\/join\?v=1&domain=example\.org&user=dora&/);
    assert.doesNotMatch(human.stdout, /[▀▄█]/, 'no QR code when stdout is not a terminal');
  });
  it('expires', async () => {
    const r = await cli(['invite', 'erin', '--ttl', '1m', '--json', '--data', data]);
    const { link } = JSON.parse(r.stdout) as { link: string };
    const { token } = parseJoinLink(link);
    const store = openStore(dataPaths(data).db, { create: false });
    try {
      assert.equal(store.invites.redeem('erin', token, Date.now() + 61_000), 'invalid');
      assert.equal(store.invites.list().find((i) => i.user === 'erin')?.lastFailure, 'expired');
    } finally {
      store.close();
    }
    assertFails(await cli(['invite', 'erin', '--ttl', '5x', '--data', data]), 2, "invalid duration '5x'");
    assertFails(await cli(['invite', 'erin', '--ttl', '30s', '--data', data]), 2, 'from 1m to 365d');
    const list = await cli(['invites', '--data', data]);
    assert.match(list.stdout, /erin +pending .* 1 \(last: expired at /);
    assert.doesNotMatch(list.stdout, new RegExp(token));
  });
  it(
    'prints a QR code on a terminal',
    { skip: spawnSync('script', ['--version']).status !== 0 && 'no script(1) here' },
    () => {
      const cmd = [
        process.execPath,
        '--conditions=tsunagu-source',
        '--import',
        'tsx',
        MAIN,
        'invite',
        'qr',
        '--data',
        data,
      ]
        .map((a) => `'${a}'`)
        .join(' ');
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
        cwd: packageDir,
        encoding: 'utf8',
        env: { ...process.env, TSUNAGU_DATA: '' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /[▀▄█]/);
      const noQr = spawnSync('script', ['-qec', `${cmd} --no-qr`, '/dev/null'], {
        cwd: packageDir,
        encoding: 'utf8',
      });
      assert.doesNotMatch(noQr.stdout, /[▀▄█]/);
    },
  );
});

describe('devices', () => {
  it('lists, revokes and removes, with clear errors', async () => {
    const store = openStore(dataPaths(data).db, { create: false });
    try {
      store.devices.enroll('alice', { name: 'Laptop', instance: 'urn:uuid:1' });
    } finally {
      store.close();
    }
    const list = await cli(['device', 'list', 'alice', '--data', data]);
    assert.match(list.stdout, /alice\/laptop +Laptop +enrolled/);
    assertFails(await cli(['device', 'remove', 'zed/laptop', '--data', data]), 1, "no such user 'zed'");
    assertFails(
      await cli(['device', 'remove', 'alice/phone', '--data', data]),
      1,
      "user 'alice' has no device 'phone'",
    );
    assertFails(await cli(['device', 'remove', 'alice', '--data', data]), 2, 'expected USER/DEVICE');
    assertFails(await cli(['device', 'list', 'zed', '--data', data]), 1, "no such user 'zed'");
    const revoke = await cli(['device', 'revoke', 'alice/laptop', '--data', data]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.equal(revoke.stdout, 'Revoked device alice/laptop (Laptop) and 0 certificates.\n');
    assert.match((await cli(['device', 'list', 'alice', '--data', data])).stdout, /enrolled, revoked/);
    assertFails(
      await cli(['device', 'revoke', 'alice/phone', '--data', data]),
      1,
      "user 'alice' has no device 'phone'",
    );
    const rm = await cli(['device', 'remove', 'alice/laptop', '--data', data]);
    assert.equal(rm.code, 0);
    assert.equal(
      (JSON.parse((await cli(['device', 'list', '--json', '--data', data])).stdout) as unknown[]).length,
      0,
    );
  });
});

describe('groups and policy', () => {
  it('edits groups and rules', async () => {
    assert.equal(
      (await cli(['group', 'add', 'eng', 'alice', 'dora', 'zoe@b.example', '--data', data])).code,
      0,
    );
    assert.deepEqual(JSON.parse((await cli(['group', 'list', '--json', '--data', data])).stdout), {
      eng: ['alice', 'dora', 'zoe@b.example'],
    });
    assert.equal((await cli(['policy', 'allow', 'group:eng', 'group:eng', '--data', data])).code, 0);
    const deny = await cli(['policy', 'deny', 'Dora@example.org', '*', '--data', data]);
    assert.equal(deny.stdout, 'Added rule 2: deny dora -> *\n');
    assertFails(await cli(['policy', 'allow', 'group:ops', '*', '--data', data]), 1, "unknown group 'ops'");
    assertFails(await cli(['policy', 'allow', 'a b', '*', '--data', data]), 1, "invalid selector 'a b'");
    assertFails(
      await cli(['group', 'remove', 'eng', '--data', data]),
      1,
      "group 'eng' is used by policy rule 1",
    );
    const check = await cli(['policy', 'check', 'alice', 'dora', '--data', data]);
    assert.equal(check.stdout, 'alice -> dora: allowed (rule 1)\n');
    assert.equal(
      (await cli(['policy', 'check', 'dora', 'alice', '--data', data])).stdout,
      'dora -> alice: denied (rule 2)\n',
    );
    assert.equal(
      (await cli(['policy', 'check', 'legacy', 'alice', '--data', data])).stdout,
      'legacy -> alice: denied (no rule matches; default deny-all)\n',
    );
    assertFails(
      await cli(['policy', 'remove', '9', '--data', data]),
      1,
      'there is no rule 9: rules are numbered 1 to 2',
    );
    assertFails(await cli(['policy', 'remove', 'x', '--data', data]), 2, 'expected a rule number');
    assertFails(
      await cli(['policy', 'default', 'maybe', '--data', data]),
      2,
      'expected allow-all or deny-all',
    );
    const show = await cli(['policy', 'show', '--data', data]);
    assert.match(show.stdout, /default: deny-all\ngroups:\n {2}eng: alice, dora, zoe@b\.example\nrules:\n/);
    assert.match(show.stdout, /1 +allow +group:eng +-> +group:eng\n/);
  });
  it('apply: a bad file reports a precise error and changes nothing; a good one replaces everything', async () => {
    const before = (await cli(['policy', 'show', '--json', '--data', data])).stdout;
    const bad = path.join(tmp, 'bad-policy.json');
    fs.writeFileSync(
      bad,
      JSON.stringify({
        default: 'allow-all',
        groups: { ops: ['olga'] },
        rules: [
          { allow: 'group:ops', to: 'group:ops' },
          { allow: 'group:eng', to: '*' },
        ],
      }),
    );
    assertFails(
      await cli(['policy', 'apply', bad, '--data', data]),
      1,
      `bad-policy.json: rules[1].allow names the unknown group 'eng' (define it under "groups")`,
    );
    fs.writeFileSync(bad, '{"default": "deny-all", "rules": [{"allow": "alice"}]}');
    assertFails(
      await cli(['policy', 'apply', bad, '--data', data]),
      1,
      'bad-policy.json: rules[0].to is required',
    );
    fs.writeFileSync(bad, '{"default": "deny-all",');
    assertFails(await cli(['policy', 'apply', bad, '--data', data]), 1, 'bad-policy.json: not valid JSON');
    assertFails(
      await cli(['policy', 'apply', path.join(tmp, 'missing.json'), '--data', data]),
      1,
      'missing.json: no such file',
    );
    assert.equal((await cli(['policy', 'show', '--json', '--data', data])).stdout, before, 'nothing changed');

    const good = path.join(tmp, 'policy.json');
    fs.writeFileSync(
      good,
      JSON.stringify({
        default: 'allow-all',
        groups: { ops: ['olga', 'alice'] },
        rules: [{ deny: 'group:ops', to: 'dora' }],
      }),
    );
    const r = await cli(['policy', 'apply', good, '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /default allow-all, 1 group, 1 rule/);
    assert.match(r.stderr, /note: group 'ops' names 'olga', who is not a user \(yet\)/);
    assert.deepEqual(JSON.parse((await cli(['policy', 'show', '--json', '--data', data])).stdout), {
      default: 'allow-all',
      groups: { ops: ['alice', 'olga'] },
      rules: [{ deny: 'group:ops', to: 'dora' }],
    });
    // show --json is itself a policy file
    fs.writeFileSync(good, before);
    assert.equal((await cli(['policy', 'apply', good, '--data', data])).code, 0);
    assert.equal((await cli(['policy', 'show', '--json', '--data', data])).stdout, before);
  });
  it('removing a user mentions the rules that still name it', async () => {
    const r = await cli(['user', 'remove', 'dora', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Removed user dora \(0 devices, 2 invites, 1 group membership\)/);
    assert.match(
      r.stderr,
      /note: policy rule 2 still names dora; it applies again if a user dora is created/,
    );
  });
});

describe('peers', () => {
  let other: string;
  let otherFingerprint: string;
  before(async () => {
    other = path.join(tmp, 'peer-b');
    assert.equal((await cli(['init', '--data', other, '--domain', 'b.example'])).code, 0);
    otherFingerprint = (await cli(['ca', 'fingerprint', '--data', other])).stdout.trim();
  });
  const listJson = async () => {
    const r = await cli(['peer', 'list', '--json', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>[];
  };

  it('adds, lists and removes peers', async () => {
    assert.equal(
      (await cli(['peer', 'list', '--data', data])).stdout.split('\n')[0],
      'No peers. Add one with: tsunagu-server peer add DOMAIN --ca-fingerprint sha256:… [--address HOST:PORT]',
    );
    assert.deepEqual(await listJson(), []);
    // as pasted: without colons, lower case; the domain in capitals; an IPv6 address
    const pasted = `sha256:${otherFingerprint.slice('sha256:'.length).replaceAll(':', '').toLowerCase()}`;
    const b = await cli([
      'peer',
      'add',
      'B.Example',
      '--address',
      '[2001:DB8::7]:5061',
      '--ca-fingerprint',
      pasted,
      '--data',
      data,
    ]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, `Added peer b.example: [2001:db8::7]:5061 over TLS, CA ${otherFingerprint}\n`);
    const ours = fingerprint(fs.readFileSync(dataPaths(data).caCert, 'utf8'));
    assert.equal(
      b.stderr,
      `On b.example's server, its admin runs:\n  tsunagu-server peer add example.org --address localhost:5070 --ca-fingerprint ${ours}\n`,
    );
    const c = await cli([
      'peer',
      'add',
      'c.example',
      '--address',
      'sip.c.example:5080',
      '--ca-fingerprint',
      otherFingerprint,
      '--insecure-tcp',
      '--data',
      data,
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(
      c.stdout,
      `Added peer c.example: sip.c.example:5080 over plain TCP (not secure), CA ${otherFingerprint}\n`,
    );
    assert.match(
      c.stderr,
      /^note: plain TCP: Route-Security shows every path through this leg as not secure, and terminals refuse channels over it\n/,
    );
    assert.match(c.stderr, / --insecure-tcp\n$/);

    const list = await cli(['peer', 'list', '--data', data]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      list.stdout.split('\n').map((l) => l.split(/ {2,}/)),
      [
        ['DOMAIN', 'ADDRESS', 'TRANSPORT', 'CA FINGERPRINT'],
        ['b.example', '[2001:db8::7]:5061', 'tls', otherFingerprint],
        ['c.example', 'sip.c.example:5080', 'tcp', otherFingerprint],
        [''],
      ],
    );
    const json = await listJson();
    for (const p of json)
      assert.ok(!Number.isNaN(Date.parse(String(p.createdAt))), 'createdAt is an ISO time');
    assert.deepEqual(
      json.map(({ createdAt: _, ...rest }) => rest),
      [
        {
          domain: 'b.example',
          host: '2001:db8::7',
          port: 5061,
          transport: 'tls',
          caFingerprint: otherFingerprint,
        },
        {
          domain: 'c.example',
          host: 'sip.c.example',
          port: 5080,
          transport: 'tcp',
          caFingerprint: otherFingerprint,
        },
      ],
    );

    const removed = await cli(['peer', 'remove', 'C.example', '--data', data]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'Removed peer c.example (sip.c.example:5080).\n');
    assert.deepEqual(
      (await listJson()).map((p) => p.domain),
      ['b.example'],
    );
    const store = openStore(dataPaths(data).db, { create: false });
    assert.equal(
      store.peers.get('b.example')?.caFingerprint,
      otherFingerprint,
      'stored in fingerprint() form',
    );
    store.close();
  });
  it('adds a peer without --address, found by DNS, and lists it as such', async () => {
    const d = await cli(['peer', 'add', 'd.example', '--ca-fingerprint', otherFingerprint, '--data', data]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(
      d.stdout,
      `Added peer d.example: DNS SRV _sips._tcp.d.example over TLS, CA ${otherFingerprint}\n`,
    );
    const list = await cli(['peer', 'list', '--data', data]);
    assert.ok(
      list.stdout
        .split('\n')
        .some(
          (l) =>
            l.split(/ {2,}/).join('|') === `d.example|DNS SRV _sips._tcp.d.example|tls|${otherFingerprint}`,
        ),
      list.stdout,
    );
    const json = (await listJson()).find((p) => p.domain === 'd.example');
    assert.deepEqual(
      { ...json, createdAt: undefined },
      {
        domain: 'd.example',
        host: null,
        port: null,
        caFingerprint: otherFingerprint,
        transport: 'tls',
        createdAt: undefined,
      },
      'host and port null: found by DNS',
    );
    const removed = await cli(['peer', 'remove', 'd.example', '--data', data]);
    assert.equal(removed.stdout, 'Removed peer d.example (DNS SRV _sips._tcp.d.example).\n');
  });
  it('refuses bad input with one clear line, exits non-zero and changes nothing', async () => {
    const before = await listJson();
    assert.ok(before.length > 0);
    const fp = otherFingerprint;
    const hex = fp.slice('sha256:'.length).replaceAll(':', '');
    const add = (domain: string, ...rest: string[]) => cli(['peer', 'add', domain, ...rest, '--data', data]);
    const cases: [Promise<Result>, 1 | 2, string | RegExp][] = [
      [
        add('bad_domain', '--address', 'h:1', '--ca-fingerprint', fp),
        1,
        "invalid peer domain 'bad_domain': expected a DNS name such as b.example",
      ],
      [add('10.0.0.1', '--address', 'h:1', '--ca-fingerprint', fp), 1, "invalid peer domain '10.0.0.1'"],
      [
        add('Example.ORG', '--address', 'h:1', '--ca-fingerprint', fp),
        1,
        "'Example.ORG' is this server's own domain (config.json domain): a peer is the server of another domain",
      ],
      [
        add('b.example', '--address', 'other.b.example:5062', '--ca-fingerprint', fp),
        1,
        "peer 'b.example' already exists: remove it first to change it (tsunagu-server peer remove b.example)",
      ],
      [
        add('d.example', '--ca-fingerprint', fp, '--insecure-tcp'),
        2,
        '--insecure-tcp needs --address HOST:PORT: the plain-TCP listener admits a peer by its IP address, so such a peer cannot be found by DNS',
      ],
      [
        add('d.example', '--address', 'h:1'),
        2,
        "required option '--ca-fingerprint <sha256:hex>' not specified",
      ],
      [
        cli(['peer', 'remove', 'nope.example', '--data', data]),
        1,
        "no such peer 'nope.example' (tsunagu-server peer list shows them)",
      ],
    ];
    const port = 'the port must be a number from 1 to 65535.';
    for (const [address, why] of [
      ['bad host:5061', "'bad host' is neither a host name nor an IPv4 address."],
      ['2001:db8::7:5061', 'an IPv6 address must be written in brackets, e.g. [::1]:5061.'],
      ['sip.d.example', 'expected HOST:PORT, e.g. 127.0.0.1:5061 or [::1]:5061.'],
      ['sip.d.example:', port],
      ['sip.d.example:0', port],
      ['sip.d.example:65536', port],
    ] as const) {
      cases.push([
        add('d.example', '--address', address, '--ca-fingerprint', fp),
        2,
        `option '--address <host:port>' argument '${address}' is invalid. invalid address '${address}': ${why}`,
      ]);
    }
    for (const bad of [
      hex,
      `sha1:${hex.slice(0, 40)}`,
      `sha256:${hex.slice(0, 62)}`,
      `sha256:${hex}ab`,
      `sha256:${hex.slice(0, 4)}:${hex.slice(4)}`,
      `sha256:${hex.slice(0, 63)}x`,
      'sha256:',
    ]) {
      cases.push([
        add('d.example', '--address', 'h:1', '--ca-fingerprint', bad),
        2,
        `invalid CA fingerprint '${bad}': expected sha256: followed by 32 bytes in hex, e.g. sha256:AB:CD:…:EF, as 'tsunagu-server ca fingerprint' prints it on the peer`,
      ]);
    }
    for (const [r, exit, message] of cases) assertFails(await r, exit, message);
    assert.deepEqual(await listJson(), before, 'nothing changed');
  });
});

describe('command line', () => {
  it('usage errors exit 2, other errors 1, always one line without a stack trace', async () => {
    assertFails(await cli(['bogus']), 2, "unknown command 'bogus'");
    assertFails(await cli(['user', 'list', '--nope', '--data', data]), 2, "unknown option '--nope'");
    assertFails(
      await cli(['user', 'list', '--data', path.join(tmp, 'nowhere')]),
      1,
      /no config\.json in .*nowhere: create the data folder/,
    );
    const viaEnv = await cli(['user', 'list', '--json'], { env: { TSUNAGU_DATA: data } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const broken = path.join(tmp, 'broken');
    assert.equal((await cli(['init', '--data', broken, '--domain', 'example.org'])).code, 0);
    fs.writeFileSync(
      path.join(broken, 'config.json'),
      JSON.stringify({ version: 1, domain: 'example.org', hosts: ['localhost'], sip: { port: 99999 } }),
    );
    assertFails(
      await cli(['user', 'list', '--data', broken]),
      1,
      'config.json: sip.port must be an integer from 0 to 65535',
    );
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: tsunagu-server/);
    assert.equal((await cli(['--version'])).stdout, '0.1.0\n');
  });
});

describe('start', () => {
  it('prints one listening line, lets admin commands work meanwhile, and exits 0 on SIGTERM', async () => {
    const p = spawn(
      process.execPath,
      [
        '--conditions=tsunagu-source',
        '--import',
        'tsx',
        MAIN,
        'start',
        '--data',
        data,
        '--sip',
        '127.0.0.1:0',
        '--wss',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--log-level',
        'warn',
      ],
      { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    const line = await new Promise<string>((resolve, reject) => {
      p.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    try {
      const ev = JSON.parse(line) as Record<string, string>;
      assert.equal(ev.event, 'listening');
      assert.match(ev.sip ?? '', /^127\.0\.0\.1:\d+$/);
      assert.match(ev.wss ?? '', /^127\.0\.0\.1:\d+$/);
      assert.match(ev.admin ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(ev.caFingerprint, fingerprint(fs.readFileSync(dataPaths(data).caCert, 'utf8')));
      const add = await cli(['user', 'add', 'while-running', '--password-stdin', '--data', data], {
        input: 'pw\n',
      });
      assert.equal(add.code, 0, add.stderr);
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout.trim().split('\n').length, 1, 'exactly one line on stdout');
  });
  it('rejects bad listen addresses as usage errors', async () => {
    assertFails(
      await cli(['start', '--data', data, '--sip', '::1:5061']),
      2,
      'IPv6 address must be written in brackets',
    );
    assertFails(await cli(['start', '--data', data, '--log-level', 'loud']), 2, /argument 'loud' is invalid/);
  });
});
