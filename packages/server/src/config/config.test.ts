import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createResolver } from '../federation/srv.js';
import { formatHostPort, normaliseHost, parseHostPort } from './address.js';
import { createConfig, loadConfig, parseConfig, serialiseConfig } from './config.js';
import { formatDuration, parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { dataPaths, resolveDataDir } from './paths.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-config-'));
}

describe('parseDuration', () => {
  it('parses every unit and sums', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('7d'), 604_800_000);
    assert.equal(parseDuration('1d12h'), 129_600_000);
    assert.equal(parseDuration('0s'), 0);
  });
  it('rejects anything else with a clear error', () => {
    for (const bad of ['', '24', 'h', '1.5h', '-1h', '1w', '24 h', '1h 30m', 'abc']) {
      assert.throws(
        () => parseDuration(bad),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, /^invalid duration '.*': expected a number followed by s, m, h or d/);
          return true;
        },
      );
    }
    assert.throws(() => parseDuration('99999999999999999d'), /too long/);
  });
  it('formats back', () => {
    assert.equal(formatDuration(86_400_000), '1d');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(1500), '1500ms');
    assert.equal(parseDuration(formatDuration(129_600_000)), 129_600_000);
  });
});

describe('parseHostPort', () => {
  it('parses IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:5061'), { host: '127.0.0.1', port: 5061 });
    assert.deepEqual(parseHostPort('SIP.Example.org:5061'), { host: 'sip.example.org', port: 5061 });
    assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseHostPort('[2001:db8::10]:5443'), { host: '2001:db8::10', port: 5443 });
    assert.deepEqual(parseHostPort('0.0.0.0:65535'), { host: '0.0.0.0', port: 65535 });
  });
  it('rejects malformed addresses precisely', () => {
    const cases: [string, RegExp][] = [
      ['5061', /expected HOST:PORT/],
      ['::1:5061', /IPv6 address must be written in brackets/],
      ['[::1]5061', /expected \[IPv6\]:PORT/],
      ['[::1:5061', /missing \]/],
      ['[1.2.3.4]:5', /not an IPv6 address/],
      [':5061', /host is missing/],
      ['host:65536', /port must be a number from 0 to 65535/],
      ['host:-1', /port must be a number/],
      ['host:', /port must be a number/],
      ['bad_host:1', /neither a host name nor an IPv4 address/],
    ];
    for (const [input, re] of cases) {
      assert.throws(
        () => parseHostPort(input),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
        input,
      );
    }
    assert.throws(() => parseHostPort('h:0', { allowPortZero: false }), /from 1 to 65535/);
  });
  it('formats IPv6 in brackets', () => {
    assert.equal(formatHostPort({ host: '::1', port: 5061 }), '[::1]:5061');
    assert.equal(formatHostPort({ host: 'a.example', port: 1 }), 'a.example:1');
    assert.equal(formatHostPort(parseHostPort('[fe80::1]:9')), '[fe80::1]:9');
  });
  it('normalises hosts', () => {
    assert.equal(normaliseHost('LocalHost'), 'localhost');
    assert.equal(normaliseHost('[::1]'), '::1');
    assert.throws(() => normaliseHost('a b', '--host'), /invalid --host 'a b'/);
    assert.throws(() => normaliseHost('1.2.3.999'), /invalid host/);
  });
});

describe('dataPaths / resolveDataDir', () => {
  it('lists every file of the data folder', () => {
    const p = dataPaths('/srv/t');
    assert.deepEqual(p, {
      root: '/srv/t',
      config: '/srv/t/config.json',
      db: '/srv/t/tsunagu.db',
      caDir: '/srv/t/ca',
      caKey: '/srv/t/ca/ca.key',
      caCert: '/srv/t/ca/ca.pem',
      tlsDir: '/srv/t/tls',
      serverKey: '/srv/t/tls/server.key',
      serverCert: '/srv/t/tls/server.pem',
    });
  });
  it('prefers the option, then TSUNAGU_DATA, then ./tsunagu-data', () => {
    assert.equal(resolveDataDir('/a', { TSUNAGU_DATA: '/b' }), '/a');
    assert.equal(resolveDataDir(undefined, { TSUNAGU_DATA: '/b' }), '/b');
    assert.equal(resolveDataDir(undefined, { TSUNAGU_DATA: '' }), path.resolve('tsunagu-data'));
    assert.equal(resolveDataDir(undefined, {}), path.resolve('tsunagu-data'));
  });
});

