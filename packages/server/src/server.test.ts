import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { headerInstances } from './sip/message.js';
import { startTestServer, TEST_PASSWORD, type TestServer } from './testing/index.js';

function post(
  t: TestServer,
  path: string,
  body: string,
): Promise<{ status: number; json: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: t.https.port,
        path,
        method: 'POST',
        ca: t.ca,
        servername: 'localhost',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            json: text ? (JSON.parse(text) as Record<string, string>) : {},
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

test('an invite token enrols a device once; the device then registers with its own credentials', async () => {
  const t = await startTestServer();
  try {
    t.addUser('alice');
    const { token } = t.admin.invites.create('alice', 60_000);
    const instance = `<urn:uuid:${randomUUID()}>`;
    const body = JSON.stringify({ user: 'alice', token, instance, name: '太郎の laptop' });
    const ok = await post(t, '/enroll', body);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.aor, `sip:alice@${t.domain}`);
    assert.match(ok.json.username!, /^alice\/[a-z0-9-]+$/);
    assert.ok(ok.json.secret!.length >= 40);
    assert.equal(t.admin.devices.get('alice', ok.json.device!)?.name, '太郎の laptop', 'names in any script');

    const again = await post(t, '/enroll', body);
    assert.equal(again.status, 403, 'a token works once');
    assert.match(again.json.error!, /invalid, already used or expired/);

    const device = await t.client('alice', { username: ok.json.username!, password: ok.json.secret! });
    assert.equal((await device.register()).status, 200);
    const binding = t.server.context.location.bindings('alice')[0]!;
    assert.equal(binding.deviceId, ok.json.device);

    // Removing the device revokes it at once: its connection is closed and it cannot come back.
    t.admin.devices.remove('alice', ok.json.device!);
    await device.closed;
    const retry = await t.client('alice', { username: ok.json.username!, password: ok.json.secret! });
    assert.equal((await retry.register()).status, 401);
  } finally {
    await t.close();
  }
});

test('enrolment refuses expired, wrong-user and malformed requests alike, and bounds the body', async () => {
  const t = await startTestServer();
  try {
    t.addUser('alice');
    t.addUser('bob');
    const instance = `<urn:uuid:${randomUUID()}>`;
    const expired = t.admin.invites.create('alice', 1, Date.now() - 10_000);
    assert.equal(
      (await post(t, '/enroll', JSON.stringify({ user: 'alice', token: expired.token, instance, name: 'x' })))
        .status,
      403,
    );
    const forBob = t.admin.invites.create('bob', 60_000);
    assert.equal(
      (await post(t, '/enroll', JSON.stringify({ user: 'alice', token: forBob.token, instance, name: 'x' })))
        .status,
      403,
    );
    assert.equal((await post(t, '/enroll', '{not json')).status, 400);
    assert.equal((await post(t, '/enroll', JSON.stringify({ user: 'alice' }))).status, 400);
    const tooLarge = await post(t, '/enroll', 'x'.repeat(5000)); // read whole before the answer: no reset
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.json.error, 'body too large');
    // A larger body may be cut off mid-upload (the server hangs up without reading it): 413 or a reset.
    assert.equal((await post(t, '/enroll', 'x'.repeat(100_000)).catch(() => ({ status: 413 }))).status, 413);
    // bob's token was not spent by the failed attempt.
    assert.equal(
      (await post(t, '/enroll', JSON.stringify({ user: 'bob', token: forBob.token, instance, name: 'x' })))
        .status,
      200,
    );
  } finally {
    await t.close();
  }
});

test('the HTTPS listener serves the public CA certificate at GET /ca.pem', async () => {
  const t = await startTestServer();
  try {
    const pem = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      https
        .get(
          { host: '127.0.0.1', port: t.https.port, path: '/ca.pem', ca: t.ca, servername: 'localhost' },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }),
            );
          },
        )
        .on('error', reject);
    });
    assert.equal(pem.status, 200);
    assert.equal(pem.type, 'application/x-pem-file');
    assert.equal(pem.text, t.ca);
  } finally {
    await t.close();
  }
});

test('health and metrics on the admin address', async () => {
  const t = await startTestServer();
  try {
    t.addUser('alice');
    const c = await t.client('alice');
    await c.register();
    const health = await get(`http://${t.server.addresses.admin}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.text).status, 'ok');
    const metrics = await get(`http://${t.server.addresses.admin}/metrics`);
    assert.match(metrics.text, /^tsunagu_registered_bindings 1$/m);
    assert.match(metrics.text, /^tsunagu_sip_requests_total\{method="REGISTER"\} 2$/m);
  } finally {
    await t.close();
  }
});

test('logs never contain a password, a token, a device secret or a digest response', async () => {
  const t = await startTestServer({
    server: { throttle: { perUser: 2, perAddress: 100, windowMs: 60_000 } },
  });
  try {
    t.addUser('alice');
    const { token } = t.admin.invites.create('alice', 60_000);
    const enrolled = await post(
      t,
      '/enroll',
      JSON.stringify({ user: 'alice', token, instance: `<urn:uuid:${randomUUID()}>`, name: 'x' }),
    );
    const c = await t.client('alice');
    const req = c.build('REGISTER', `sip:${t.domain}`, { to: `<${c.aor}>` });
    const challenge = await c.sendRequest(req);
    const answered = c.withCredentials(req, challenge);
    assert.equal((await c.sendRequest(answered)).status, 200);
    const bad = await t.client('alice', { password: 'nope-wrong' });
    for (let i = 0; i < 3; i++) await bad.register();
    const digestResponse = /response="([0-9a-f]+)"/.exec(headerInstances(answered, 'Authorization')[0]!)![1]!;
    const text = JSON.stringify(t.logs);
    assert.ok(t.logs.length > 5, 'there are logs to check');
    for (const secret of [
      TEST_PASSWORD('alice'),
      'nope-wrong',
      token,
      enrolled.json.secret!,
      digestResponse,
    ]) {
      assert.ok(!text.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 6)}…`);
    }
  } finally {
    await t.close();
  }
});

test('a restart loses nothing: users, devices and policy persist; old nonces get stale=true', async () => {
  const first = await startTestServer();
  first.addUser('alice');
  const c1 = await first.client('alice');
  const req = c1.build('REGISTER', `sip:${first.domain}`, { to: `<${c1.aor}>` });
  const challenge = await c1.sendRequest(req);
  assert.equal((await c1.register()).status, 200);
  const dataDir = first.dataDir;
  await first.close();

  const second = await startTestServer({ dataDir });
  try {
    assert.deepEqual(
      second.admin.users.list().map((u) => u.name),
      ['alice'],
    );
    assert.equal(second.admin.devices.list('alice').length, 1);
    const c2 = await second.client('alice');
    // Credentials computed for a nonce of the previous process: correct, so only stale.
    const res = await c2.sendRequest(c2.withCredentials(req, challenge));
    assert.equal(res.status, 401);
    assert.match(res.headers.find((h) => h.name === 'WWW-Authenticate')!.value, /stale=true/);
    assert.equal((await c2.register()).status, 200);
  } finally {
    await second.close();
  }
});
