import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { openProfile } from '../identity/index.js';
import {
  contentDisposition,
  dnsNames,
  parseListen,
  parseRange,
  requireCaCertificate,
  serveShare,
  type ShareDownload,
  type ShareOptions,
  type ShareServer,
} from './index.js';

/**
 * "Terminal 13": an ordinary host that holds only the deployment CA certificate downloads a shared
 * file and verifies the device with stock tools — Debian's curl and openssl — against a real TLS
 * listener. The CA and the device certificates are made with the openssl CLI.
 */

const DNS = 'd-abc.alice.example.org';
const NAME = "report d'été.bin"; // a space, a quote and non-ASCII: exercises every encoding
const SIZE = 3 * 1024 * 1024;
const main = new URL('../cli/main.ts', import.meta.url).pathname;

let dir: string;
let file: string;
let fileSha: string;
let good: { key: Buffer; cert: Buffer };
let expired: { key: Buffer; cert: Buffer };
let caText: string;
let share: ShareServer;
let reported: (d: ShareDownload) => void = () => undefined;

/**
 * The next download `share` reports. It reports once its last byte is out, which may be just after
 * the client has it all: wait for the report, not for the client. Ask before the request.
 */
function nextReport(): Promise<ShareDownload> {
  const report = new Promise<ShareDownload>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no download reported in 10 s')), 10_000);
    reported = (d) => {
      clearTimeout(timer);
      resolve(d);
    };
  });
  report.catch(() => undefined); // a test that failed before awaiting it has its own failure to report
  return report;
}

