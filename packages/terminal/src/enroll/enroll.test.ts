import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { formatJoinLink, JoinLinkError } from '@tsunagu/protocol';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { certificateFingerprint, ServerCertificateError } from '../sip/pinned-tls.js';
import { Signalling } from '../sip/signalling.js';
import { testPassword } from '../sip/testing.js';
import { EnrollError, enroll, login } from './enroll.js';

let t: TestServer;
let other: TestServer;
before(async () => {
  [t, other] = await Promise.all([startTestServer(), startTestServer()]);
  t.addUser('alice');
  t.addUser('bob');
  t.admin.users.add('carol', { realm: t.domain }); // no password: joins by invite only
});
after(async () => {
  await Promise.all([t.close(), other.close()]);
});

/** The link `tsunagu-server invite USER` prints (cli/invite.ts createJoinLink), for the harness. */
function inviteLink(user: string, o: { https?: string; ca?: string } = {}): string {
  const { token } = t.admin.invites.create(user, 60_000);
  return formatJoinLink({
    server: `127.0.0.1:${t.sip.port}`,
    https: o.https ?? `127.0.0.1:${t.https.port}`,
    caFingerprint: o.ca ?? certificateFingerprint(t.ca),
    user,
    token,
    domain: t.domain,
  });
}

const pendingInvites = (user: string) =>
  t.admin.invites.list().filter((i) => i.user === user && i.status === 'pending').length;

describe('enroll', () => {
  test('redeems an invite; the device then registers with its own credentials (SHA-256 digest)', async () => {
    const instanceId = '6f1c1a52-3a3b-4a57-9d2f-0c6a0c1f2e11';
    const creds = await enroll(inviteLink('carol'), { instanceId, name: "carol's laptop" });
    assert.equal(creds.user, 'carol');
    assert.equal(creds.aor, `sip:carol@${t.domain}`);
    assert.equal(creds.username, `carol/${creds.device}`);
    assert.ok(creds.secret.length >= 40);
    assert.equal(creds.instanceId, instanceId);
    assert.equal(creds.caPem, t.ca);
    assert.equal(creds.caFingerprint, certificateFingerprint(t.ca));
    assert.equal(t.admin.devices.get('carol', creds.device!)?.name, "carol's laptop");

    const s = Signalling.fromCredentials(creds, { networkWatch: false });
    try {
      await s.start();
      const [binding] = t.server.context.location.bindings('carol');
      assert.equal(binding?.deviceId, creds.device, 'registered as the enrolled device');
      assert.equal(binding?.instance, `<urn:uuid:${instanceId}>`);
    } finally {
      await s.stop();
    }
  });

  test('a token works once', async () => {
    const link = inviteLink('carol');
    await enroll(link);
    const err = (await enroll(link).catch((e: unknown) => e)) as EnrollError;
    assert.ok(err instanceof EnrollError);
    assert.equal(err.code, 'invite-refused');
    assert.match(err.message, /invalid, already used or expired/);
  });

  test('a wrong pinned fingerprint: refused before the token is sent', async () => {
    const link = inviteLink('bob', { ca: certificateFingerprint(other.ca) });
    const err = (await enroll(link).catch((e: unknown) => e)) as ServerCertificateError;
    assert.ok(err instanceof ServerCertificateError);
    assert.equal(err.kind, 'ca-mismatch');
    assert.match(err.message, /not the pinned .*possible interception/);
    assert.equal(pendingInvites('bob'), 1, 'the token was never redeemed');
  });

  test('a server that serves the right CA but holds a certificate of another CA: possible interception', async () => {
    // An interceptor can copy the public ca.pem, but not a certificate that chains to it.
    const tlsDir = path.join(other.dataDir, 'tls');
    const mitm = https.createServer(
      {
        key: fs.readFileSync(path.join(tlsDir, 'server.key')),
        cert: fs.readFileSync(path.join(tlsDir, 'server.pem')),
      },
      (req, res) => {
        if (req.url === '/ca.pem') res.end(t.ca);
        else res.writeHead(500).end('the token must never get here');
      },
    );
    await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', r));
    let posted = false;
    mitm.on('request', (req) => (posted ||= req.method === 'POST'));
    try {
      const port = (mitm.address() as { port: number }).port;
      const err = (await enroll(inviteLink('bob', { https: `127.0.0.1:${port}` })).catch(
        (e: unknown) => e,
      )) as ServerCertificateError;
      assert.ok(err instanceof ServerCertificateError);
      assert.equal(err.kind, 'untrusted');
      assert.match(err.message, /does not chain to the pinned CA .*possible interception/);
      assert.equal(posted, false);
    } finally {
      mitm.close();
    }
  });

  test('a malformed link is refused with the link error', async () => {
    await assert.rejects(enroll('tsunagu://join?v=1&user=bob'), JoinLinkError);
  });
});

describe('login', () => {
  test('checks the password and returns credentials for a password account', async () => {
    const creds = await login({
      server: `127.0.0.1:${t.sip.port}`,
      https: `127.0.0.1:${t.https.port}`,
      caFingerprint: certificateFingerprint(t.ca),
      user: 'alice',
      password: testPassword('alice'),
    });
    assert.equal(creds.domain, t.domain, 'the domain comes from the server certificate (sip: URI)');
    assert.equal(creds.username, 'alice');
    assert.equal(creds.realm, t.domain);
    assert.equal(creds.device, undefined);
    assert.equal(t.server.context.location.bindings('alice').length, 0, 'a check, not a registration');

    const s = Signalling.fromCredentials(creds, { networkWatch: false });
    try {
      await s.start();
      assert.equal(s.status.state, 'registered');
    } finally {
      await s.stop();
    }
  });

  test('a wrong password is refused', async () => {
    const err = (await login({
      server: `127.0.0.1:${t.sip.port}`,
      https: `127.0.0.1:${t.https.port}`,
      caFingerprint: certificateFingerprint(t.ca),
      user: 'bob',
      password: 'wrong',
    }).catch((e: unknown) => e)) as EnrollError;
    assert.ok(err instanceof EnrollError);
    assert.equal(err.code, 'wrong-credentials');
  });

  test('a server of another CA is refused', async () => {
    const err = (await login({
      server: `127.0.0.1:${other.sip.port}`,
      https: `127.0.0.1:${t.https.port}`,
      caFingerprint: certificateFingerprint(t.ca),
      user: 'alice',
      password: testPassword('alice'),
    }).catch((e: unknown) => e)) as ServerCertificateError;
    assert.ok(err instanceof ServerCertificateError);
    assert.equal(err.kind, 'untrusted');
  });
});
