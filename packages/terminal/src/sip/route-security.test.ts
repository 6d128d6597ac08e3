import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChannelSdp } from '@tsunagu/protocol';
import { header, headerValues, type SipRequest } from '@tsunagu/server/sip';
import { startTestServer, type SipTestClient, type TestServer } from '@tsunagu/server/testing';
import { CallError, type CallEnded, type IncomingCall } from './calls.js';
import type { RegistrationInfo } from './registration.js';
import { calleePath, offerAddresses, refusedPath, viaReceived } from './route-security.js';
import type { InsecureCall, Signalling } from './signalling.js';
import { dummyNegotiator, signallingFor, waitFor } from './testing.js';
import { warningHeader, warningText } from './warning.js';

/**
 * The terminal's side of the seed's Route-Security header (docs/protocol.md "Route-Security"): the
 * caller names itself, the callee checks the path and copies it into every answer, each end refuses a
 * path with a hop that was not secure.
 */

describe('helpers', () => {
  test('viaReceived: the address the registrar observed, canonical', () => {
    assert.equal(
      viaReceived('SIP/2.0/TLS abc.invalid;branch=z9hG4bK1;received=127.0.0.1;rport=5061'),
      '127.0.0.1',
    );
    assert.equal(
      viaReceived('SIP/2.0/TLS abc.invalid;received=2001:DB8:0::10;branch=z9hG4bK1'),
      '2001:db8::10',
    );
    assert.equal(viaReceived('SIP/2.0/TLS abc.invalid;received=[2001:db8::10]'), '2001:db8::10');
    assert.equal(viaReceived('SIP/2.0/TLS abc.invalid;received=::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(
      viaReceived('SIP/2.0/TLS a.invalid;received=192.0.2.1, SIP/2.0/TLS b.invalid;received=192.0.2.2'),
      '192.0.2.1',
      'the top Via only',
    );
    assert.equal(viaReceived('SIP/2.0/TLS abc.invalid;branch=z9hG4bK1'), undefined);
    assert.equal(viaReceived('SIP/2.0/TLS abc.invalid;received=somehost'), undefined);
    assert.equal(viaReceived('not a via'), undefined);
    assert.equal(viaReceived(undefined), undefined);
  });

  test('offerAddresses and calleePath: the path must begin at an address the offer names', async () => {
    const offer = parseChannelSdp(await dummyNegotiator('alice').createOffer(), 'offer');
    assert.deepEqual(offerAddresses(offer), ['127.0.0.1', '127.0.0.1']);
    const withSrflx = {
      address: '2001:db8::10',
      candidates: [
        { ...offer.candidates[0]!, address: '2001:db8::10' },
        { ...offer.candidates[0]!, address: '203.0.113.7' },
      ],
    };
    assert.deepEqual(offerAddresses(withSrflx), ['2001:db8::10', '2001:db8::10', '203.0.113.7']);
    assert.deepEqual(calleePath(['[203.0.113.7]', '[198.51.100.1]'], '198.51.100.1', withSrflx), {
      hops: ['203.0.113.7', '198.51.100.1'],
      secure: true,
    });
    const noServer = calleePath(['[203.0.113.7]', '[198.51.100.1]'], undefined, withSrflx);
    assert.equal(noServer.secure, false, 'no connection: nothing can be vouched for');
    assert.match(noServer.reason!, /does not end at this device's server/);
    assert.equal(calleePath(['[192.0.2.9]', '[198.51.100.1]'], '198.51.100.1', withSrflx).secure, false);
  });

  test('refusedPath: the hops a 606 carried, with the callee’s reason', () => {
    assert.deepEqual(refusedPath(['[127.0.0.1]'], 'because'), {
      hops: ['127.0.0.1'],
      secure: false,
      reason: 'because',
    });
    const general = refusedPath(['garbage'], undefined);
    assert.deepEqual(general.hops, []);
    assert.match(general.reason!, /callee found a hop of the path that was not secure/);
  });

  test('Warning: 399 with a quoted text, both ways', () => {
    const h = warningHeader('the path "A" \\ B');
    assert.equal(h, 'Warning: 399 tsunagu "the path \\"A\\" \\\\ B"');
    assert.equal(warningText(h.slice('Warning: '.length)), 'the path "A" \\ B');
    assert.equal(warningText('399 example.org "first", 399 other "second"'), 'first');
    assert.equal(warningText('399 example.org unquoted'), undefined);
    assert.equal(warningText(undefined), undefined);
    assert.equal(warningHeader('x'.repeat(1000)).length < 400, true, 'bounded');
  });
});

describe('over the real server', () => {
  let t: TestServer;
  let alice: Signalling;
  let bob: Signalling;
  let aliceInfo: RegistrationInfo;
  const clients: SipTestClient[] = [];
  const LOOP = '[127.0.0.1]';

  before(async () => {
    t = await startTestServer();
    for (const u of ['alice', 'bob', 'erin', 'frank', 'gina']) t.addUser(u);
    alice = signallingFor(t, 'alice');
    const registered = waitFor<[RegistrationInfo]>(alice, 'registered');
    await alice.start();
    [aliceInfo] = await registered;
    bob = signallingFor(t, 'bob');
    await bob.start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([alice.stop(), bob.stop()]);
    await t.close();
  });

  async function client(user: string, register = false): Promise<SipTestClient> {
    const c = await t.client(user);
    clients.push(c);
    if (register) assert.equal((await c.register()).status, 200);
    return c;
  }

  /** An INVITE from a (registered) SIP test client to bob, with the Route-Security values it chooses. */
  async function inviteBob(from: SipTestClient, values: string[], body?: string) {
    const req = from.build('INVITE', `sip:bob@${t.domain}`, {
      headers: values.map((value) => ({ name: 'Route-Security', value })),
      body: body ?? (await dummyNegotiator(from.opts.user).createOffer()),
      contentType: 'application/sdp',
    });
    return { req, res: await from.sendRequest(req) };
  }

  test('the registrar tells the terminal the address it observed (Via received)', () => {
    assert.equal(aliceInfo.received, '127.0.0.1');
  });

  test('a call carries its path: caller and callee both see [caller, server], secure', async () => {
    const incoming = waitFor<[IncomingCall]>(bob, 'incoming');
    const call = alice.invite('bob', dummyNegotiator('alice'));
    const [inc] = await incoming;
    assert.deepEqual(inc.path, { hops: ['127.0.0.1', '127.0.0.1'], secure: true });
    await inc.accept(dummyNegotiator('bob'));
    const accepted = await call.answered;
    assert.deepEqual(accepted.path, { hops: ['127.0.0.1', '127.0.0.1'], secure: true });
    await call.hangUp();
  });

  test('the callee copies the path into its answer: the 200 and a decline', async () => {
    const erin = await client('erin', true);
    for (const decision of ['accept', 'decline'] as const) {
      bob.once('incoming', (inc) => {
        if (decision === 'accept') void inc.accept(dummyNegotiator('bob'));
        else inc.decline();
      });
      const { req, res } = await inviteBob(erin, [LOOP]);
      assert.equal(res.status, decision === 'accept' ? 200 : 603, decision);
      assert.deepEqual(headerValues(res, 'Route-Security'), [LOOP, LOOP], decision);
      if (res.status === 200) {
        const dialog = erin.dialogFrom(req, res);
        erin.send(erin.inDialog(dialog, 'ACK'));
        assert.equal((await erin.sendRequest(erin.inDialog(dialog, 'BYE'))).status, 200);
      }
    }
  });

  test('a call nobody answers in time: 480, with the path copied back', async () => {
    const gina = signallingFor(t, 'gina', { ringTimeout: 1 });
    await gina.start();
    try {
      const erin = await client('erin', true);
      const incoming = waitFor<[IncomingCall]>(gina, 'incoming');
      const req = erin.build('INVITE', `sip:gina@${t.domain}`, {
        headers: [{ name: 'Route-Security', value: LOOP }],
        body: await dummyNegotiator('erin').createOffer(),
        contentType: 'application/sdp',
      });
      const started = Date.now();
      const answered = erin.sendRequest(req);
      const [inc] = await incoming;
      const ended = waitFor<[CallEnded]>(inc, 'ended', () => true, 5_000);
      const res = await answered;
      assert.equal(res.status, 480);
      assert.deepEqual(headerValues(res, 'Route-Security'), [LOOP, LOOP]);
      assert.ok(Date.now() - started >= 900, 'not before the ring timeout');
      assert.deepEqual((await ended)[0], { by: 'local', reason: 'timeout' });
    } finally {
      await gina.stop();
    }
  });

  test('an INVITE whose path is not secure: refused at once with 606 Route Not Secure, the path copied back', async () => {
    const erin = await client('erin', true);
    let rang = false;
    const onIncoming = () => (rang = true);
    bob.on('incoming', onIncoming);
    try {
      // erin names an address that is not hers: her server cannot vouch for it, drops it and sends on
      // only its own value; bob's path then does not begin at the caller.
      const insecure = waitFor<[InsecureCall]>(bob, 'insecure');
      const { res } = await inviteBob(erin, ['[192.0.2.1]']);
      assert.equal(res.status, 606);
      assert.equal(res.reason, 'Route Not Secure');
      assert.deepEqual(headerValues(res, 'Route-Security'), [LOOP], 'what bob received, copied back');
      assert.match(header(res, 'Warning') ?? '', /^399 tsunagu "the path does not begin at the caller/);
      const [call] = await insecure;
      assert.equal(call.caller.aor, `sip:erin@${t.domain}`);
      assert.deepEqual(call.path.hops, ['127.0.0.1']);
      assert.equal(call.path.secure, false);
      assert.match(call.path.reason!, /does not begin at the caller: a hop was not secure/);

      // No Route-Security at all (a client that knows nothing of it): the same refusal.
      const { res: none } = await inviteBob(erin, []);
      assert.equal(none.status, 606);
      assert.equal(none.reason, 'Route Not Secure');
      assert.deepEqual(headerValues(none, 'Route-Security'), []);
      assert.match(warningText(header(none, 'Warning')) ?? '', /carried no Route-Security path/);
      assert.equal(rang, false, 'nobody was asked to decide');
    } finally {
      bob.off('incoming', onIncoming);
    }
  });

  test('an offer the callee cannot read is refused at once (488), before any path is judged', async () => {
    const erin = await client('erin', true);
    const { res } = await inviteBob(erin, [LOOP], 'v=0\r\ns=not a channel offer\r\n');
    assert.equal(res.status, 488);
    assert.match(warningText(header(res, 'Warning')) ?? '', /^not a channel offer/);
    assert.deepEqual(headerValues(res, 'Route-Security'), [LOOP, LOOP]);
  });

  /** alice calls `user`, a SIP test client (its only device) that answers the INVITE as the test says. */
  async function aliceCalls(user: string, answer: (callee: SipTestClient, invite: SipRequest) => void) {
    const callee = await client(user, true);
    const call = alice.invite(user, dummyNegotiator('alice'));
    const invite = await callee.nextRequest('INVITE');
    assert.deepEqual(
      headerValues(invite, 'Route-Security'),
      [LOOP, LOOP],
      'alice named herself; the server too',
    );
    answer(callee, invite);
    const err = (await call.answered.catch((e: unknown) => e)) as CallError;
    assert.ok(err instanceof CallError, String(err));
    return { callee, err };
  }

  test('the caller hangs up an answer whose path does not begin with it (path-not-secure)', async () => {
    const answer = await dummyNegotiator('frank').acceptOffer('');
    const { callee: frank, err } = await aliceCalls('frank', (frank, invite) =>
      frank.respond(invite, 200, {
        headers: [{ name: 'Route-Security', value: '[192.0.2.1], [127.0.0.1]' }],
        body: answer,
        contentType: 'application/sdp',
      }),
    );
    assert.equal(err.code, 'path-not-secure');
    assert.match(
      err.message,
      /not secure end to end: the path does not begin at this device \(127\.0\.0\.1\)/,
    );
    assert.deepEqual(err.path?.hops, ['192.0.2.1', '127.0.0.1']);
    assert.equal(err.path?.secure, false);
    const bye = await frank.nextRequest('BYE');
    frank.respond(bye, 200);
  });

  test('a 606 Route Not Secure from the callee: path-not-secure with the callee’s path and reason', async () => {
    const { err } = await aliceCalls('gina', (gina, invite) =>
      gina.respond(invite, 606, {
        reason: 'Route Not Secure',
        headers: [
          ...headerValues(invite, 'Route-Security').map((value) => ({ name: 'Route-Security', value })),
          { name: 'Warning', value: '399 tsunagu "the path does not end at this device\'s server (::1)"' },
        ],
      }),
    );
    assert.equal(err.code, 'path-not-secure');
    assert.equal(err.status, 606);
    assert.deepEqual(err.path, {
      hops: ['127.0.0.1', '127.0.0.1'],
      secure: false,
      reason: "the path does not end at this device's server (::1)",
    });
    assert.match(err.message, /refused the call: the path is not secure end to end \(the path does not end/);
  });
});