/** A share on loopback, on a free port, of the test file with the good certificate unless `o` says otherwise. */
function serveLocal(o: Partial<ShareOptions> = {}): Promise<ShareServer> {
  return serveShare({
    path: file,
    secureContext: tls.createSecureContext(good),
    host: '127.0.0.1',
    port: 0,
    ...o,
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool with an argument array (no shell), stdin closed, bounded in time. */
function run(cmd: string, args: readonly string[], cwd = dir): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd, timeout: 30_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
        if (e && typeof e.code !== 'number') return reject(e); // could not run, or timed out
        resolve({ code: e ? (e.code as number) : 0, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

async function openssl(args: readonly string[]): Promise<string> {
  const r = await run('openssl', args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A CA made by `openssl req -x509`. */
async function makeCa(name: string): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-subj',
    `/O=Test/CN=${name}`,
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A device certificate's extensions (an `-extfile`), written next to `out`; returns its name. */
async function extfile(out: string, extraSan = ''): Promise<string> {
  const name = `${out}.ext`;
  const lines = [
    `subjectAltName=DNS:${DNS},URI:sip:alice@example.org${extraSan}`,
    'extendedKeyUsage=serverAuth,clientAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'basicConstraints=critical,CA:FALSE',
  ];
  await writeFile(join(dir, name), `${lines.join('\n')}\n`);
  return name;
}

/** Signs `csr` with the test CA (`openssl x509 -req`), valid from now for 2 days. */
async function sign(csr: string, out: string, extraSan = ''): Promise<void> {
  const ext = await extfile(out, extraSan);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    out,
  ]);
}

/**
 * A certificate that expired in 2021. `openssl x509 -req` takes explicit dates only from OpenSSL 3.4
 * (`-not_before`/`-not_after`); older ones get them through `openssl ca -startdate/-enddate`.
 */
async function signExpired(csr: string, out: string): Promise<void> {
  const ext = await extfile(out);
  const help = await run('openssl', ['x509', '-help']);
  if (`${help.stdout}${help.stderr}`.includes('-not_before')) {
    await openssl([
      ...['x509', '-req', '-in', csr, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x2021'],
      ...['-not_before', '20210101000000Z', '-not_after', '20210201000000Z'],
      ...['-sha256', '-extfile', ext, '-out', out],
    ]);
    return;
  }
  await mkdir(join(dir, 'ca-db'), { recursive: true });
  await writeFile(join(dir, 'ca-db', 'index.txt'), '');
  await writeFile(join(dir, 'ca-db', 'serial'), '2021\n');
  await writeFile(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      'database = ca-db/index.txt',
      'new_certs_dir = ca-db',
      'serial = ca-db/serial',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  await openssl([
    ...['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key'],
    ...['-startdate', '20210101000000Z', '-enddate', '20210201000000Z'],
    ...['-extfile', ext, '-in', csr, '-out', out],
  ]);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-share-'));
  await makeCa('ca');
  await makeCa('other-ca');
  await openssl([
    ...['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'device.key', '-out', 'device.csr'],
    ...['-subj', `/CN=${DNS}`],
  ]);
  await sign('device.csr', 'device.pem');
  await signExpired('device.csr', 'expired.pem');
  caText = await readFile(join(dir, 'ca.pem'), 'utf8');
  const key = await readFile(join(dir, 'device.key'));
  good = { key, cert: await readFile(join(dir, 'device.pem')) };
  expired = { key, cert: await readFile(join(dir, 'expired.pem')) };
  assert.ok(new Date(new X509Certificate(expired.cert).validTo) < new Date(), 'the expired one is expired');

  file = join(dir, NAME);
  const bytes = randomBytes(SIZE);
  await writeFile(file, bytes);
  fileSha = sha256(bytes);
  share = await serveLocal({ onDownload: (d) => reported(d) });
});

after(async () => {
  await share?.close();
  await rm(dir, { recursive: true, force: true });
});

/** curl as an outside host would run it: the CA file, and the device's name resolved to the listener. */
function curl(args: readonly string[], o: { ca?: string; host?: string; port?: number } = {}): Promise<Run> {
  const host = o.host ?? DNS;
  const port = o.port ?? share.address.port;
  return run('curl', [
    ...['--silent', '--show-error', '--fail', '--max-time', '20'],
    ...['--cacert', o.ca ?? 'ca.pem', '--resolve', `${host}:${port}:127.0.0.1`],
    ...args,
  ]);
}

function sClient(o: { ca?: string; port?: number; name?: string; extra?: string[] } = {}): Promise<Run> {
  const name = o.name ?? DNS;
  return run('openssl', [
    ...['s_client', '-connect', `127.0.0.1:${o.port ?? share.address.port}`, '-servername', name],
    ...['-verify_hostname', name, '-CAfile', o.ca ?? 'ca.pem', '-verify_return_error', '-brief'],
    ...(o.extra ?? []),
  ]);
}

/** Node's own client, verifying like curl, for looking at statuses and headers. */
function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  port = share.address.port,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: DNS,
        ca: caText,
        method,
        path,
        headers,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const urlPath = () => new URL(share.url(DNS)).pathname;

describe('an outside host with only the CA certificate', () => {
  test('downloads the file with curl, byte for byte', async () => {
    assert.equal(share.url(DNS), `https://${DNS}:${share.address.port}/report%20d%27%C3%A9t%C3%A9.bin`);
    const before = share.downloads;
    const reportOf = nextReport();
    const r = await curl([
      share.url(DNS),
      '-o',
      'out.bin',
      '-w',
      '%{http_code} %{speed_download} %{time_total}',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [status, speed, total] = r.stdout.trim().split(' ');
    assert.equal(status, '200');
    assert.equal(sha256(await readFile(join(dir, 'out.bin'))), fileSha);
    const report = await reportOf;
    assert.equal(share.downloads, before + 1);
    assert.equal(report.status, 200);
    assert.equal(report.bytes, SIZE);
    assert.match(report.remote, /^127\.0\.0\.1:\d+$/);
    console.log(
      `curl downloaded ${SIZE / 1048576} MiB in ${(Number(total) * 1000).toFixed(1)} ms: ${(Number(speed) / 1048576).toFixed(1)} MiB/s (server: ${report.ms} ms)`,
    );
  });

  test('openssl s_client verifies the certificate and the host name; TLS 1.3, and 1.2 for old hosts', async () => {
    const r = await sClient();
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout + r.stderr;
    assert.match(text, /Verification: OK/);
    assert.match(text, new RegExp(`Verified peername: ${DNS.replace(/\./g, '\\.')}`));
    assert.match(text, /Protocol version: TLSv1\.3/);

    const old = await sClient({ extra: ['-tls1_2'] });
    assert.equal(old.code, 0, old.stderr);
    assert.match(
      old.stdout + old.stderr,
      /Protocol version: TLSv1\.2[\s\S]*Verification: OK|Verification: OK[\s\S]*Protocol version: TLSv1\.2/,
    );
  });

  test('a host that trusts another CA refuses the device, and nothing is written', async () => {
    const r = await curl([share.url(DNS), '-o', 'other.bin'], { ca: 'other-ca.pem' });
    assert.equal(r.code, 60, r.stderr);
    assert.match(r.stderr, /certificate/i);
    await assert.rejects(stat(join(dir, 'other.bin')));
    const s = await sClient({ ca: 'other-ca.pem' });
    assert.notEqual(s.code, 0);
    assert.doesNotMatch(s.stdout + s.stderr, /Verification: OK/);
  });

  test('a wrong host name is refused', async () => {
    const url = share.url('other.example.org');
    const r = await curl([url, '-o', 'wrong-name.bin'], { host: 'other.example.org' });
    assert.equal(r.code, 60, r.stderr);
    assert.match(r.stderr, /other\.example\.org|subject/i);
    await assert.rejects(stat(join(dir, 'wrong-name.bin')));
    const s = await sClient({ name: 'other.example.org' });
    assert.notEqual(s.code, 0);
  });

  test('an expired device certificate is refused by curl and openssl', async () => {
    const old = await serveLocal({ secureContext: tls.createSecureContext(expired) });
    try {
      const r = await curl([old.url(DNS), '-o', 'expired.bin'], { port: old.address.port });
      assert.equal(r.code, 60, r.stderr);
      assert.match(r.stderr, /expired/i);
      await assert.rejects(stat(join(dir, 'expired.bin')));
      const s = await sClient({ port: old.address.port });
      assert.notEqual(s.code, 0);
      assert.match(s.stdout + s.stderr, /expired/i);
      assert.equal(old.downloads, 0);
    } finally {
      await old.close();
    }
  });

  test('ranges: curl -C - resumes, a range gives 206 with the right bytes, past the end 416', async () => {
    const whole = await readFile(file);
    await writeFile(join(dir, 'resumed.bin'), whole.subarray(0, 1_000_000));
    const reportOf = nextReport();
    const resumed = await curl([share.url(DNS), '-C', '-', '-o', 'resumed.bin']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(sha256(await readFile(join(dir, 'resumed.bin'))), fileSha);
    assert.deepEqual((await reportOf).range, { start: 1_000_000, end: SIZE - 1 });

    const r = await request('GET', urlPath(), { range: 'bytes=1000-1999' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 1000-1999/${SIZE}`);
    assert.equal(r.headers['content-length'], '1000');
    assert.deepEqual(r.body, whole.subarray(1000, 2000));

    const tail = await request('GET', '/', { range: 'bytes=-100' });
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, whole.subarray(SIZE - 100));

    const past = await request('GET', '/', { range: `bytes=${SIZE}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${SIZE}`);

    const several = await request('GET', '/', { range: 'bytes=0-1,5-6' });
    assert.equal(several.status, 200, 'several ranges: the whole file');
    assert.equal(several.body.length, SIZE);

    const stale = await request('GET', '/', { range: 'bytes=0-9', 'if-range': '"another-version"' });
    assert.equal(stale.status, 200, 'If-Range for another version: the whole file');
    const same = await request('GET', '/', { range: 'bytes=0-9', 'if-range': r.headers.etag! });
    assert.equal(same.status, 206);
  });

  test('HEAD, the headers, 404 for another path, 405 for POST', async () => {
    const head = await request('HEAD', urlPath());
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(SIZE));
    assert.equal(head.headers['content-type'], 'application/octet-stream');
    assert.equal(
      head.headers['content-disposition'],
      `attachment; filename="report d'_t_.bin"; filename*=UTF-8''report%20d%27%C3%A9t%C3%A9.bin`,
    );
    assert.equal(head.headers['cache-control'], 'no-store');
    assert.equal(head.headers['x-content-type-options'], 'nosniff');
    assert.equal(head.headers['accept-ranges'], 'bytes');
    assert.equal((await request('HEAD', '/')).status, 200);
    assert.equal((await request('GET', "/report%20d'%c3%a9t%c3%a9.bin")).status, 200, 'other escaping');

    for (const path of ['/other.bin', '/report.bin', '/%E0%A4%A', '/..%2Fdevice.key', '//']) {
      const r = await request('GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers['cache-control'], 'no-store');
    }
    const post = await request('POST', '/');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await request('DELETE', urlPath())).status, 405);
  });
});

describe('the shared file', () => {
  test('a folder, a missing path or a FIFO is refused before listening; a busy port is named', async () => {
    await assert.rejects(serveLocal({ path: dir }), {
      message: `share serves one file; ${dir} is a folder`,
    });
    await assert.rejects(serveLocal({ path: join(dir, 'nope.bin') }), {
      message: `cannot read ${join(dir, 'nope.bin')}: no such file`,
    });
    const fifo = join(dir, 'fifo');
    assert.equal((await run('mkfifo', [fifo])).code, 0);
    await assert.rejects(serveLocal({ path: fifo }), {
      message: `share serves one regular file; ${fifo} is not one`,
    });
    const port = share.address.port;
    await assert.rejects(serveLocal({ port }), {
      message: `cannot listen on 127.0.0.1:${port}: the address is in use`,
    });
  });

  test('grown, shrunk or removed after sharing began: 409 or 404, never other bytes', async () => {
    const path = join(dir, 'changing.txt');
    await writeFile(path, 'version one\n');
    const s = await serveLocal({ path });
    try {
      assert.equal((await request('GET', '/', {}, s.address.port)).body.toString(), 'version one\n');
      await appendFile(path, 'and more\n');
      const grown = await request('GET', '/', {}, s.address.port);
      assert.equal(grown.status, 409);
      assert.match(grown.body.toString(), /changed since it was shared/);
      const viaCurl = await curl([s.url(DNS), '-o', 'changing.out'], { port: s.address.port });
      assert.equal(viaCurl.code, 22, 'curl --fail: HTTP error');
      await assert.rejects(stat(join(dir, 'changing.out')));
      await truncate(path, 4);
      assert.equal((await request('GET', '/', {}, s.address.port)).status, 409);
      await rm(path);
      assert.equal((await request('GET', '/', {}, s.address.port)).status, 404);
      assert.equal(s.downloads, 1);
    } finally {
      await s.close();
    }
  });

  test('a file that changes while it is sent ends in a broken connection, not a complete response', async () => {
    const path = join(dir, 'big-sparse.bin');
    await writeFile(path, '');
    await truncate(path, 64 * 1024 * 1024); // larger than every socket buffer on the way
    let warned: (w: { obj: Record<string, unknown>; msg: string | undefined }) => void = () => undefined;
    const warning = new Promise<{ obj: Record<string, unknown>; msg: string | undefined }>(
      (r) => (warned = r),
    );
    const s = await serveLocal({
      path,
      log: { info: () => undefined, warn: (obj, msg) => warned({ obj: { ...obj }, msg }) },
    });
    try {
      const outcome = await new Promise<{ complete: boolean; received: number; length: number }>(
        (resolve, reject) => {
          const req = https.get(
            { host: '127.0.0.1', port: s.address.port, servername: DNS, ca: caText, path: '/', agent: false },
            (res) => {
              let received = 0;
              let changed = false;
              const length = Number(res.headers['content-length']);
              res.on('data', (c: Buffer) => {
                received += c.length;
                if (changed) return;
                changed = true;
                res.pause(); // the server stalls on backpressure while the file changes
                appendFile(path, 'x').then(() => res.resume(), reject);
              });
              const done = () => resolve({ complete: res.complete, received, length });
              res.on('end', done);
              res.on('close', done);
              res.on('error', () => undefined);
            },
          );
          req.on('error', () => undefined);
        },
      );
      assert.equal(outcome.length, 64 * 1024 * 1024);
      assert.equal(outcome.complete, false);
      assert.ok(outcome.received < outcome.length, `${outcome.received} of ${outcome.length}`);
      assert.equal(s.downloads, 0);
      const w = await warning;
      assert.equal(w.msg, 'share download interrupted');
      assert.match(String(w.obj['error']), /the shared file changed while it was sent/);
      assert.match(String(w.obj['remote']), /^127\.0\.0\.1:\d+$/);
    } finally {
      await s.close();
    }
  });

  test('connections beyond maxConnections are dropped; close() ends everything', async () => {
    const s = await serveLocal({ maxConnections: 2 });
    const sockets: net.Socket[] = [];
    const closed = (sock: net.Socket) => new Promise<void>((r) => sock.once('close', () => r()));
    try {
      for (let i = 0; i < 2; i++) {
        const sock = net.connect(s.address.port, '127.0.0.1');
        sockets.push(sock);
        await new Promise<void>((r) => sock.once('connect', () => r()));
      }
      const third = net.connect(s.address.port, '127.0.0.1');
      sockets.push(third);
      await closed(third); // dropped on arrival
      const open = sockets.slice(0, 2).map(closed);
      await s.close();
      await Promise.all(open); // still in their TLS handshake: closed too
      await assert.rejects(
        new Promise((resolve, reject) =>
          net.connect(s.address.port, '127.0.0.1').on('connect', resolve).on('error', reject),
        ),
        { code: 'ECONNREFUSED' },
      );
    } finally {
      for (const sock of sockets) sock.destroy();
      await s.close();
    }
  });
});

describe('parts', () => {
  test('parseListen', () => {
    assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('[::]:8443'), { host: '::', port: 8443 });
    assert.deepEqual(parseListen('[fe80::1%eth0]:8443'), { host: 'fe80::1%eth0', port: 8443 });
    assert.deepEqual(parseListen(':8443'), { port: 8443 });
    assert.deepEqual(parseListen('host.example.org:9000'), { host: 'host.example.org', port: 9000 });
    for (const bad of ['8443', '::1:8443', '[::1]', '1.2.3.4:65536', 'a b:1', '[nope]:1', ':', 'x:-1'])
      assert.throws(() => parseListen(bad), /expected HOST:PORT, \[IPv6\]:PORT or :PORT/, bad);
  });

  test('parseRange', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=90-1000', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, end: 99 });
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    for (const ignored of ['bytes=5-1', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-', 'bytes=1234567890123456-'])
      assert.equal(parseRange(ignored, 100), undefined, ignored);
  });

  test('contentDisposition', () => {
    assert.equal(contentDisposition('a.txt'), `attachment; filename="a.txt"; filename*=UTF-8''a.txt`);
    assert.equal(
      contentDisposition('"x"\\(1)*.pdf'),
      `attachment; filename="_x__(1)*.pdf"; filename*=UTF-8''%22x%22%5C%281%29%2A.pdf`,
    );
    assert.equal(
      contentDisposition('日本.txt'),
      `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`,
    );
  });

  test('dnsNames and requireCaCertificate', () => {
    const cert = new X509Certificate(good.cert);
    assert.deepEqual(dnsNames(cert), [DNS]);
    assert.doesNotThrow(() => requireCaCertificate({ selfSigned: false, notAfter: new Date(cert.validTo) }));
    assert.throws(() => requireCaCertificate({ selfSigned: true, notAfter: new Date(cert.validTo) }), {
      message:
        'this device has no certificate from the deployment CA: join a server first (`tsunagu enroll LINK`)',
    });
    assert.throws(() => requireCaCertificate({ selfSigned: false, notAfter: new Date(0) }), /expired/);
  });
});

describe('tsunagu share', () => {
  /** `tsunagu ARGS` from the sources, stdin closed, with no profile from the environment. */
  const spawnCli = (args: readonly string[], o: { timeout?: number } = {}) =>
    spawn(process.execPath, ['--conditions=tsunagu-source', '--import', 'tsx', main, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TSUNAGU_PROFILE: '' },
      ...o,
    });

  /** A command that ends by itself: its exit code and output. */
  function cli(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawnCli(args, { timeout: 30_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  test('refuses a device with only a self-signed certificate', async () => {
    const profile = join(dir, 'self-signed-profile');
    const p = await openProfile(profile, { create: true });
    assert.equal(p.identity.selfSigned, true);
    const r = await cli(['share', file, '--profile', profile]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'tsunagu: this device has no certificate from the deployment CA: join a server first (`tsunagu enroll LINK`)\n',
    );
    assert.equal(r.stdout, '');
  });

  test('a bad --listen is a usage error naming the form', async () => {
    const r = await cli(['share', file, '--listen', '8443', '--profile', join(dir, 'self-signed-profile')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--listen.*expected HOST:PORT, \[IPv6\]:PORT or :PORT/s);
  });

  test('with a CA-issued certificate: prints the address and the curl line, which works; stops on SIGTERM', async () => {
    const profile = join(dir, 'ca-profile');
    const p = await openProfile(profile, { create: true });
    const ca = new X509Certificate(await readFile(join(dir, 'ca.pem')));
    await p.update({ caFingerprint: `sha256:${ca.fingerprint256}` });
    await p.saveCaCertificate(ca.toString());
    await writeFile(join(dir, 'profile.csr'), p.identity.createCertificateRequest('sip:alice@example.org'));
    await sign('profile.csr', 'profile.pem', `,URI:${p.data.instanceId}`); // as the CA names a device
    await p.identity.installCertificate(await readFile(join(dir, 'profile.pem'), 'utf8'));

    const small = join(dir, 'notes.txt');
    await writeFile(small, 'for an outside host\n');
    const child = spawnCli(['share', small, '--listen', '127.0.0.1:0', '--profile', profile]);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no curl line in 20 s: ${stdout} ${stderr}`)),
          20_000,
        );
        child.stdout.on('data', (c: Buffer) => {
          stdout += c;
          if (/^ {2}curl .*\n/m.test(stdout)) {
            clearTimeout(timer);
            resolve(stdout.split('\n'));
          }
        });
        void exited.then(() => reject(new Error(`share exited: ${stdout} ${stderr}`)));
      });
      assert.match(lines[0]!, /^sharing notes\.txt \(0\.0 MiB\) on 127\.0\.0\.1:\d+ until Ctrl-C/);
      const url = lines[1]!;
      assert.match(url, new RegExp(`^https://${DNS.replace(/\./g, '\\.')}:\\d+/notes\\.txt$`));
      const hint = lines.find((l) => l.startsWith('  curl '))!;
      const port = new URL(url).port;
      assert.equal(
        hint,
        `  curl --cacert ${join(profile, 'ca.pem')} --resolve ${DNS}:${port}:127.0.0.1 ${url} -o notes.txt`,
      );
      // The hint as printed, run as printed (its words have no quoting here).
      const [cmd, ...args] = hint.trim().split(' ');
      const r = await run(cmd!, [...args.slice(0, -1), join(dir, 'hinted.txt')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(dir, 'hinted.txt'), 'utf8'), 'for an outside host\n');
      // The server reports the download once its last byte is out: possibly just after curl exits.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no download line: ${stdout}`)), 10_000);
        const check = () => {
          if (!/sent notes\.txt to 127\.0\.0\.1:\d+/.test(stdout)) return;
          clearTimeout(timer);
          resolve();
        };
        child.stdout.on('data', check);
        check();
      });
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /stopped sharing notes\.txt after 1 download\n$/);
    assert.equal(stderr, '');
  });
});
