import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addObservedCandidates, candidatePriority } from './observed.js';

const offer = [
  'v=0',
  'o=- 1 1 IN IP6 2001:db8::10',
  's=-',
  'c=IN IP6 2001:db8::10',
  't=0 0',
  'm=application 50123 TCP/TLS tsunagu',
  'a=setup:actpass',
  'a=fingerprint:sha-256 4A:AD',
  'a=candidate:1 1 TCP 2128609279 2001:db8::10 50123 typ host tcptype passive',
  'a=candidate:2 1 TCP 2128609278 192.168.1.5 50123 typ host tcptype passive',
  '',
].join('\r\n');

test('adds one srflx candidate per listening port, after the host ones', () => {
  const out = addObservedCandidates(offer, '203.0.113.7');
  const lines = out.trimEnd().split('\r\n');
  const added = lines.filter((l) => l.includes('typ srflx'));
  assert.equal(added.length, 1);
  assert.equal(
    added[0],
    `a=candidate:srflx1 1 TCP ${candidatePriority(100, (2 << 13) | 8191)} 203.0.113.7 50123 typ srflx raddr 2001:db8::10 rport 50123 tcptype passive`,
  );
  assert.equal(lines.at(-1), added[0]);
  assert.ok(out.endsWith('\r\n'));
});

test('leaves the SDP alone when the observed address is already a candidate', () => {
  assert.equal(addObservedCandidates(offer, '2001:DB8::10'), offer);
});

test('ignores media that is not TCP/TLS and active-only offers', () => {
  const audio =
    'v=0\r\nm=audio 4000 RTP/AVP 0\r\na=candidate:1 1 TCP 1 10.0.0.1 4000 typ host tcptype passive\r\n';
  assert.equal(addObservedCandidates(audio, '203.0.113.7'), audio);
  const active =
    'v=0\r\nm=application 9 TCP/TLS tsunagu\r\na=setup:active\r\na=candidate:1 1 TCP 1 10.0.0.1 9 typ host tcptype active\r\n';
  assert.equal(addObservedCandidates(active, '203.0.113.7'), active);
});

test('priority formula follows RFC 8445 §5.1.2.1', () => {
  assert.equal(candidatePriority(126, 65535, 1), 2130706431);
});
