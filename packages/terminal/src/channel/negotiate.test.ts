import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addObservedCandidates,
  hostCandidates,
  parseChannelSdp,
  type ChannelCandidate,
  type ChannelDescription,
} from '@tsunagu/protocol';
import {
  ChannelError,
  answerChannelOffer,
  chooseAnswerSetup,
  connectOrder,
  createChannelOffer,
  offererReachability,
  ownReachability,
  peerIsLocal,
  type Channel,
  type ChannelSetupOptions,
  type Reachability,
} from './index.js';
import { testDevices, type TestDevice } from './testing.js';

const LO = '127.0.0.1';
let A: TestDevice;
let B: TestDevice;
let cleanup: () => Promise<void>;

before(async () => {
  const t = await testDevices('alice', 'bob');
  [A, B] = t.devices as [TestDevice, TestDevice];
  cleanup = t.cleanup;
});
after(() => cleanup());

const opts = (d: TestDevice, extra: Partial<ChannelSetupOptions> = {}): ChannelSetupOptions => ({
  credentials: d.credentials,
  addresses: [LO],
  localAddresses: [LO],
  ...extra,
});

/**
 * Offer → (server adds the caller's observed address) → answer → (server adds the callee's) →
 * both ends open the channel. The server's observed addresses are parameters. `::1` stands for "an
 * address the offerer does not list", i.e. a NAT's outside address: tests never use addresses other
 * than 127.0.0.1 and ::1, and nothing listens on ::1 at the offerer's port.
 */
const NAT = '::1';
async function negotiate(
  offerer: ChannelSetupOptions,
  answerer: ChannelSetupOptions,
  observed: { caller?: string; callee?: string } = {},
): Promise<{ o: Channel; a: Channel; offerSdp: ChannelDescription; answerSdp: ChannelDescription }> {
  const offer = await createChannelOffer(offerer);
  const offerSdp = observed.caller ? addObservedCandidates(offer.sdp, observed.caller) : offer.sdp;
  const answer = await answerChannelOffer(offerSdp, answerer);
  const answerSdp = observed.callee ? addObservedCandidates(answer.sdp, observed.callee) : answer.sdp;
  assert.equal(offer.setAnswer(answerSdp), answer.role === 'active' ? 'passive' : 'active');
  const [o, a] = await Promise.all([offer.establish(), answer.establish()]);
  return {
    o,
    a,
    offerSdp: parseChannelSdp(offerSdp, 'offer'),
    answerSdp: parseChannelSdp(answerSdp, 'answer'),
  };
}

function done(...chs: Channel[]): void {
  for (const c of chs) c.destroy();
}

