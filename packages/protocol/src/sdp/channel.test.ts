import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHANNEL_SDP_LIMITS,
  CHANNEL_SESSION_ID,
  ChannelSdpError,
  formatChannelSdp,
  hostCandidates,
  negotiatedRoles,
  newChannelSessionId,
  parseChannelSdp,
  passiveCandidates,
  sameAddress,
  type ChannelSdpInput,
  type SetupAttribute,
} from './channel.js';
import { addObservedCandidates, candidatePriority } from './observed.js';

const FP256 = Array.from({ length: 32 }, (_, i) => (i * 7 + 0x4a).toString(16).slice(-2).toUpperCase()).join(
  ':',
);
const FP256_B = Array.from({ length: 32 }, (_, i) =>
  (i * 13 + 1).toString(16).padStart(2, '0').slice(-2).toUpperCase(),
).join(':');
const FP384 = Array.from({ length: 48 }, () => 'AB').join(':');
const SESSION = 'Zq3v6y0m2bX1sH0kq9wJ2A';

const offerInput: ChannelSdpInput = {
  setup: 'actpass',
  fingerprints: [{ algorithm: 'sha-256', value: FP256 }],
  candidates: hostCandidates(
    [
      { address: '2001:db8::10', port: 50123 },
      { address: '192.168.1.5', port: 50123 },
    ],
    'passive',
  ),
  session: SESSION,
  origin: { sessionId: '3962519841', sessionVersion: '1' },
};

/** Throws unless `fn` throws a ChannelSdpError whose message matches `re`; returns it. */
function sdpError(fn: () => unknown, re: RegExp): ChannelSdpError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ChannelSdpError, `expected ChannelSdpError, got ${String(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected an error matching ${re}`);
}

test('formats the DESIGN form exactly, CRLF, a complete SDP', () => {
  const sdp = formatChannelSdp(offerInput);
  const p1 = candidatePriority(126, (4 << 13) | 8191);
  const p2 = candidatePriority(126, (4 << 13) | 8190);
  assert.equal(
    sdp,
    [
      'v=0',
      'o=- 3962519841 1 IN IP6 2001:db8::10',
      's=-',
      't=0 0',
      'm=application 50123 TCP/TLS tsunagu',
      'c=IN IP6 2001:db8::10',
      'a=setup:actpass',
      'a=connection:new',
      `a=fingerprint:sha-256 ${FP256}`,
      `a=candidate:1 1 TCP ${p1} 2001:db8::10 50123 typ host tcptype passive`,
      `a=candidate:2 1 TCP ${p2} 192.168.1.5 50123 typ host tcptype passive`,
      `a=tsunagu-session:${SESSION}`,
      '',
    ].join('\r\n'),
  );
  // 126·2^24 + ((4<<13)|8191)·2^8 + 255: host type, RFC 6544 passive direction preference 4. (The
  // DESIGN example's 2128609279 uses direction preference 6, which RFC 6544 §4.2 gives active ones.)
  assert.equal(p1, 2124414975);
});

test('round trip: parse(format(x)) gives x back, and format(parse(s)) gives s back', () => {
  const sdp = formatChannelSdp(offerInput);
  const d = parseChannelSdp(sdp, 'offer');
  assert.deepEqual(d, {
    origin: { username: '-', sessionId: '3962519841', sessionVersion: '1', address: '2001:db8::10' },
    port: 50123,
    address: '2001:db8::10',
    setup: 'actpass',
    connection: 'new',
    fingerprints: offerInput.fingerprints,
    candidates: offerInput.candidates,
    session: SESSION,
  });
  assert.equal(formatChannelSdp(d), sdp);

  for (const setup of ['active', 'passive'] as const) {
    const answer = formatChannelSdp({
      setup,
      connection: 'existing',
      fingerprints: [
        { algorithm: 'sha-256', value: FP256_B },
        { algorithm: 'sha-384', value: FP384 },
      ],
      candidates:
        setup === 'active'
          ? hostCandidates([{ address: '10.0.0.2', port: 0 }], 'active')
          : hostCandidates([{ address: '10.0.0.2', port: 40000 }], 'passive'),
      session: SESSION,
    });
    const a = parseChannelSdp(answer, 'answer');
    assert.equal(a.setup, setup);
    assert.equal(a.connection, 'existing');
    assert.equal(a.port, setup === 'active' ? 9 : 40000, 'an endpoint that will not listen says port 9');
    assert.equal(a.fingerprints.length, 2);
    assert.equal(a.candidates[0]!.port, setup === 'active' ? 9 : 40000);
    assert.equal(formatChannelSdp({ ...a, origin: a.origin }), answer);
  }
});

