import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type os from 'node:os';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { CallError, type CallEnded, type IncomingCall } from './calls.js';
import type { Contact } from './contacts.js';
import type { RegistrationInfo } from './registration.js';
import { backoffDelay, Signalling, SignallingError, type SignallingStatus } from './signalling.js';
import { ServerCertificateError } from './pinned-tls.js';
import { dummyNegotiator, signallingFor, waitFor } from './testing.js';

/** Registered terminals are stopped after each test that made them. */
const running = new Set<Signalling>();
async function started(t: TestServer, user: string, o: Parameters<typeof signallingFor>[2] = {}) {
  const s = signallingFor(t, user, o);
  running.add(s);
  await s.start();
  return s;
}
async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
  running.clear();
}

const bindingsOf = (t: TestServer, user: string) => t.server.context.location.bindings(user);

describe('registration', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
    for (const u of ['alice', 'bob']) t.addUser(u);
  });
  after(async () => {
    await stopAll();
    await t.close();
  });

  test('registers with SHA-256 digest (the server offers nothing else), +sip.instance and reg-id', async () => {
    const s = signallingFor(t, 'alice');
    running.add(s);
    const registered = waitFor<[RegistrationInfo]>(s, 'registered');
    await s.start();
    const [info] = await registered;
    assert.deepEqual(s.status, { state: 'registered', expires: 600 });
    assert.equal(info.flowTimer, 120, 'the registrar answered Supported: outbound with Flow-Timer');
    const [binding] = bindingsOf(t, 'alice');
    assert.ok(binding, 'bound at the registrar');
    assert.match(binding.instance!, /^<urn:uuid:[0-9a-f-]{36}>$/);
    assert.ok(binding.deviceId, 'the instance became a device');
    // The server's own record of the authentication: SHA-256 is the only algorithm it offered alice.
    assert.ok(!t.logs.some((l) => l.msg === 'authentication failed'));
  });

  test('wrong credentials: start() rejects and the state is failed, without retrying', async () => {
    const s = signallingFor(t, 'bob', { password: 'not the password' });
    const states: SignallingStatus[] = [];
    s.on('state', (st) => states.push(st));
    const err = (await s.start().catch((e: unknown) => e)) as SignallingError;
    assert.ok(err instanceof SignallingError);
    assert.equal(err.code, 'auth-failed');
    assert.equal(err.status, 401);
    assert.equal(s.status.state, 'failed');
    assert.ok(!states.some((x) => x.state === 'reconnecting'));
    await s.stop();
  });

  test('a server whose certificate does not chain to the pinned CA: failed at once, no retries', async () => {
    const other = await startTestServer();
    try {
      // Our pinned CA, the other deployment's address.
      const s = signallingFor(t, 'alice', { server: { host: other.sip.host, port: other.sip.port } });
      const states: string[] = [];
      s.on('state', (st) => states.push(st.state));
      const err = (await s.start().catch((e: unknown) => e)) as ServerCertificateError;
      assert.ok(err instanceof ServerCertificateError);
      assert.match(err.message, /does not chain to the pinned CA .*possible interception/);
      assert.deepEqual(states, ['connecting', 'failed']);
      await s.stop();
    } finally {
      await other.close();
    }
  });

  test('refreshes the registration before it expires', async () => {
    const failuresBefore = t.logs.filter((l) => l.msg === 'authentication failed').length;
    const s = signallingFor(t, 'bob', { expires: 60, refreshFraction: 0.02 });
    running.add(s);
    let count = 0;
    s.on('registered', () => count++);
    await s.start();
    const [info] = await waitFor<[RegistrationInfo]>(s, 'registered', () => true, 4_000);
    assert.equal(info.expires, 60);
    assert.ok(count >= 2);
    assert.equal(bindingsOf(t, 'bob').length, 1, 'a refresh, not a second binding');
    assert.equal(
      t.logs.filter((l) => l.msg === 'authentication failed').length,
      failuresBefore,
      'each REGISTER answers a fresh challenge: no replayed nonce-count',
    );
    await s.stop();
    running.delete(s);
    assert.equal(bindingsOf(t, 'bob').length, 0, 'stop() unregisters');
  });

  test('a connection killed by the server: reconnects with backoff and registers again by itself', async () => {
    const s = await started(t, 'bob');
    const firstConn = bindingsOf(t, 'bob')[0]!.conn;
    const reconnecting = waitFor<[SignallingStatus]>(s, 'state', (st) => st.state === 'reconnecting');
    firstConn.close('test: kill the flow');
    const [st] = await reconnecting;
    assert.ok(st.state === 'reconnecting');
    assert.match(st.reason.message, /lost/);
    assert.equal(st.attempt, 1);
    assert.ok(
      st.delayMs >= 50 && st.delayMs <= 100,
      `first delay within [initial/2, initial]: ${st.delayMs}`,
    );
    await waitFor(s, 'registered');
    assert.equal(s.status.state, 'registered');
    const [binding] = bindingsOf(t, 'bob');
    assert.ok(binding && binding.conn !== firstConn, 'the binding moved to the new flow');
  });

  test('a change of the machine addresses re-registers at once; a vanished local address reconnects', async () => {
    let ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = {
      lo: [iface('127.0.0.1', true)],
      eth0: [iface('192.0.2.10', false)],
    };
    const instanceId = randomUUID();
    const s = await started(t, 'alice', {
      instanceId,
      networkWatch: { intervalMs: 50, interfaces: () => ifaces },
    });
    const mine = () => bindingsOf(t, 'alice').find((b) => b.instance === `<urn:uuid:${instanceId}>`)!;
    const conn = mine().conn;
    const again = waitFor(s, 'registered', () => true, 2_000);
    ifaces = { ...ifaces, wlan0: [iface('198.51.100.7', false)] };
    await again;
    assert.equal(mine().conn, conn, 'same flow, registered again');

    // The flow's own address (127.0.0.1) disappears: that connection cannot work any more.
    const reconnected = waitFor(s, 'registered', () => true, 2_000);
    ifaces = { eth0: [iface('192.0.2.99', false)] };
    await reconnected;
    assert.notEqual(mine().conn, conn, 'a new flow');
  });

  test('backoff doubles up to its cap, with jitter in [d/2, d]', () => {
    assert.equal(
      backoffDelay(1, 1_000, 60_000, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(1, 1_000, 60_000, () => 1),
      1_000,
    );
    assert.equal(
      backoffDelay(4, 1_000, 60_000, () => 1),
      8_000,
    );
    assert.equal(
      backoffDelay(20, 1_000, 60_000, () => 1),
      60_000,
    );
    assert.equal(
      backoffDelay(20, 1_000, 60_000, () => 0),
      30_000,
    );
  });
});

