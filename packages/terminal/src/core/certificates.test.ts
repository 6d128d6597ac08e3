import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ChannelView } from '@tsunagu/protocol';
import { addRule } from '@tsunagu/server';
import { LocalAuthority } from '@tsunagu/server/ca';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { openProfile } from '../identity/index.js';
import { credentialsOf } from './account.js';
import { nextEvent } from './events.js';
import { CertificateKeeper, type CertificateState } from '../identity/renewal.js';
import { waitFor } from '../sip/testing.js';
import { LOOPBACK, certificateIssued, channelPhase, enrolledTerminal, untilIssued } from './testing.js';
import { dnsNames, serveShare } from '../share/index.js';
import { Terminal } from './terminal.js';

/** The CA from the terminal's side: issuance on joining, renewal, the key directory, revocation. */

let t: TestServer;
let dir: string;
const terminals: Terminal[] = [];

before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  for (const [a, b] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
    ['dana', 'erin'],
    ['erin', 'dana'],
  ] as const)
    addRule(t.admin, { domain: t.domain }, 'allow', a, b);
  dir = await mkdtemp(join(tmpdir(), 'tsunagu-certs-'));
});
after(async () => {
  await Promise.all(terminals.map((x) => x.stop()));
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

async function join_(user: string, acceptFrom: string[] = []) {
  const joined = await enrolledTerminal(t, dir, user, { acceptFrom });
  terminals.push(joined.terminal);
  return joined;
}

test('joining gets a CA certificate for the device; the next connection is authenticated by it', async () => {
  const { terminal: alice, profile } = await join_('alice');
  await untilIssued(alice);
  const cert = new X509Certificate(await readFile(join(profile.dir, 'cert.pem'), 'utf8'));
  const ca = new X509Certificate(t.ca);
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'issued by the deployment CA');
  assert.match(cert.subjectAltName ?? '', /URI:sip:alice@example\.test/);
  assert.equal(alice.account().device?.fingerprint, cert.fingerprint256);
  const [record] = t.admin.certificates.list('alice');
  assert.equal(record?.fingerprint, `sha256:${cert.fingerprint256}`, 'the CA keeps it with its owner');

  // A fresh start of the same profile presents it as client certificate: the server binds the flow to it.
  await alice.stop();
  const again = await Terminal.start({ profile, credentials: (await credentialsOf(profile))!, ...LOOPBACK });
  terminals.push(again);
  const bound = t.server.context.location.bindings('alice').map((b) => b.conn.identity?.certificate);
  assert.deepEqual(bound, [`sha256:${cert.fingerprint256}`]);
  await again.stop();
});

test('a certificate past two thirds of its life is renewed on registration; an expired one too', async () => {
  const { terminal: dana, profile } = await join_('dana');
  await untilIssued(dana);
  await dana.stop();
  const authority = LocalAuthority.open({
    caKey: join(t.dataDir, 'ca', 'ca.key'),
    caCert: join(t.dataDir, 'ca', 'ca.pem'),
  });
  const device = t.admin.devices.findByInstance('dana', profile.data.instanceId)!;
  const subject = { user: 'dana', deviceId: device.id, instance: profile.data.instanceId, domain: t.domain };
  const csr = profile.identity.createCertificateRequest('sip:dana@example.test');
  for (const daysAgo of [21, 31]) {
    // A certificate issued `daysAgo` days ago, valid 30 days: due (21) or expired (31).
    const old = await authority.issue({
      csr,
      subject,
      validityDays: 30,
      now: new Date(Date.now() - daysAgo * 86_400_000),
    });
    await writeFile(join(profile.dir, 'cert.pem'), old.certPem);
    const reopened = await openProfile(profile.dir);
    const x = await Terminal.start({
      profile: reopened,
      credentials: (await credentialsOf(reopened))!,
      ...LOOPBACK,
    });
    terminals.push(x);
    await nextEvent(
      x,
      () => certificateIssued(x) && x.account().device!.fingerprint !== old.fingerprint.slice(7),
      10_000,
    );
    const renewed = new X509Certificate(await readFile(join(profile.dir, 'cert.pem'), 'utf8'));
    assert.ok(Date.parse(renewed.validTo) > Date.now() + 29 * 86_400_000, `renewed after ${daysAgo} days`);
    await x.stop();
  }
  await authority.close();
});

test('while running, the certificate is renewed when two thirds of its life have passed', async () => {
  const { terminal: gail, profile } = await join_('gail');
  await untilIssued(gail);
  const first = profile.identity.fingerprint;
  const renewAt = profile.identity.renewalTime(t.ca, 'sip:gail@example.test').getTime();
  // A clock that reaches the renewal time 300 ms from now: the keeper's own timer must fire and renew.
  const offset = renewAt - Date.now() - 300;
  const keeper = new CertificateKeeper({
    identity: profile.identity,
    caPem: t.ca,
    aor: 'sip:gail@example.test',
    source: gail.signalling,
    log: profile.log,
    now: () => new Date(Date.now() + offset),
  });
  try {
    keeper.registered();
    assert.equal(keeper.state.state, 'ca-issued', 'not due yet: only a timer is armed');
    await waitFor<[CertificateState]>(keeper, 'state', (s) => s.state === 'ca-issued');
    assert.notEqual(profile.identity.fingerprint, first, 'a new certificate');
    assert.equal(t.admin.certificates.list('gail').length, 2);
  } finally {
    keeper.stop();
  }
});

test('the key directory: a member fetches another member’s current key; hidden and unknown look alike', async () => {
  const alice = (await join_('alice')).terminal;
  const { terminal: bob } = await join_('bob');
  await join_('carol');
  await Promise.all([untilIssued(alice), untilIssued(bob)]);
  const keys = await alice.call('keys.get', { user: 'bob' });
  assert.equal(keys.aor, 'sip:bob@example.test');
  assert.ok(keys.keys.some((k) => k.fingerprint === `sha256:${bob.account().device!.fingerprint}`));
  const refusal = async (user: string) =>
    alice.call('keys.get', { user }).then(
      () => assert.fail('expected a refusal'),
      (e: Error & { code: string }) => ({ code: e.code, message: e.message.replace(user, 'X') }),
    );
  assert.deepEqual(await refusal('carol'), await refusal('nobody'));
  assert.equal((await refusal('carol')).code, 'not-found');
});

test('revoking a device closes its open channel at the peer and it cannot come back', async () => {
  const { terminal: erin } = await join_('erin', ['dana']);
  const { terminal: dana, profile: danaProfile } = await join_('dana');
  await Promise.all([untilIssued(erin), untilIssued(dana)]);
  const secure = nextEvent(erin, channelPhase('secure'), 10_000);
  await dana.call('channel.open', { user: 'erin' });
  const open = (await secure).data as ChannelView;

  const ended = nextEvent(
    erin,
    (e) => e.type === 'channel' && e.data.id === open.id && e.data.phase === 'ended',
    10_000,
  );
  const device = t.admin.devices.findByInstance('dana', danaProfile.data.instanceId)!;
  const started = Date.now();
  t.admin.devices.revoke('dana', device.id);
  const closed = (await ended).data as ChannelView;
  console.log(`revocation closed the peer's channel after ${Date.now() - started} ms`);
  assert.match(closed.reason ?? '', /revoked/);
  // dana's own signalling is refused for good, with the reason.
  await nextEvent(dana, (e) => e.type === 'connection' && e.data.state === 'failed', 10_000);
  assert.match(dana.snapshot().connection.reason ?? '', /Revoked/i);
});

/** Runs a stock tool (arguments as an array, never a shell), bounded; resolves with its exit code. */
function tool(cmd: string, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string }) | null;
      if (e && typeof e.code !== 'number') return reject(e);
      resolve({ code: e ? (e.code as number) : 0, out: stdout + stderr });
    });
    child.stdin?.end();
  });
}