test("accepts the session server's srflx candidate appended after a=tsunagu-session", () => {
  const sdp = formatChannelSdp(offerInput);
  const withObserved = addObservedCandidates(sdp, '203.0.113.7');
  assert.ok(
    withObserved.trimEnd().split('\r\n').at(-1)!.includes('typ srflx'),
    'the server appends at the end',
  );
  const d = parseChannelSdp(withObserved, 'offer');
  assert.equal(d.candidates.length, 3);
  assert.deepEqual(d.candidates[2], {
    foundation: 'srflx1',
    component: 1,
    priority: candidatePriority(100, (2 << 13) | 8191),
    address: '203.0.113.7',
    port: 50123,
    type: 'srflx',
    tcpType: 'passive',
    relatedAddress: '2001:db8::10',
    relatedPort: 50123,
  });
  // Host candidates keep their precedence over the observed address.
  assert.deepEqual(
    passiveCandidates(d).map((c) => c.type),
    ['host', 'host', 'srflx'],
  );
  // And what we format from it is accepted by the server's function again (idempotent there).
  const again = formatChannelSdp(d);
  assert.equal(addObservedCandidates(again, '203.0.113.7'), again);
  // IPv4-mapped form as a dual-stack server socket may report it.
  const mapped = parseChannelSdp(addObservedCandidates(sdp, '::ffff:203.0.113.7'), 'offer');
  assert.equal(mapped.candidates[2]!.address, '::ffff:203.0.113.7');
});

test('parses the DESIGN example as written, with LF endings and extra standard lines', () => {
  const d = parseChannelSdp(
    [
      'v=0',
      'o=alice 2890844526 2890844527 IN IP4 host.example.org',
      's=Tsunagu',
      'i=a channel',
      'b=AS:1000',
      't=0 0',
      'a=fingerprint:SHA-256 ' + FP256.toLowerCase(),
      'm=application 50123 TCP/TLS tsunagu',
      'c=IN IP6 2001:db8::10',
      'a=setup:actpass',
      'a=connection:new',
      'a=candidate:1 1 tcp 2128609279 2001:db8::10 50123 typ host tcptype passive generation 0',
      'a=sendrecv',
      'a=tsunagu-session:' + SESSION,
    ].join('\n'),
    'offer',
  );
  assert.deepEqual(d.fingerprints, [{ algorithm: 'sha-256', value: FP256 }], 'session-level, normalised');
  assert.equal(d.candidates[0]!.priority, 2128609279);
  assert.equal(d.origin.address, 'host.example.org');
});

