import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../config/config.js';
import { dataPaths } from '../config/paths.js';
import { createLogger } from '../log/logger.js';
import { header, type SipResponse } from '../sip/message.js';
import {
  startTestServer,
  testCertificateRequest,
  type SipTestClient,
  type TestServer,
} from '../testing/index.js';
import { PACKAGE_DIR, cliArgs, freeTcpPort, runCli, type CliResult } from '../testing/cli.js';
import { CERTIFICATE_EVENT, CHAIN_TYPE, PKCS10_TYPE } from '@tsunagu/protocol';
import { LocalAuthority } from './authority.js';
import { CaError, createDeploymentCa, issueServerCertificate } from './ca.js';
import { CsrError } from './device.js';
import { readPrivateKey } from './files.js';
import { connectRemoteAuthority } from './remote.js';
import {
  caFolderPaths,
  issueCaServiceCertificate,
  serveAuthority,
  type AuthorityService,
} from './service.js';

/**
 * The CA as its own process (claims 7 and 17): `init --ca-data` splits the CA key out of the data
 * folder, `tsunagu-server ca --data CADIR` serves it over mutual TLS, and the session server asks it
 * for every certificate. Real TLS on 127.0.0.1, real files, the real CLI process.
 */

const DOMAIN = 'example.test';
const PASSPHRASE = 'ca passphrase for the split test';

