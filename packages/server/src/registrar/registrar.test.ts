import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { header, headerValues } from '../sip/message.js';
import { startTestServer, type TestServer } from '../testing/index.js';

let t: TestServer;
before(async () => {
  t = await startTestServer({ server: { throttle: { perUser: 4, perAddress: 1000, windowMs: 60_000 } } });
  for (const u of ['alice', 'bob', 'legacy', 'locked', 'mover'])
    t.addUser(u, undefined, { allowMd5: u === 'legacy' });
});
after(() => t.close());

const algorithms = (res: { headers: { name: string; value: string }[] }) =>
  res.headers.filter((h) => h.name === 'WWW-Authenticate').map((h) => /algorithm=([\w-]+)/.exec(h.value)![1]);

test('REGISTER is challenged with SHA-256 only, unless the user is allowed MD5 (then SHA-256 first)', async () => {
  const alice = await t.client('alice');
  const plain = await alice.request('REGISTER', `sip:${t.domain}`, {
    to: `<${alice.aor}>`,
    authenticate: false,
  });
  assert.equal(plain.status, 401);
  assert.deepEqual(algorithms(plain), ['SHA-256']);
  assert.match(header(plain, 'WWW-Authenticate')!, /qop="auth"/);
  const legacy = await t.client('legacy');
  const res2 = await legacy.request('REGISTER', `sip:${t.domain}`, {
    to: `<${legacy.aor}>`,
    authenticate: false,
  });
  assert.deepEqual(algorithms(res2), ['SHA-256', 'MD5']);
});

test('the right password registers the device, bound to its instance, with expiry', async () => {
  const bob = await t.client('bob');
  const res = await bob.register({ expires: 300 });
  assert.equal(res.status, 200);
  const contacts = headerValues(res, 'Contact');
  assert.equal(contacts.length, 1);
  assert.match(contacts[0]!, new RegExp(`expires=(300|299)`));
  assert.ok(contacts[0]!.includes(bob.instance), 'the +sip.instance is echoed');
  const bindings = t.server.context.location.bindings('bob');
  assert.equal(bindings.length, 1);
  assert.equal(bindings[0]!.instance, bob.instance);
  assert.equal(bindings[0]!.observed.address, '127.0.0.1');
  const devices = t.admin.devices.list('bob');
  assert.equal(devices.length, 1, 'a device row is recorded for the instance');
  assert.equal(devices[0]!.instance, bob.instance.slice(1, -1), 'stored without its angle brackets');
});

test('MD5 works for a legacy user the admin enabled it for', async () => {
  const legacy = await t.client('legacy');
  const req = legacy.build('REGISTER', `sip:${t.domain}`, {
    to: `<${legacy.aor}>`,
    headers: [{ name: 'Expires', value: '300' }],
  });
  const challenge = await legacy.sendRequest(req);
  const res = await legacy.sendRequest(legacy.withCredentials(req, challenge, 'MD5'));
  assert.equal(res.status, 200);
});

test('MD5 is refused for a user without it', async () => {
  const alice = await t.client('alice');
  const req = alice.build('REGISTER', `sip:${t.domain}`, { to: `<${alice.aor}>` });
  const challenge = await alice.sendRequest(req);
  // Forge an MD5 answer to the SHA-256-only challenge.
  const forged = alice.withCredentials(req, challenge, 'MD5');
  const auth = forged.headers.find((h) => h.name === 'Authorization')!;
  auth.value = auth.value.replace('algorithm=SHA-256', 'algorithm=MD5');
  const res = await alice.sendRequest(forged);
  assert.equal(res.status, 401);
});

test('Expires: 0 removes a binding; too short is 423 with Min-Expires; too long is capped', async () => {
  const alice = await t.client('alice');
  assert.equal((await alice.register({ expires: 7200 })).status, 200);
  const b = t.server.context.location.bindings('alice').find((x) => x.instance === alice.instance)!;
  assert.ok(b.expiresAt - Date.now() <= 3600_000 && b.expiresAt - Date.now() > 3590_000);
  const short = await alice.register({ expires: 30 });
  assert.equal(short.status, 423);
  assert.equal(header(short, 'Min-Expires'), '60');
  assert.equal((await alice.register({ expires: 0 })).status, 200);
  assert.equal(
    t.server.context.location.bindings('alice').filter((x) => x.instance === alice.instance).length,
    0,
  );
});