test('several fingerprints, session-level c=, and defaults of RFC 4145 §4.1/§5', () => {
  const base = [
    'v=0',
    'o=- 1 1 IN IP4 192.0.2.1',
    's=-',
    'c=IN IP4 192.0.2.1',
    't=0 0',
    'm=application 9 TCP/TLS tsunagu',
    `a=fingerprint:sha-256 ${FP256}`,
    `a=fingerprint:sha-256 ${FP256_B}`,
    `a=fingerprint:sha-512 ${Array(64).fill('0F').join(':')}`,
    `a=tsunagu-session:${SESSION}`,
  ];
  const offer = parseChannelSdp(base.join('\r\n'), 'offer');
  assert.equal(offer.setup, 'active', 'no a=setup in an offer means active');
  assert.equal(offer.connection, 'new');
  assert.equal(offer.address, '192.0.2.1');
  assert.equal(offer.fingerprints.length, 3);
  assert.deepEqual(offer.candidates, []);
  assert.equal(parseChannelSdp(base.join('\r\n'), 'answer').setup, 'passive', '… and passive in an answer');
  sdpError(
    () => parseChannelSdp([...base, 'a=setup:actpass'].join('\r\n'), 'answer'),
    /answer must say a=setup:active or passive/,
  );
  sdpError(() => parseChannelSdp([...base, 'a=setup:holdconn'].join('\r\n'), 'answer'), /answer must say/);
  assert.equal(parseChannelSdp([...base, 'a=setup:holdconn'].join('\r\n'), 'offer').setup, 'holdconn');
});

test('negotiatedRoles follows RFC 4145 §4.1', () => {
  const cases: [SetupAttribute, SetupAttribute, string | undefined][] = [
    ['actpass', 'active', 'passive/active'],
    ['actpass', 'passive', 'active/passive'],
    ['active', 'passive', 'active/passive'],
    ['passive', 'active', 'passive/active'],
    ['active', 'active', undefined],
    ['passive', 'passive', undefined],
    ['actpass', 'actpass', undefined],
    ['active', 'actpass', undefined],
    ['holdconn', 'active', undefined],
  ];
  for (const [o, a, want] of cases) {
    if (want === undefined) assert.throws(() => negotiatedRoles(o, a), ChannelSdpError, `${o}/${a}`);
    else {
      const r = negotiatedRoles(o, a);
      assert.equal(`${r.offerer}/${r.answerer}`, want, `${o}/${a}`);
    }
  }
});