describe('offer/answer to a verified channel', () => {
  test('both can listen: offer actpass, the answerer connects to the listening offerer', async () => {
    const { o, a, offerSdp, answerSdp } = await negotiate(opts(A), opts(B), { caller: LO, callee: LO });
    assert.equal(offerSdp.setup, 'actpass');
    assert.equal(answerSdp.setup, 'active');
    assert.equal(answerSdp.port, 9, 'an active answer says port 9');
    assert.equal(o.role, 'passive');
    assert.equal(a.role, 'active');
    assert.equal(o.sessionId, offerSdp.session);
    assert.equal(answerSdp.session, offerSdp.session);
    assert.equal(o.peerFingerprint, B.fingerprint);
    assert.equal(a.peerFingerprint, A.fingerprint);
    assert.equal(o.verificationCode, a.verificationCode);
    done(o, a);
  });

  test('the offerer is behind NAT and the answerer is reachable: the answerer listens', async () => {
    const { o, a, offerSdp, answerSdp } = await negotiate(opts(A), opts(B, { inbound: 'reachable' }), {
      caller: NAT,
      callee: LO,
    });
    assert.ok(offerSdp.candidates.some((c) => c.type === 'srflx' && c.address === NAT));
    assert.equal(answerSdp.setup, 'passive');
    assert.equal(o.role, 'active');
    assert.equal(a.role, 'passive');
    assert.equal(o.verificationCode, a.verificationCode);
    done(o, a);
  });

  test('only the answerer can accept inbound connections: the offer is active, the answer passive', async () => {
    const { o, a, offerSdp, answerSdp } = await negotiate(opts(A, { inbound: 'never' }), opts(B));
    assert.equal(offerSdp.setup, 'active');
    assert.equal(offerSdp.port, 9);
    assert.ok(offerSdp.candidates.every((c) => c.tcpType === 'active' && c.port === 9));
    assert.equal(answerSdp.setup, 'passive');
    assert.equal(o.role, 'active');
    assert.equal(a.role, 'passive');
    done(o, a);
  });

  test('only the offerer can accept inbound connections: the answerer connects', async () => {
    const { o, a, answerSdp } = await negotiate(opts(A), opts(B, { inbound: 'never' }), { caller: NAT });
    assert.equal(
      answerSdp.setup,
      'active',
      'even though the offerer looks NATed, the answerer will not listen',
    );
    assert.equal(o.role, 'passive');
    assert.equal(a.role, 'active');
    done(o, a);
  });

  test('neither end accepts inbound connections: a clear error', async () => {
    const offer = await createChannelOffer(opts(A, { inbound: 'never' }));
    await assert.rejects(answerChannelOffer(offer.sdp, opts(B, { inbound: 'never' })), (e: unknown) => {
      assert.ok(e instanceof ChannelError);
      assert.equal(e.code, 'role');
      assert.match(e.message, /neither end accepts inbound connections/);
      return true;
    });
    offer.cancel();
  });

  test('an answer for another session, or with a bad setup, is refused', async () => {
    const offer = await createChannelOffer(opts(A));
    const other = await createChannelOffer(opts(B));
    const answer = await answerChannelOffer(other.sdp, opts(A));
    await assert.rejects(
      offer.complete(answer.sdp),
      (e: unknown) => e instanceof ChannelError && e.code === 'session-mismatch',
    );
    answer.cancel();
    other.cancel();
    const offer2 = await createChannelOffer(opts(A, { inbound: 'never' }));
    // Its own SDP as the answer: a=setup:active answering a=setup:active.
    await assert.rejects(
      offer2.complete(offer2.sdp),
      (e: unknown) => e instanceof ChannelError && e.code === 'role',
    );
    await assert.rejects(
      answerChannelOffer('v=0\r\nnot sdp\r\n', opts(B)),
      (e: unknown) => e instanceof ChannelError && e.code === 'sdp' && /line 2/.test(e.message),
    );
  });

  test('a peer who signals a different certificate than it presents is refused on both ends', async () => {
    const offer = await createChannelOffer(opts(A));
    // The answer claims Alice's own fingerprint for Bob, as an interceptor rewriting SDP might.
    const answer = await answerChannelOffer(offer.sdp, opts(B, { timeoutMs: 1500 }));
    const forged = answer.sdp.replace(B.fingerprint, A.fingerprint);
    const [o, a] = await Promise.allSettled([offer.complete(forged), answer.establish()]);
    for (const r of [o, a]) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as ChannelError;
      assert.equal(e.code, 'fingerprint-mismatch');
      assert.match(e.message, /possible interception/);
    }
  });

  test('cancel() stops the listener', async () => {
    const offer = await createChannelOffer(opts(A));
    const port = parseChannelSdp(offer.sdp, 'offer').port;
    offer.cancel();
    const { connect } = await import('node:net');
    const s = connect(port, LO);
    const err = await new Promise<NodeJS.ErrnoException>((r) => s.on('error', r));
    assert.equal(err.code, 'ECONNREFUSED');
  });
});

describe('the setup-role rule', () => {
  test('chooseAnswerSetup', () => {
    const R: Reachability[] = ['yes', 'unknown', 'no'];
    for (const own of R)
      for (const peer of R) {
        const rank = { no: 0, unknown: 1, yes: 2 };
        assert.equal(
          chooseAnswerSetup('actpass', own, peer, true),
          rank[own] > rank[peer] ? 'passive' : 'active',
          `own ${own}, offerer ${peer}`,
        );
        assert.equal(chooseAnswerSetup('actpass', own, peer, false), 'active');
        assert.equal(chooseAnswerSetup('passive', own, peer, true), 'active');
        assert.equal(chooseAnswerSetup('active', own, peer, true), 'passive');
      }
    assert.throws(
      () => chooseAnswerSetup('active', 'no', 'no', false),
      (e: unknown) => e instanceof ChannelError && e.code === 'role',
    );
    assert.throws(
      () => chooseAnswerSetup('holdconn', 'yes', 'yes', true),
      (e: unknown) => e instanceof ChannelError && e.code === 'role',
    );
  });

  test('ownReachability', () => {
    assert.equal(ownReachability('never', ['192.0.2.5'], '192.0.2.5'), 'no');
    assert.equal(ownReachability('reachable', ['10.0.0.2'], '192.0.2.5'), 'yes');
    assert.equal(ownReachability('auto', ['10.0.0.2'], undefined), 'unknown');
    assert.equal(ownReachability('auto', ['10.0.0.2', '2001:db8::2'], '2001:DB8:0::2'), 'yes');
    assert.equal(ownReachability('auto', ['10.0.0.2'], '::ffff:10.0.0.2'), 'yes');
    assert.equal(ownReachability('auto', ['10.0.0.2'], '192.0.2.5'), 'no');
  });

  test('offererReachability reads the server-observed srflx candidate', () => {
    const base = (
      candidates: ChannelCandidate[],
      setup: 'actpass' | 'active' = 'actpass',
    ): ChannelDescription => ({
      origin: { username: '-', sessionId: '1', sessionVersion: '1', address: '10.0.0.1' },
      port: 5000,
      address: '10.0.0.1',
      setup,
      connection: 'new',
      fingerprints: [],
      candidates,
      session: 'Zq3v6y0m2bX1sH0kq9wJ2A',
    });
    const host = hostCandidates([{ address: '10.0.0.1', port: 5000 }], 'passive');
    const srflx: ChannelCandidate = { ...host[0]!, type: 'srflx', address: '198.51.100.7', priority: 1 };
    assert.equal(offererReachability(base(host)), 'yes', 'no srflx: the server saw a listed address');
    assert.equal(offererReachability(base([...host, srflx])), 'no', 'behind NAT');
    assert.equal(offererReachability(base([...host, srflx]), '198.51.100.7'), 'yes', 'behind our own NAT');
    assert.equal(offererReachability(base(host, 'active')), 'no');
    assert.equal(
      offererReachability(base(hostCandidates([{ address: '10.0.0.1', port: 9 }], 'active'))),
      'no',
    );
  });
});