test('several devices per user; a closed connection takes its binding offline at once', async () => {
  const one = await t.client('alice');
  const two = await t.client('alice');
  await one.register();
  const res = await two.register();
  assert.equal(headerValues(res, 'Contact').length, 2, 'the 200 lists every binding of the AOR');
  const gone = new Promise<void>((resolve) =>
    t.server.context.location.onChange((u) => {
      if (u === 'alice' && t.server.context.location.bindings('alice').length === 1) resolve();
    }),
  );
  one.close();
  await gone;
  assert.deepEqual(
    t.server.context.location.bindings('alice').map((x) => x.instance),
    [two.instance],
  );
  await two.register({ expires: 0 });
});

test('re-registering the same device from a new connection moves the binding there', async () => {
  const first = await t.client('mover');
  await first.register();
  const second = await t.client('mover');
  // Same device (instance) after an address change: a new connection.
  Object.defineProperty(second, 'instance', { value: first.instance });
  assert.equal((await second.register()).status, 200);
  const bindings = t.server.context.location.bindings('mover');
  assert.equal(bindings.length, 1);
  assert.equal(bindings[0]!.conn.remote.port, second.socket.localPort);
  first.close();
  await first.closed;
  assert.equal(
    t.server.context.location.bindings('mover').length,
    1,
    'closing the old flow does not remove the moved binding',
  );
});

test('valid credentials for someone else are refused, and a connection speaks for one user', async () => {
  const c = await t.client('alice', { user: 'alice', username: 'bob', password: 'pw-bob-correct horse' });
  const res = await c.register();
  assert.equal(res.status, 403);
  const alice = await t.client('alice');
  assert.equal((await alice.register()).status, 200);
  // Same connection, now claiming bob with bob's password.
  Object.assign(alice.opts, { user: 'bob', username: 'bob', password: 'pw-bob-correct horse' });
  const res2 = await alice.request('REGISTER', `sip:${t.domain}`, {
    to: `<sip:bob@${t.domain}>`,
    from: `<sip:bob@${t.domain}>;tag=x1`,
  });
  assert.equal(res2.status, 403);
  assert.equal(res2.reason, 'Connection Belongs To Another User');
});

test('wrong passwords are throttled per user: then even the right one is refused, with Retry-After', async () => {
  const bad = await t.client('locked', { password: 'wrong' });
  for (let i = 0; i < 4; i++) assert.equal((await bad.register()).status, 401);
  const res = await bad.register();
  assert.equal(res.status, 403);
  assert.equal(res.reason, 'Too Many Failed Attempts');
  assert.ok(Number(header(res, 'Retry-After')) > 0);
  const good = await t.client('locked');
  assert.equal((await good.register()).status, 403, 'blocked until the window moves on');
  assert.equal((await (await t.client('bob')).register()).status, 200, 'other users are unaffected');
});

test('a REGISTER for another domain or a malformed Expires is refused', async () => {
  const alice = await t.client('alice');
  const other = await alice.request('REGISTER', 'sip:elsewhere.example', { to: `<${alice.aor}>` });
  assert.equal(other.status, 404);
  const bad = await alice.request('REGISTER', `sip:${t.domain}`, {
    to: `<${alice.aor}>`,
    headers: [{ name: 'Expires', value: 'soon' }],
  });
  assert.equal(bad.status, 400);
});

test('a flood of wrong passwords from one address is throttled across user names', async () => {
  const s = await startTestServer({
    server: { throttle: { perUser: 1000, perAddress: 5, windowMs: 60_000 } },
  });
  try {
    for (let i = 0; i < 5; i++) s.addUser(`u${i}`);
    for (let i = 0; i < 5; i++) {
      const c = await s.client(`u${i}`, { password: 'guess' });
      assert.equal((await c.register()).status, 401);
      c.close();
    }
    const next = await s.client('u0');
    const res = await next.register();
    assert.equal(res.status, 403, 'the address is blocked, even with the right password');
    assert.ok(Number(header(res, 'Retry-After')) > 0);
  } finally {
    await s.close();
  }
});