test('precise errors with the line number', () => {
  const good = formatChannelSdp(offerInput).trimEnd().split('\r\n');
  const replace = (i: number, line: string | undefined) => {
    const copy = [...good];
    if (line === undefined) copy.splice(i, 1);
    else copy[i] = line;
    return copy.join('\r\n');
  };
  const insert = (i: number, line: string) => [...good.slice(0, i), line, ...good.slice(i)].join('\r\n');
  const cases: [string, RegExp, number | undefined][] = [
    [replace(0, 'v=1'), /line 1 .*unsupported SDP version/, 1],
    [replace(1, 's=-'), /line 2 .*expected an o= line/, 2],
    [replace(1, 'o=- 1 1 IN IP4'), /line 2 .*expected o=/, 2],
    [replace(1, 'o=- x 1 IN IP4 1.2.3.4'), /session id must be a number/, 2],
    [replace(3, undefined), /line 4 .*t= must come before the first m=/, 4],
    [replace(4, 'm=application 50123 TCP/MSRP tsunagu'), /proto must be TCP\/TLS/, 5],
    [replace(4, 'm=audio 50123 TCP/TLS tsunagu'), /media must be application/, 5],
    [replace(4, 'm=application 50123 TCP/TLS other'), /format must be tsunagu/, 5],
    [replace(4, 'm=application 70000 TCP/TLS tsunagu'), /invalid port/, 5],
    [replace(4, 'm=application 0 TCP/TLS tsunagu'), /rejected \(port 0/, 5],
    [replace(5, 'c=IN IP4 2001:db8::10'), /not an IP4 address/, 6],
    [replace(5, 'c=IN IP4 host.example'), /must be an IP address/, 6],
    [replace(5, 'c=IN IP4 233.252.0.1/127'), /multicast/, 6],
    [replace(5, undefined), /missing c= line/, undefined],
    [replace(6, 'a=setup:maybe'), /expected a=setup:active\|passive\|actpass\|holdconn/, 7],
    [insert(7, 'a=setup:active'), /a=setup appears twice/, 8],
    [replace(7, 'a=connection:old'), /expected a=connection:new\|existing/, 8],
    [replace(8, 'a=fingerprint:sha-256 4A:AD:1F'), /sha-256 fingerprint has 32 bytes \(got 3\)/, 9],
    [replace(8, 'a=fingerprint:sha-256 4A-AD'), /hex byte pairs/, 9],
    [replace(8, 'a=fingerprint:sha-256'), /expected a=fingerprint/, 9],
    [replace(8, 'a=ice-lite'), /missing a=fingerprint/, undefined],
    [replace(9, 'a=candidate:1 1 UDP 1 192.0.2.1 5000 typ host'), /transport must be TCP/, 10],
    [replace(9, 'a=candidate:1 1 TCP 1 192.0.2.1 5000 typ host'), /needs tcptype/, 10],
    [
      replace(9, 'a=candidate:1 1 TCP 1 example.org 5000 typ host tcptype passive'),
      /must be an IP address/,
      10,
    ],
    [replace(9, 'a=candidate:1 2 TCP 1 192.0.2.1 5000 typ host tcptype passive'), /component must be 1/, 10],
    [replace(9, 'a=candidate:1 1 TCP 0 192.0.2.1 5000 typ host tcptype passive'), /priority must be/, 10],
    [replace(9, 'a=candidate:1 1 TCP 1 192.0.2.1 5000 typ host tcptype sideways'), /tcptype must be/, 10],
    [
      replace(9, 'a=candidate:1 1 TCP 1 192.0.2.1 5000 typ bogus tcptype passive'),
      /candidate type must be/,
      10,
    ],
    [
      replace(9, 'a=candidate:1 1 TCP 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1 tcptype passive'),
      /raddr must be followed by rport/,
      10,
    ],
    [
      replace(9, 'a=candidate:1 1 TCP 1 192.0.2.1 0 typ host tcptype passive'),
      /passive candidate needs a port/,
      10,
    ],
    [
      replace(9, 'a=candidate:1 1 TCP 1 192.0.2.1 5000 typ host tcptype passive tcptype so'),
      /tcptype appears twice/,
      10,
    ],
    [
      replace(9, 'a=candidate:1 1 TCP 1 fe80::1%eth0 5000 typ host tcptype passive'),
      /must be an IP address/,
      10,
    ],
    [insert(4, good[9]!), /line 5 .*belongs to the m= section/, 5],
    [replace(11, 'a=tsunagu-session:short'), /expected a=tsunagu-session/, 12],
    [replace(11, undefined), /missing a=tsunagu-session/, undefined],
    [insert(6, ''), /line 7 .*empty line/, 7],
    [insert(6, 'a=x\u0000'), /line 7 .*control character/, 7],
    [insert(6, 'x=1'), /unknown line type x=/, 7],
    [insert(6, 'not a line'), /expected <type>=<value>/, 7],
    [[...good, 'm=application 50124 TCP/TLS tsunagu'].join('\r\n'), /exactly one m= section/, 13],
    [insert(6, 'r=7d 1h 0 25h'), /belongs to the session level/, 7],
  ];
  for (const [sdp, re, line] of cases) {
    const e = sdpError(() => parseChannelSdp(sdp, 'offer'), re);
    assert.equal(e.line, line, e.message);
  }
  sdpError(() => parseChannelSdp('', 'offer'), /empty/);
});

test('bounded: length, lines, line length, candidates, fingerprints', () => {
  const sdp = formatChannelSdp(offerInput);
  const lines = sdp.trimEnd().split('\r\n');
  const many = (n: number, mk: (i: number) => string) =>
    [...lines, ...Array.from({ length: n }, (_, i) => mk(i))].join('\r\n');
  sdpError(
    () =>
      parseChannelSdp(
        many(31, (i) => `a=candidate:${i + 9} 1 TCP 1 192.0.2.${i + 1} 5000 typ host tcptype passive`),
        'offer',
      ),
    /too many candidates \(more than 32\)/,
  );
  assert.equal(
    parseChannelSdp(
      many(30, (i) => `a=candidate:${i + 9} 1 TCP 1 192.0.2.${i + 1} 5000 typ host tcptype passive`),
      'offer',
    ).candidates.length,
    32,
  );
  sdpError(
    () =>
      parseChannelSdp(
        many(8, () => `a=fingerprint:sha-256 ${FP256_B}`),
        'offer',
      ),
    /too many fingerprints/,
  );
  sdpError(
    () =>
      parseChannelSdp(
        many(120, (i) => `a=x-${i}`),
        'offer',
      ),
    /too many lines \(13\d > 128\)/,
  );
  sdpError(
    () =>
      parseChannelSdp(
        many(1, () => `a=x:${'y'.repeat(1100)}`),
        'offer',
      ),
    /longer than 1024/,
  );
  sdpError(() => parseChannelSdp('v=0\r\n' + 'a'.repeat(20_000), 'offer'), /too long/);
  sdpError(
    () => parseChannelSdp(sdp, 'offer', { ...CHANNEL_SDP_LIMITS, maxCandidates: 1 }),
    /too many candidates \(more than 1\)/,
  );
  // The builder enforces the same limits.
  sdpError(
    () =>
      formatChannelSdp({
        ...offerInput,
        fingerprints: Array(9).fill({ algorithm: 'sha-256', value: FP256 }),
      }),
    /too many fingerprints/,
  );
});

test('the builder refuses what the parser would refuse', () => {
  sdpError(() => formatChannelSdp({ ...offerInput, session: 'x' }), /session id/);
  sdpError(() => formatChannelSdp({ ...offerInput, fingerprints: [] }), /at least one fingerprint/);
  sdpError(
    () => formatChannelSdp({ ...offerInput, fingerprints: [{ algorithm: 'sha-256', value: 'AB' }] }),
    /32 bytes/,
  );
  sdpError(
    () => formatChannelSdp({ ...offerInput, candidates: [], address: undefined }),
    /address is required/,
  );
  sdpError(() => formatChannelSdp({ ...offerInput, address: 'example.org' }), /must be an IP address/);
  sdpError(
    () =>
      formatChannelSdp({
        ...offerInput,
        candidates: [{ ...offerInput.candidates[0]!, address: 'localhost' }],
      }),
    /must be an IP address/,
  );
  sdpError(() => formatChannelSdp({ ...offerInput, port: 0 }), /port must be 1 to 65535/);
});

test('hostCandidates: RFC 6544 priorities and port 9 for active', () => {
  const passive = hostCandidates(
    [
      { address: '::1', port: 4000 },
      { address: '127.0.0.1', port: 4000 },
    ],
    'passive',
  );
  assert.ok(passive[0]!.priority > passive[1]!.priority, 'in the order given');
  assert.ok(
    passive[1]!.priority > candidatePriority(100, (2 << 13) | 8191),
    'above the server-observed srflx',
  );
  const active = hostCandidates([{ address: '127.0.0.1', port: 4000 }], 'active');
  assert.equal(active[0]!.port, 9);
  assert.ok(active[0]!.priority > passive[0]!.priority, 'host: active > passive');
});

test('session ids: 128 random bits, base64url', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newChannelSessionId();
    assert.match(id, CHANNEL_SESSION_ID);
    assert.equal(id.length, 22);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
});

test('sameAddress ignores IPv6 spelling and IPv4-mapped forms', () => {
  assert.ok(sameAddress('2001:DB8:0:0::10', '2001:db8::10'));
  assert.ok(sameAddress('::ffff:192.0.2.1', '192.0.2.1'));
  assert.ok(!sameAddress('192.0.2.1', '192.0.2.2'));
  assert.ok(!sameAddress('host', 'host'));
});