function iface(address: string, internal: boolean): os.NetworkInterfaceInfo {
  return {
    address,
    netmask: '255.255.255.0',
    family: 'IPv4',
    mac: '00:00:00:00:00:00',
    internal,
    cidr: null,
  };
}

test('server restart: the terminal reconnects with backoff and re-registers by itself', async () => {
  const first = await startTestServer();
  first.addUser('alice');
  const { dataDir } = first;
  const ports = { sip: first.sip.port, wss: first.https.port };
  const s = signallingFor(first, 'alice', { reconnect: { initialDelayMs: 100, maxDelayMs: 400 } });
  let second: TestServer | undefined;
  try {
    await s.start();
    const attempts: number[] = [];
    s.on('state', (st) => {
      if (st.state === 'reconnecting') attempts.push(st.delayMs);
    });
    await first.close();
    // Down for a while: several attempts fail.
    await waitFor<[SignallingStatus]>(s, 'state', (st) => st.state === 'reconnecting' && st.attempt >= 2);
    assert.ok(attempts.length >= 2, `attempts while down: ${attempts.length}`);
    assert.equal(s.status.state, 'reconnecting');
    const registered = waitFor(s, 'registered', () => true, 5_000);
    second = await startTestServer({
      dataDir,
      server: { sip: { host: '127.0.0.1', port: ports.sip }, wss: { host: '127.0.0.1', port: ports.wss } },
    });
    await registered;
    assert.equal(s.status.state, 'registered');
    assert.equal(second.server.context.location.bindings('alice').length, 1);
  } finally {
    await s.stop();
    await second?.close();
  }
});