describe('config', () => {
  it('fills every default', () => {
    const c = parseConfig({ version: 1, domain: 'Example.ORG', hosts: ['localhost'] });
    assert.deepEqual(c, {
      version: 1,
      domain: 'example.org',
      realm: 'example.org',
      hosts: ['localhost'],
      sip: { listen: '0.0.0.0', port: 5061 },
      wss: { listen: '0.0.0.0', port: 5443 },
      admin: { listen: '127.0.0.1', port: 9461 },
      ca: { validityDays: 30, perDevicePerHour: 10 },
      federation: {},
      policyDefault: 'allow-all',
      digest: { nonceTtlSeconds: 300 },
      registration: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
      invites: { defaultTtl: '24h' },
    });
  });
  it('keeps explicit values', () => {
    const c = parseConfig({
      version: 1,
      domain: 'example.org',
      realm: 'Tsunagu',
      hosts: ['sip.example.org', '2001:db8::1'],
      sip: { port: 5070 },
      admin: { listen: '::1', port: 0 },
      policyDefault: 'deny-all',
    });
    assert.equal(c.realm, 'Tsunagu');
    assert.deepEqual(c.sip, { listen: '0.0.0.0', port: 5070 });
    assert.deepEqual(c.admin, { listen: '::1', port: 0 });
    assert.equal(c.policyDefault, 'deny-all');
  });
  it('takes the DNS servers that find peers, as the resolver takes them', () => {
    const servers = ['192.0.2.53', '192.0.2.53:5353', '2001:db8::53', '[2001:db8::53]:53'];
    const c = parseConfig({
      version: 1,
      domain: 'example.org',
      hosts: ['localhost'],
      federation: { dns: { servers } },
    });
    assert.deepEqual(c.federation.dns, { servers });
    assert.doesNotThrow(() => createResolver(c.federation.dns?.servers));
  });
  it('reports precise errors', () => {
    const base = { version: 1, domain: 'example.org', hosts: ['localhost'] };
    const cases: [unknown, string][] = [
      [{ ...base, sip: { port: 70000 } }, 'config.json: sip.port must be an integer from 0 to 65535'],
      [{ ...base, sip: { port: '5061' } }, 'config.json: sip.port must be an integer from 0 to 65535'],
      [{ ...base, sip: { prot: 1 } }, "config.json: unknown key 'sip.prot'"],
      [{ ...base, version: 2 }, 'config.json: version must be 1 (got 2)'],
      [
        { ...base, domain: 'not a domain' },
        'config.json: domain must be a DNS name such as example.org (got "not a domain")',
      ],
      [{ version: 1, domain: 'example.org' }, 'config.json: hosts is required'],
      [{ ...base, hosts: [] }, 'config.json: hosts must have at least 1 entry'],
      [{ ...base, hosts: ['ok', 'bad host'] }, 'config.json: hosts[1] must be a host name or an IP address'],
      [{ ...base, hosts: ['a', 'a'] }, "config.json: hosts[1] repeats 'a'"],
      [
        { ...base, policyDefault: 'maybe' },
        'config.json: policyDefault must be one of "allow-all", "deny-all" (got "maybe")',
      ],
      [
        { ...base, registration: { minExpires: 600, maxExpires: 60 } },
        'config.json: registration.minExpires must not exceed maxExpires (60)',
      ],
      [
        { ...base, registration: { defaultExpires: 5000 } },
        'config.json: registration.defaultExpires must be between minExpires (60) and maxExpires (3600)',
      ],
      [
        { ...base, invites: { defaultTtl: '1y' } },
        'config.json: invites.defaultTtl must be a duration such as 30m, 24h or 7d (got "1y")',
      ],
      [
        { ...base, digest: { nonceTtlSeconds: 1 } },
        'config.json: digest.nonceTtlSeconds must be an integer number of seconds from 10 to 86400',
      ],
      [
        { ...base, federation: { dns: { servers: ['dns.example'] } } },
        'config.json: federation.dns.servers[0] must be an IP address, optionally with a port: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53 (got "dns.example")',
      ],
      [
        { ...base, federation: { dns: { servers: ['dns.example:53'] } } },
        'config.json: federation.dns.servers[0] must be an IP address, optionally with a port',
      ],
      [
        { ...base, federation: { dns: { servers: ['192.0.2.53:0'] } } },
        'config.json: federation.dns.servers[0] must be an IP address, optionally with a port',
      ],
      [
        { ...base, federation: { dns: { servers: [] } } },
        'config.json: federation.dns.servers must have at least 1 entry',
      ],
      [[], 'config.json: must be an object (got an array)'],
    ];
    for (const [input, expected] of cases) {
      assert.throws(
        () => parseConfig(input),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(expected),
        `${JSON.stringify(input)} → expected "${expected}"`,
      );
    }
  });
  it('loads from the data folder and explains a missing or broken file', () => {
    const dir = tempDir();
    assert.throws(
      () => loadConfig(dir),
      /no config\.json in .*: create the data folder with `tsunagu-server init/,
    );
    fs.writeFileSync(dataPaths(dir).config, '{ "version": 1, ');
    assert.throws(() => loadConfig(dir), /^ConfigError: config\.json: not valid JSON/);
    const c = createConfig({
      domain: 'example.org',
      hosts: ['localhost', '127.0.0.1'],
      sipPort: 5070,
      policyDefault: 'deny-all',
    });
    fs.writeFileSync(dataPaths(dir).config, serialiseConfig(c));
    assert.deepEqual(loadConfig(dir), c);
    assert.equal(loadConfig(dir).sip.port, 5070);
  });
});