test('an outside host with only ca.pem downloads a shared file; once revoked, the CRL makes it refuse', async () => {
  const { terminal: frank, profile } = await join_('frank');
  await untilIssued(frank);
  const file = join(dir, 'report.bin');
  await writeFile(file, randomBytes(256 * 1024));
  const caFile = join(dir, 'only-ca.pem');
  await writeFile(caFile, t.ca);
  const share = await serveShare({
    path: file,
    secureContext: profile.identity.secureContext({ minVersion: 'TLSv1.2' }),
    host: '127.0.0.1',
    port: 0,
  });
  try {
    const [dns] = dnsNames(profile.identity.certificate);
    assert.ok(dns?.endsWith('.frank.example.test'), `the device's DNS name (${dns})`);
    const port = share.address.port;
    const curl = (out: string, extra: string[] = []) =>
      tool('curl', [
        '--silent',
        '--show-error',
        '--fail',
        '--cacert',
        caFile,
        ...extra,
        '--resolve',
        `${dns}:${port}:127.0.0.1`,
        share.url(dns!),
        '-o',
        out,
      ]);
    const sClient = (extra: string[] = []) =>
      tool('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-servername',
        dns!,
        '-verify_hostname',
        dns!,
        '-CAfile',
        caFile,
        '-verify_return_error',
        ...extra,
      ]);

    const got = join(dir, 'got.bin');
    assert.equal((await curl(got)).code, 0);
    assert.deepEqual(await readFile(got), await readFile(file));
    const ok = await sClient();
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /Verification: OK/);

    // Revoked: hosts that load the CA's CRL refuse the device.
    const device = t.admin.devices.findByInstance('frank', profile.data.instanceId)!;
    t.admin.devices.revoke('frank', device.id);
    await t.until(
      () => t.server.revocations.has(`sha256:${frank.account().device!.fingerprint}`),
      'the revocation',
    );
    const crl = join(dir, 'crl.pem');
    const fetched = await tool('curl', [
      '--silent',
      '--fail',
      '--cacert',
      caFile,
      '--resolve',
      `localhost:${t.https.port}:127.0.0.1`,
      `https://localhost:${t.https.port}/ca-crl.pem`,
      '-o',
      crl,
    ]);
    assert.equal(fetched.code, 0);
    const refused = await curl(join(dir, 'refused.bin'), ['--crlfile', crl]);
    assert.notEqual(refused.code, 0, 'curl refuses the revoked certificate');
    const sRefused = await sClient(['-CRL', crl, '-crl_check']);
    assert.notEqual(sRefused.code, 0);
    assert.match(sRefused.out, /revoked/);
  } finally {
    await share.close();
  }
});
