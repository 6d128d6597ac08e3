import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { startTestServer, type TestServer } from '@tsunagu/server/testing';
import { addRule } from '@tsunagu/server';
import { testDevices, type TestDevice } from '../channel/testing.js';
import { signallingFor, waitFor } from '../sip/testing.js';
import { CallError, type CallAccepted, type IncomingCall, type Signalling } from '../sip/index.js';
import { SecureChannel } from './secure-channel.js';

/** The whole of the seed's first embodiment: INVITE with key material, policy, direct verified TLS. */

let t: TestServer;
let devices: TestDevice[];
let cleanup: () => Promise<void>;
const running: Signalling[] = [];
const loopback = { addresses: ['127.0.0.1'], localAddresses: ['127.0.0.1'], timeoutMs: 5000 };

before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  for (const u of ['alice', 'bob', 'carol']) t.addUser(u);
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'bob');
  addRule(t.admin, { domain: t.domain }, 'allow', 'bob', 'alice');
  ({ devices, cleanup } = await testDevices('alice', 'bob', 'carol'));
});
after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await t.close();
  await cleanup();
});

async function online(user: string): Promise<Signalling> {
  const s = signallingFor(t, user);
  running.push(s);
  await s.start();
  return s;
}

const until = (sc: SecureChannel, phase: string) =>
  sc.phase === phase
    ? Promise.resolve()
    : waitFor(sc, 'phase', (p: string) => p === phase).then(() => undefined);

test('alice opens a secure channel to bob: both verified, same code, identities asserted by the server', async () => {
  const [alice, bob] = await Promise.all([online('alice'), online('bob')]);
  const incoming = waitFor<[IncomingCall]>(bob, 'incoming');
  const out = SecureChannel.open(alice, 'bob', { ...loopback, credentials: devices[0]!.credentials });
  const [call] = await incoming;
  assert.equal(call.caller.aor, `sip:alice@${t.domain}`);
  const inc = SecureChannel.accept(call, { ...loopback, credentials: devices[1]!.credentials });
  await Promise.all([until(out, 'secure'), until(inc, 'secure')]);
  assert.equal(out.peer?.aor, `sip:bob@${t.domain}`);
  assert.equal(out.channel!.peerFingerprint, devices[1]!.fingerprint);
  assert.equal(inc.channel!.peerFingerprint, devices[0]!.fingerprint);
  assert.equal(out.verificationCode, inc.verificationCode);
  assert.match(out.verificationCode!, /^\d{3} \d{3}$/);
  // Route-Security: alice's address, then the server's, vouched for on every hop; the same on both ends.
  const path = { hops: ['127.0.0.1', '127.0.0.1'], secure: true };
  assert.deepEqual(out.path, path);
  assert.deepEqual(inc.path, path);

  // Data flows directly between the two terminals.
  const got = new Promise<string>((r) => inc.channel!.stream.once('data', (d: Buffer) => r(d.toString())));
  out.channel!.stream.write('hello bob');
  assert.equal(await got, 'hello bob');

  out.close('done');
  await until(inc, 'ended');
  assert.equal(out.phase, 'ended');
});

test('a declined request says declined', async () => {
  const [alice, bob] = await Promise.all([online('alice'), online('bob')]);
  const incoming = waitFor<[IncomingCall]>(bob, 'incoming');
  const out = SecureChannel.open(alice, 'bob', { ...loopback, credentials: devices[0]!.credentials });
  const [call] = await incoming;
  call.decline();
  await until(out, 'declined');
});

test('a hidden contact and a non-existent name fail the same way', async () => {
  const alice = await online('alice');
  await online('carol');
  const hidden = SecureChannel.open(alice, 'carol', { ...loopback, credentials: devices[0]!.credentials });
  const unknown = SecureChannel.open(alice, 'nobody', { ...loopback, credentials: devices[0]!.credentials });
  await Promise.all([until(hidden, 'failed'), until(unknown, 'failed')]);
  assert.equal(hidden.reason?.replace('carol', 'X'), unknown.reason?.replace('nobody', 'X'));
});

test('closed before the answer: it stays ended, whatever the call does next', async () => {
  for (const next of ['cancelled', 'answered'] as const) {
    // A call that settles when told to: cancelled by the hang-up, or answered anyway (a 200 that
    // crossed the CANCEL).
    let settle!: { resolve(a: CallAccepted): void; reject(e: Error): void };
    const answered = new Promise<CallAccepted>((resolve, reject) => (settle = { resolve, reject }));
    const call = Object.assign(new EventEmitter(), {
      answered,
      hangUp: () => {
        if (next === 'cancelled') settle.reject(new CallError('canceled', 'the call was cancelled'));
        else
          settle.resolve({
            answer: '',
            callee: { user: 'bob', domain: t.domain, aor: `sip:bob@${t.domain}` },
            path: { hops: ['127.0.0.1', '127.0.0.1'], secure: true },
          });
      },
    });
    let invited!: () => void;
    const ringing = new Promise<void>((r) => (invited = r));
    const signalling = {
      invite: () => {
        invited();
        return call;
      },
    } as unknown as Signalling;
    const sc = SecureChannel.open(signalling, 'bob', { ...loopback, credentials: devices[0]!.credentials });
    const phases: string[] = [];
    sc.on('phase', (p) => phases.push(p));
    await ringing;
    sc.close('changed my mind');
    // SecureChannel awaited `answered` first, so it has seen the outcome once this continues.
    await answered.catch(() => undefined);
    assert.deepEqual(phases, ['ended'], next);
    assert.equal(sc.reason, 'changed my mind');
    assert.equal(sc.channel, undefined);
  }
});