/** The real CLI, without a CA passphrase from this process's environment unless `env` gives one. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  runCli(args, { env: { TSUNAGU_CA_PASSPHRASE: '', ...env } });

/** The real `tsunagu-server ca --data CADIR`, resolved once it logged "CA listening". */
async function startCaProcess(
  cadir: string,
  env: NodeJS.ProcessEnv = { TSUNAGU_CA_PASSPHRASE: PASSPHRASE },
): Promise<{
  proc: ChildProcessWithoutNullStreams;
  listening: Record<string, unknown>;
  /** Everything it wrote to standard error so far (its JSON log). */
  log(): string;
  stop(): Promise<number | null>;
}> {
  const proc = spawn(process.execPath, cliArgs(['ca', '--data', cadir]), {
    cwd: PACKAGE_DIR,
    env: { ...process.env, TSUNAGU_DATA: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  /** How much of `stderr` has been looked at: whole lines only (a chunk may end inside one). */
  let scanned = 0;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the CA process did not start within 20 s: ${stderr}`));
    }, 20_000);
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const end = stderr.lastIndexOf('\n') + 1;
      for (const line of stderr.slice(scanned, end).split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'CA listening') {
          clearTimeout(timer);
          resolve(entry);
        }
      }
      scanned = end;
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the CA process exited (${code}) before listening: ${stderr}`));
    });
  });
  return {
    proc,
    listening,
    log: () => stderr,
    stop: () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

function publish(c: SipTestClient, body: Buffer | string): Promise<SipResponse> {
  return c.request('PUBLISH', c.aor, {
    to: `<${c.aor}>`,
    headers: [{ name: 'Event', value: CERTIFICATE_EVENT }],
    contentType: PKCS10_TYPE,
    body: typeof body === 'string' ? body : body.toString('base64'),
  });
}

const instanceOf = (c: SipTestClient) => c.instance.slice(1, -1);
const mode = (p: string) => fs.statSync(p).mode & 0o777;

interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request to the CA service, on a connection of its own. */
function request(
  port: number,
  o: {
    ca: string;
    cert?: string;
    key?: string;
    method?: string;
    path: string;
    body?: string;
    type?: string;
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        ca: o.ca,
        ...(o.cert ? { cert: o.cert, key: o.key } : {}),
        agent: false,
        method: o.method ?? 'GET',
        path: o.path,
        headers: o.body !== undefined ? { 'Content-Type': o.type ?? 'application/json' } : {},
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

function auditLines(cadir: string): Record<string, unknown>[] {
  const file = caFolderPaths(cadir).audit;
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the CA as its own process', () => {
  let tmp: string;
  let srv: string;
  let cadir: string;
  let caPort: number;
  let caPem: string;
  /** The session server's own certificate and key (its client certificate towards the CA). */
  let serverTls: { cert: string; key: string };
  let openServers: TestServer[] = [];

  const split = async (): Promise<TestServer> => {
    const t = await startTestServer({ dataDir: srv, domain: DOMAIN });
    openServers.push(t);
    for (const user of ['alice', 'bob']) if (!t.admin.users.get(user)) t.addUser(user);
    return t;
  };
  const registered = async (t: TestServer, user = 'alice'): Promise<SipTestClient> => {
    const c = await t.client(user);
    assert.equal((await c.register()).status, 200);
    return c;
  };
  const closeServers = async () => {
    const list = openServers;
    openServers = [];
    for (const t of list) await t.close();
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-ca-split-'));
    srv = path.join(tmp, 'srv');
    cadir = path.join(tmp, 'ca-service');
    caPort = await freeTcpPort();
    const passFile = path.join(tmp, 'passphrase');
    fs.writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const r = await cli([
      'init',
      '--data',
      srv,
      '--domain',
      DOMAIN,
      '--host',
      'localhost',
      '--host',
      '127.0.0.1',
      '--ca-data',
      cadir,
      '--ca-listen',
      `127.0.0.1:${caPort}`,
      '--ca-passphrase-file',
      passFile,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(json.caData, cadir);
    assert.equal(json.caListen, `127.0.0.1:${caPort}`);
    assert.equal(json.caKeyEncrypted, true);
    caPem = fs.readFileSync(dataPaths(srv).caCert, 'utf8');
    serverTls = {
      cert: fs.readFileSync(dataPaths(srv).serverCert, 'utf8'),
      key: fs.readFileSync(dataPaths(srv).serverKey, 'utf8'),
    };
  });
  after(async () => {
    await closeServers();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('init --ca-data puts the CA key in the CA folder only, and points the server at the CA process', () => {
    const s = dataPaths(srv);
    const c = caFolderPaths(cadir);
    assert.equal(fs.existsSync(s.caKey), false, 'the session server has no CA key');
    assert.equal(fs.readFileSync(c.caCert, 'utf8'), caPem, 'both folders have the same CA certificate');
    assert.equal(mode(c.root), 0o700);
    assert.equal(mode(c.caKey), 0o600);
    assert.equal(mode(c.tlsKey), 0o600);
    assert.match(
      fs.readFileSync(c.caKey, 'utf8'),
      /BEGIN ENCRYPTED PRIVATE KEY/,
      'encrypted with the passphrase',
    );
    assert.deepEqual(JSON.parse(fs.readFileSync(c.config, 'utf8')), {
      version: 1,
      domain: DOMAIN,
      listen: { host: '127.0.0.1', port: caPort },
    });
    assert.deepEqual(loadConfig(srv).ca.remote, { host: '127.0.0.1', port: caPort });
    const ca = new X509Certificate(caPem);
    const service = new X509Certificate(fs.readFileSync(c.tlsCert, 'utf8'));
    assert.ok(service.verify(ca.publicKey), 'the CA service certificate is issued by the CA');
    assert.equal(service.subjectAltName, 'IP Address:127.0.0.1');
    assert.deepEqual(service.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth only: never a client of itself');
    const server = new X509Certificate(serverTls.cert);
    assert.ok(server.verify(ca.publicKey));
    assert.match(server.subjectAltName ?? '', /URI:sip:example\.test/);
  });

  it('the CA process needs the passphrase of an encrypted key', async () => {
    const r = await cli(['ca', '--data', cadir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tsunagu-server: the CA key .*ca\.key is encrypted: give its passphrase/);
    const wrong = await cli(['ca', '--data', cadir], { TSUNAGU_CA_PASSPHRASE: 'not it' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong passphrase/);
  });

  it('mutual TLS: only the session server of the domain gets an answer', async () => {
    const authority = LocalAuthority.open(caFolderPaths(cadir), PASSPHRASE);
    const c = caFolderPaths(cadir);
    const service = await serveAuthority({
      authority,
      domain: DOMAIN,
      host: '127.0.0.1',
      port: 0,
      tls: { key: fs.readFileSync(c.tlsKey, 'utf8'), cert: fs.readFileSync(c.tlsCert, 'utf8') },
      caPem,
      auditFile: path.join(tmp, 'mtls-audit.jsonl'),
      log: createLogger('silent'),
    });
    try {
      const port = service.address.port;
      const asServer = { ca: caPem, ...serverTls };

      // The session server: answered.
      const health = await request(port, { ...asServer, path: '/healthz' });
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
      const served = await request(port, { ...asServer, path: '/v1/ca.pem' });
      assert.equal(served.status, 200);
      assert.equal(served.body, caPem);

      // No client certificate: the handshake fails, there is no HTTP answer at all.
      await assert.rejects(request(port, { ca: caPem, path: '/healthz' }), (e: Error & { code?: string }) => {
        assert.match(`${e.code} ${e.message}`, /CERTIFICATE_REQUIRED|ECONNRESET|socket hang up|alert/i);
        return true;
      });

      // A terminal's certificate from the same CA (URI sip:alice@example.test): 403.
      const csr = testCertificateRequest({
        aor: `sip:alice@${DOMAIN}`,
        instance: 'urn:uuid:00000000-0000-4000-8000-000000000001',
      });
      const terminal = await authority.issue({
        csr: csr.der,
        subject: {
          user: 'alice',
          deviceId: 'laptop',
          instance: 'urn:uuid:00000000-0000-4000-8000-000000000001',
          domain: DOMAIN,
        },
        validityDays: 1,
      });
      const keyPem = csr.key.export({ type: 'pkcs8', format: 'pem' }).toString();
      for (const p of ['/healthz', '/v1/ca.pem']) {
        const r = await request(port, { ca: caPem, cert: terminal.certPem, key: keyPem, path: p });
        assert.equal(r.status, 403, p);
        assert.equal((JSON.parse(r.body) as { code: string }).code, 'forbidden');
      }
      const asTerminal = await request(port, {
        ca: caPem,
        cert: terminal.certPem,
        key: keyPem,
        method: 'POST',
        path: '/v1/issue',
        body: '{}',
      });
      assert.equal(asTerminal.status, 403, 'a terminal cannot ask the CA directly');

      // Another CA's certificate, even one naming sip:example.test: refused in the handshake.
      const other = createDeploymentCa({ domain: DOMAIN });
      const impostor = issueServerCertificate({ ca: other, hosts: ['127.0.0.1'], domain: DOMAIN });
      await assert.rejects(
        request(port, { ca: caPem, cert: impostor.certPem, key: impostor.keyPem, path: '/healthz' }),
        (e: Error & { code?: string }) => {
          assert.match(`${e.code} ${e.message}`, /UNKNOWN_CA|ECONNRESET|socket hang up|alert/i);
          return true;
        },
      );

      // Routes, methods and bodies.
      assert.equal((await request(port, { ...asServer, path: '/nope' })).status, 404);
      const wrongMethod = await request(port, { ...asServer, path: '/v1/issue' });
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.allow, 'POST');
      const post = (body: string, type?: string) =>
        request(port, { ...asServer, method: 'POST', path: '/v1/issue', body, ...(type ? { type } : {}) });
      assert.equal((await post('{}', 'text/plain')).status, 415);
      assert.equal((await post('{not json')).status, 400);
      const shape = await post(JSON.stringify({ csr: 'AAAA', subject: { user: 'alice' }, validityDays: 1 }));
      assert.equal(shape.status, 400);
      assert.equal((JSON.parse(shape.body) as { code: string }).code, 'bad-request');
      const extra = await post(
        JSON.stringify({
          csr: csr.der.toString('base64'),
          subject: { user: 'alice', deviceId: 'laptop', instance: 'urn:uuid:1', domain: DOMAIN, admin: true },
          validityDays: 1,
        }),
      );
      assert.equal(extra.status, 400, 'unknown fields are refused');
      const otherDomain = await post(
        JSON.stringify({
          csr: csr.der.toString('base64'),
          subject: { user: 'alice', deviceId: 'laptop', instance: 'urn:uuid:1', domain: 'other.test' },
          validityDays: 1,
        }),
      );
      assert.equal(otherDomain.status, 400);
      assert.equal((await post(JSON.stringify({ csr: 'A'.repeat(40 * 1024) }))).status, 413);
      assert.deepEqual(
        fs.readFileSync(path.join(tmp, 'mtls-audit.jsonl'), 'utf8'),
        '',
        'nothing was issued through the service',
      );
      assert.equal(mode(path.join(tmp, 'mtls-audit.jsonl')), 0o600);
    } finally {
      await service.close();
      await authority.close();
    }
  });

  it('a device gets its certificate from the real CA process, which keeps the record', async () => {
    const ca = await startCaProcess(cadir);
    try {
      assert.equal(ca.listening.address, `127.0.0.1:${caPort}`);
      const t = await split();
      const c = await registered(t);
      const csr = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
      const res = await publish(c, csr.der);
      assert.equal(res.status, 200, `${res.status} ${res.reason} ${header(res, 'Warning') ?? ''}`);
      assert.equal(header(res, 'Content-Type'), CHAIN_TYPE);
      const leaf = new X509Certificate(res.body.toString('utf8'));
      assert.ok(leaf.checkPrivateKey(csr.key));
      assert.ok(leaf.verify(new X509Certificate(caPem).publicKey), 'signed by the deployment CA');
      assert.match(leaf.subjectAltName ?? '', new RegExp(`URI:sip:alice@${DOMAIN.replace('.', '\\.')}`));
      const device = t.admin.devices.findByInstance('alice', instanceOf(c))!;
      // The session server records it (for presence and revocation) ...
      const record = t.admin.certificates.byFingerprint(`sha256:${leaf.fingerprint256}`);
      assert.equal(record?.device, device.id);
      // ... and so does the CA, in its own folder.
      const lines = auditLines(cadir);
      const line = lines.find((l) => l.fingerprint === `sha256:${leaf.fingerprint256}`);
      assert.ok(line, 'the audit file has the certificate');
      assert.equal(line.serial, leaf.serialNumber.toLowerCase());
      assert.equal(line.user, 'alice');
      assert.equal(line.device, device.id);
      assert.equal(line.instance, instanceOf(c));
      assert.equal(line.notAfter, new Date(leaf.validTo).toISOString());
      assert.match(String(line.client), /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(Object.keys(line).sort(), [
        'at',
        'client',
        'device',
        'fingerprint',
        'instance',
        'notAfter',
        'notBefore',
        'serial',
        'user',
      ]);
      assert.equal(mode(caFolderPaths(cadir).audit), 0o600);

      // Revoked on the session server: the CA process signs the CRL (`ca crl` asks it over mTLS).
      t.admin.devices.revoke('alice', device.id);
      const crl = await cli(['ca', 'crl', '--data', srv]);
      assert.equal(crl.code, 0, crl.stderr);
      assert.match(crl.stdout, /^-----BEGIN X509 CRL-----\n/);
      const crlFile = path.join(tmp, 'split.crl');
      fs.writeFileSync(crlFile, crl.stdout);
      const text = execFileSync(
        'openssl',
        ['crl', '-in', crlFile, '-CAfile', dataPaths(srv).caCert, '-noout', '-text'],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      assert.match(text, new RegExp(`Serial Number: ${leaf.serialNumber.toUpperCase()}`));
      assert.ok(fs.existsSync(dataPaths(srv).caKey) === false);
      // Neither process logs key material.
      for (const text of [ca.log(), JSON.stringify(t.logs)])
        assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE/);
      assert.match(ca.log(), /"msg":"certificate issued"/);
    } finally {
      await closeServers();
      assert.equal(await ca.stop(), 0, 'SIGTERM stops the CA process cleanly');
    }
  });

  it('refusals by the remote CA reach the terminal exactly as from the CA in-process', async () => {
    const ca = await startCaProcess(cadir);
    const local = await startTestServer({ domain: DOMAIN }); // the default: the CA in the server
    openServers.push(local);
    try {
      const remote = await split();
      local.addUser('alice');
      const cases = (c: SipTestClient): [string, Buffer | string][] => {
        const good = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
        const tampered = Buffer.from(good.der);
        tampered[tampered.length - 5]! ^= 0xff;
        return [
          [
            'another user',
            testCertificateRequest({
              aor: `sip:bob@${DOMAIN}`,
              instance: instanceOf(c),
              names: [{ type: 6, value: `sip:bob@${DOMAIN}` }],
              key: good.key,
            }).der,
          ],
          ['tampered signature', tampered],
          ['garbage', 'bm90IGEgY3Ny'],
          ['weak key', testCertificateRequest({ aor: c.aor, instance: instanceOf(c), bits: 1024 }).der],
        ];
      };
      const before = auditLines(cadir).length;
      const answers = async (t: TestServer) => {
        const c = await registered(t);
        const out: string[] = [];
        for (const [what, body] of cases(c)) {
          const r = await publish(c, body);
          // The Warning names the device's AOR and the domain: the same in both deployments.
          out.push(`${what}: ${r.status} ${r.reason} | ${header(r, 'Warning') ?? ''}`);
        }
        return out;
      };
      const viaProcess = await answers(remote);
      const inProcess = await answers(local);
      assert.deepEqual(viaProcess, inProcess);
      assert.match(
        viaProcess[0]!,
        /^another user: 403 Request Names Another Identity \| 399 example\.test ".*bob@example\.test.*"$/,
      );
      assert.match(viaProcess[1]!, /^tampered signature: 400 Certificate Request Signature Invalid/);
      assert.equal(auditLines(cadir).length, before, 'the CA issued nothing');
    } finally {
      await closeServers();
      assert.equal(await ca.stop(), 0);
    }
  });

  it('CA process down: 503 and nothing recorded; back up: certificates again', async () => {
    let ca = await startCaProcess(cadir);
    try {
      const t = await split();
      const c = await registered(t);
      const csr = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
      assert.equal((await publish(c, csr.der)).status, 200, 'a first one through the keep-alive connection');

      assert.equal(await ca.stop(), 0);
      const issued = t.admin.certificates.list().length;
      const audited = auditLines(cadir).length;
      const started = Date.now();
      const down = await publish(c, csr.der);
      assert.equal(down.status, 503);
      assert.equal(down.reason, 'Certificate Authority Unavailable');
      assert.equal(header(down, 'Retry-After'), '30');
      assert.ok(Date.now() - started < 5000, 'a CA that is down is noticed at once, not after the timeout');
      assert.equal(t.admin.certificates.list().length, issued, 'nothing recorded by the server');
      assert.equal(auditLines(cadir).length, audited, 'nothing recorded by the CA');
      const failure = t.logs.find((l) => l.msg === 'the certificate authority failed');
      assert.match(
        String(failure?.err),
        new RegExp(`certificate authority at 127\\.0\\.0\\.1:${caPort} is unavailable`),
      );

      ca = await startCaProcess(cadir);
      const back = await publish(c, csr.der);
      assert.equal(back.status, 200);
      assert.equal(t.admin.certificates.list().length, issued + 1);
      assert.equal(auditLines(cadir).length, audited + 1);
    } finally {
      await closeServers();
      await ca.stop();
    }
  });

  it('a server started while the CA is down starts, answers 503, and issues once the CA is up', async () => {
    const t = await split();
    const c = await registered(t);
    const csr = testCertificateRequest({ aor: c.aor, instance: instanceOf(c) });
    assert.equal((await publish(c, csr.der)).status, 503);
    const authority = LocalAuthority.open(caFolderPaths(cadir), PASSPHRASE);
    const p = caFolderPaths(cadir);
    const service = await serveAuthority({
      authority,
      domain: DOMAIN,
      host: '127.0.0.1',
      port: caPort,
      tls: { key: fs.readFileSync(p.tlsKey, 'utf8'), cert: fs.readFileSync(p.tlsCert, 'utf8') },
      caPem,
      auditFile: p.audit,
      log: createLogger('silent'),
    });
    try {
      assert.equal((await publish(c, csr.der)).status, 200);
    } finally {
      await closeServers();
      await service.close();
      await authority.close();
    }
  });

  it('a CA that does not answer, or answers too much, is unavailable: bounded in time and size', async () => {
    const subject = { user: 'alice', deviceId: 'laptop', instance: 'urn:uuid:1', domain: DOMAIN };
    const csr = testCertificateRequest({ aor: `sip:alice@${DOMAIN}`, instance: 'urn:uuid:1' }).der;
    // Accepts TCP connections and never says a word.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    // Speaks TLS with a certificate of the deployment CA, and answers 100 KiB.
    const p = caFolderPaths(cadir);
    const chatty = https.createServer(
      { key: fs.readFileSync(p.tlsKey, 'utf8'), cert: fs.readFileSync(p.tlsCert, 'utf8') },
      (_req, res) => res.end('x'.repeat(100 * 1024)),
    );
    await new Promise<void>((resolve) => chatty.listen(0, '127.0.0.1', resolve));
    const chattyPort = (chatty.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const slow = await connectRemoteAuthority(
        { host: '127.0.0.1', port: silentPort },
        { ...serverTls, ca: caPem },
        { timeoutMs: 300 },
      );
      await assert.rejects(slow.issue({ csr, subject, validityDays: 1 }), (e: Error) => {
        assert.ok(
          !(e instanceof CsrError) && !(e instanceof CaError),
          'not a refusal: the SIP side answers 503',
        );
        assert.equal(
          e.message,
          `the certificate authority at 127.0.0.1:${silentPort} is unavailable (ETIMEDOUT: no answer within 0.3 s)`,
        );
        return true;
      });
      assert.ok(Date.now() - started < 3000);
      await slow.close();
      const big = await connectRemoteAuthority(
        { host: '127.0.0.1', port: chattyPort },
        { ...serverTls, ca: caPem },
      );
      await assert.rejects(
        big.crl([], 1),
        /certificate authority at 127\.0\.0\.1:\d+ is unavailable \(the answer is larger than 65536 bytes\)/,
      );
      await big.close();
    } finally {
      silent.close();
      chatty.closeAllConnections();
      chatty.close();
    }
  });

  it('a CA process of another CA is refused at start, with the reason', async () => {
    const p = caFolderPaths(cadir);
    const deployment = LocalAuthority.open(p, PASSPHRASE);
    const caKeyPem = readPrivateKey(p.caKey, PASSPHRASE).export({ type: 'pkcs8', format: 'pem' }).toString();
    const other = createDeploymentCa({ domain: DOMAIN });
    const otherAuthority = new LocalAuthority(createPrivateKey(other.keyPem), other.certPem);
    const ownTls = { key: fs.readFileSync(p.tlsKey, 'utf8'), cert: fs.readFileSync(p.tlsCert, 'utf8') };
    const serve = (o: { authority: LocalAuthority; tls: { key: string; cert: string }; caPem: string }) =>
      serveAuthority({
        ...o,
        domain: DOMAIN,
        host: '127.0.0.1',
        port: caPort,
        auditFile: path.join(tmp, 'other-audit.jsonl'),
        log: createLogger('silent'),
      });
    const attempt = async (service: AuthorityService, message: RegExp) => {
      try {
        await assert.rejects(startTestServer({ dataDir: srv, domain: DOMAIN }), message);
        await assert.rejects(
          connectRemoteAuthority({ host: '127.0.0.1', port: caPort }, { ...serverTls, ca: caPem }),
          message,
        );
      } finally {
        await service.close();
      }
    };
    try {
      // Its TLS certificate is ours, but it signs with another CA.
      await attempt(
        await serve({ authority: otherAuthority, tls: ownTls, caPem }),
        /the CA service at 127\.0\.0\.1:\d+ serves another CA \(sha256:[0-9A-F:]+\) than this data folder's ca\/ca\.pem/,
      );
      // Another CA altogether: its certificate does not chain to ours.
      const otherTls = issueCaServiceCertificate({ ca: other, host: '127.0.0.1' });
      await attempt(
        await serve({
          authority: otherAuthority,
          tls: { key: otherTls.keyPem, cert: otherTls.certPem },
          caPem: other.certPem,
        }),
        /the CA service at 127\.0\.0\.1:\d+ is not the CA service of this deployment: its certificate is not issued by this data folder’s CA/,
      );
      // Ours, but a certificate naming another host than ca.remote.host.
      const misnamed = issueCaServiceCertificate({
        ca: { keyPem: caKeyPem, certPem: caPem },
        host: 'ca.example.test',
      });
      await attempt(
        await serve({ authority: deployment, tls: { key: misnamed.keyPem, cert: misnamed.certPem }, caPem }),
        /its certificate does not name 127\.0\.0\.1/,
      );
    } finally {
      await closeServers();
      await deployment.close();
      await otherAuthority.close();
    }
  });

  it('ca crl signs with the local key of a data folder that has one', async () => {
    const local = path.join(tmp, 'local');
    const r = await cli(['init', '--data', local, '--domain', DOMAIN]);
    assert.equal(r.code, 0, r.stderr);
    const crl = await cli(['ca', 'crl', '--data', local]);
    assert.equal(crl.code, 0, crl.stderr);
    const file = path.join(tmp, 'local.crl');
    fs.writeFileSync(file, crl.stdout);
    execFileSync('openssl', ['crl', '-in', file, '-CAfile', dataPaths(local).caCert, '-noout'], {
      stdio: 'pipe',
    });

    // An existing deployment moves its key out: `ca split`.
    const moved = path.join(tmp, 'local-ca');
    const port = await freeTcpPort();
    const split = await cli([
      'ca',
      'split',
      '--data',
      local,
      '--ca-data',
      moved,
      '--ca-listen',
      `127.0.0.1:${port}`,
    ]);
    assert.equal(split.code, 0, split.stderr);
    assert.equal(fs.existsSync(dataPaths(local).caKey), false, 'the key left the data folder');
    assert.equal(mode(caFolderPaths(moved).caKey), 0o600);
    assert.equal(
      fs.readFileSync(caFolderPaths(moved).caCert, 'utf8'),
      fs.readFileSync(dataPaths(local).caCert, 'utf8'),
    );
    assert.deepEqual(loadConfig(local).ca.remote, { host: '127.0.0.1', port });
    assert.equal(loadConfig(local).sip.port, 5061, 'the rest of config.json is kept');
    const again = await cli(['ca', 'split', '--data', local, '--ca-data', path.join(tmp, 'again')]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already uses the CA process at 127\.0\.0\.1:\d+/);

    // Its CA process is not running: `ca crl` says so in one line, no stack trace.
    const down = await cli(['ca', 'crl', '--data', local]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`^tsunagu-server: the certificate authority at 127\\.0\\.0\\.1:${port} is unavailable`),
    );
    assert.doesNotMatch(down.stderr, /\n\s+at /);
    // Running, it signs the CRL, with the moved key.
    const service = await startCaProcess(moved, { TSUNAGU_CA_PASSPHRASE: '' });
    try {
      const crl2 = await cli(['ca', 'crl', '--data', local]);
      assert.equal(crl2.code, 0, crl2.stderr);
      fs.writeFileSync(file, crl2.stdout);
      execFileSync('openssl', ['crl', '-in', file, '-CAfile', dataPaths(local).caCert, '-noout'], {
        stdio: 'pipe',
      });
    } finally {
      assert.equal(await service.stop(), 0);
    }
  });
});