describe('candidate order and locality', () => {
  const c = (address: string, priority: number, extra: Partial<ChannelCandidate> = {}): ChannelCandidate => ({
    foundation: '1',
    component: 1,
    priority,
    address,
    port: 5000,
    type: 'host',
    tcpType: 'passive',
    ...extra,
  });

  test('priority first, families interleaved starting with the best one, duplicates and unusable ones dropped', () => {
    const order = connectOrder(
      [
        c('10.0.0.1', 90),
        c('2001:db8::1', 100),
        c('2001:db8::2', 95),
        c('10.0.0.2', 80),
        c('2001:DB8::1', 70), // same as the first IPv6
        c('fe80::1', 99), // link-local: no zone id
        c('10.0.0.3', 98, { tcpType: 'so' }),
        c('10.0.0.4', 97, { tcpType: 'active', port: 9 }),
        c('127.0.0.1', 60), // the peer is not local
        c('198.51.100.7', 50, { type: 'srflx' }),
      ],
      ['192.168.1.9', '127.0.0.1'],
    );
    assert.deepEqual(
      order.map((x) => x.address),
      ['2001:db8::1', '10.0.0.1', '2001:db8::2', '10.0.0.2', '198.51.100.7'],
    );
  });

  test('loopback only for a peer on this machine', () => {
    const mine = ['192.168.1.9', '127.0.0.1', '::1'];
    assert.ok(peerIsLocal([c('127.0.0.1', 1)], mine));
    assert.ok(peerIsLocal([c('192.168.1.9', 2), c('::1', 1)], mine));
    assert.ok(!peerIsLocal([c('192.168.1.10', 2), c('127.0.0.1', 1)], mine));
    assert.ok(!peerIsLocal([], mine));
    assert.deepEqual(
      connectOrder([c('192.168.1.9', 2), c('127.0.0.1', 1)], mine).map((x) => x.address),
      ['192.168.1.9', '127.0.0.1'],
    );
  });
});

test('channelAddresses: non-internal, no link-local, families interleaved, capped; loopback only as a last resort', async () => {
  const { channelAddresses, MAX_CHANNEL_ADDRESSES } = await import('./addresses.js');
  const info = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
    ({
      address,
      family,
      internal,
      netmask: '',
      mac: '',
      cidr: null,
      scopeid: 0,
    }) as import('node:os').NetworkInterfaceInfo;
  const table = {
    lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
    eth0: [
      info('192.168.1.9', 'IPv4'),
      info('fe80::1', 'IPv6'),
      ...Array.from({ length: 20 }, (_, i) => info(`2001:db8::${i + 1}`, 'IPv6')),
    ],
    wlan0: [info('10.0.0.9', 'IPv4'), info('192.168.1.9', 'IPv4')],
  };
  const list = channelAddresses(table);
  assert.equal(list.length, MAX_CHANNEL_ADDRESSES);
  assert.deepEqual(list.slice(0, 4), ['2001:db8::1', '192.168.1.9', '2001:db8::2', '10.0.0.9']);
  assert.ok(!list.includes('fe80::1') && !list.includes('127.0.0.1'));
  assert.deepEqual(channelAddresses({ lo: table.lo }), ['127.0.0.1']);
});