describe('contacts and calls', () => {
  let t: TestServer;
  let alice: Signalling;
  let bob: Signalling;
  before(async () => {
    t = await startTestServer();
    for (const u of ['alice', 'bob', 'carol', 'dave']) t.addUser(u);
    // carol is hidden from alice; everyone else may reach everyone.
    t.admin.rules.add({ action: 'deny', src: 'alice', dst: 'carol' });
    await t.until(
      () => !t.server.context.policy().canReach(`alice@${t.domain}`, `carol@${t.domain}`),
      'the deny rule to apply',
    );
    alice = await started(t, 'alice');
    bob = await started(t, 'bob');
  });
  after(async () => {
    await stopAll();
    await t.close();
  });

  const names = (list: readonly Contact[]) => list.map((c) => `${c.user}:${c.online ? 'on' : 'off'}`);

  test('the contact list holds only reachable users, with presence updated live', async () => {
    await waitFor<[readonly Contact[]]>(alice, 'contacts', (l) => names(l).join() === 'bob:on,dave:off');
    assert.deepEqual(names(alice.contacts), ['bob:on', 'dave:off'], 'carol is hidden, alice is not listed');
    const bobEntry = alice.contacts.find((c) => c.user === 'bob')!;
    assert.equal(bobEntry.aor, `sip:bob@${t.domain}`);
    assert.equal(bobEntry.devices.length, 1);
    assert.equal(bobEntry.devices[0]!.online, true);

    const daveOnline = waitFor<[readonly Contact[]]>(alice, 'contacts', (l) => names(l).includes('dave:on'));
    const dave = await started(t, 'dave');
    await daveOnline;
    const daveOffline = waitFor<[readonly Contact[]]>(alice, 'contacts', (l) =>
      names(l).includes('dave:off'),
    );
    await dave.stop();
    await daveOffline;

    // A policy change reaches the list without reconnecting.
    const carolVisible = waitFor<[readonly Contact[]]>(alice, 'contacts', (l) =>
      names(l).includes('carol:off'),
    );
    const rule = t.admin.rules.list().findIndex((r) => r.action === 'deny');
    t.admin.rules.removeAt(rule + 1);
    await carolVisible;
    t.admin.rules.add({ action: 'deny', src: 'alice', dst: 'carol' });
    await waitFor<[readonly Contact[]]>(
      alice,
      'contacts',
      (l) => !names(l).some((n) => n.startsWith('carol')),
    );
  });

  test('a call: ringing, accept, answer and asserted identities delivered, BYE ends it on both sides', async () => {
    const incoming = waitFor<[IncomingCall]>(bob, 'incoming');
    const callerSide = dummyNegotiator('alice');
    const call = alice.invite('bob', callerSide);
    const ringing = waitFor(call, 'ringing');
    const [inc] = await incoming;
    assert.equal(inc.caller.aor, `sip:alice@${t.domain}`, 'the caller as the server asserted it');
    assert.match(inc.offer, /^v=0\r\no=alice /);
    await ringing; // sip.js sends 180 Ringing before handing over the call
    const calleeSide = dummyNegotiator('bob');
    await inc.accept(calleeSide);
    const accepted = await call.answered;
    assert.equal(accepted.callee.aor, `sip:bob@${t.domain}`, 'the callee as the server asserted it');
    assert.match(accepted.answer, /^v=0\r\no=bob /);
    assert.deepEqual(callerSide.answers, [accepted.answer], 'the answer went to the negotiator');
    assert.deepEqual(calleeSide.offers, [inc.offer]);
    assert.equal(call.state, 'established');

    const endedCaller = waitFor<[CallEnded]>(call, 'ended');
    const endedCallee = waitFor<[CallEnded]>(inc, 'ended');
    await inc.hangUp();
    assert.deepEqual((await endedCaller)[0], { by: 'remote', reason: 'hangup' });
    assert.deepEqual((await endedCallee)[0], { by: 'local', reason: 'hangup' });
  });

  test('the caller hangs up: both sides see why', async () => {
    bob.once('incoming', (inc) => void inc.accept(dummyNegotiator('bob')));
    const incoming = waitFor<[IncomingCall]>(bob, 'incoming');
    const call = alice.invite('bob', dummyNegotiator('alice'));
    await call.answered;
    const [inc] = await incoming;
    const calleeEnded = waitFor<[CallEnded]>(inc, 'ended');
    const callerEnded = waitFor<[CallEnded]>(call, 'ended');
    await call.hangUp();
    assert.deepEqual((await callerEnded)[0], { by: 'local', reason: 'hangup' });
    assert.deepEqual((await calleeEnded)[0], { by: 'remote', reason: 'hangup' });
  });

  for (const status of [603, 486] as const) {
    test(`a decline (${status}) reaches the caller`, async () => {
      bob.once('incoming', (inc) => inc.decline(status));
      const call = alice.invite('bob', dummyNegotiator('alice'));
      const [declined] = await waitFor<[{ status: number }]>(call, 'declined');
      assert.equal(declined.status, status);
      const err = (await call.answered.catch((e: unknown) => e)) as CallError;
      assert.equal(err.code, 'declined');
      assert.equal(call.state, 'ended');
    });
  }

  test('the caller cancels while it rings: the callee sees the call end', async () => {
    const incoming = waitFor<[IncomingCall]>(bob, 'incoming');
    const call = alice.invite('bob', dummyNegotiator('alice'));
    await waitFor(call, 'ringing');
    const [inc] = await incoming;
    const calleeEnded = waitFor<[CallEnded]>(inc, 'ended');
    const callerEnded = waitFor<[CallEnded]>(call, 'ended');
    call.cancel();
    assert.deepEqual((await callerEnded)[0], { by: 'local', reason: 'canceled' });
    assert.deepEqual((await calleeEnded)[0], { by: 'remote', reason: 'canceled' });
    assert.equal(((await call.answered.catch((e: unknown) => e)) as CallError).code, 'canceled');
  });

  test('a hidden contact and a non-existent name fail exactly the same way', async () => {
    const fail = async (target: string) => {
      const call = alice.invite(target, dummyNegotiator('alice'));
      const [err] = await waitFor<[CallError]>(call, 'failed');
      return { code: err.code, status: err.status, message: err.message.replace(target, 'X') };
    };
    const hidden = await fail('carol');
    const unknown = await fail('nobody');
    assert.deepEqual(hidden, unknown);
    assert.equal(hidden.code, 'not-found');
    assert.equal(hidden.status, 404);
  });

  test('a reachable user with no device online: unavailable', async () => {
    const call = alice.invite('dave', dummyNegotiator('alice'));
    const [err] = await waitFor<[CallError]>(call, 'failed');
    assert.equal(err.code, 'unavailable');
    assert.equal(err.status, 480);
  });

  test('a negotiator that refuses the offer: 488 for the caller', async () => {
    bob.once('incoming', (inc) => {
      void inc
        .accept({ acceptOffer: () => Promise.reject(new Error('no usable candidate')) })
        .catch(() => {});
    });
    const call = alice.invite('bob', dummyNegotiator('alice'));
    const [err] = await waitFor<[CallError]>(call, 'failed');
    assert.equal(err.status, 488);
  });

  test('calls need a registered terminal', async () => {
    const idle = signallingFor(t, 'carol');
    const call = idle.invite('bob', dummyNegotiator('carol'));
    const [err] = await waitFor<[CallError]>(call, 'failed');
    assert.equal(err.code, 'not-connected');
    assert.throws(() => idle.invite('not a name!', dummyNegotiator('carol')), TypeError);
  });
});
