import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp, ipFamily, isLinkLocalIpv6, isLoopbackIp } from './address.js';

test('ipFamily recognises IP literals only', () => {
  const cases: [string, 0 | 4 | 6][] = [
    ['192.0.2.1', 4],
    ['0.0.0.0', 4],
    ['255.255.255.255', 4],
    ['256.1.1.1', 0],
    ['01.2.3.4', 0],
    ['1.2.3', 0],
    ['::', 6],
    ['::1', 6],
    ['2001:db8::10', 6],
    ['2001:DB8:0:0:0:0:0:10', 6],
    ['::ffff:192.0.2.1', 6],
    ['64:ff9b::192.0.2.1', 6],
    ['1:2:3:4:5:6:7:8', 6],
    ['1:2:3:4:5:6:7:8:9', 0],
    ['1:2:3:4:5:6:7::8', 0],
    ['1::2::3', 0],
    [':::', 0],
    ['fe80::1%eth0', 0],
    ['[::1]', 0],
    ['12345::', 0],
    ['example.org', 0],
    ['', 0],
  ];
  for (const [s, want] of cases) assert.equal(ipFamily(s), want, s);
});

test('canonicalIp: RFC 5952 text and IPv4-mapped as IPv4', () => {
  assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:10'), '2001:db8::10');
  assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(
    canonicalIp('2001:db8:0:1:1:1:1:1'),
    '2001:db8:0:1:1:1:1:1',
    'a single zero group is not compressed',
  );
  assert.equal(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalIp('::'), '::');
  assert.equal(canonicalIp('::ffff:c000:0201'), '192.0.2.1');
  assert.equal(canonicalIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalIp('192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalIp('nope'), undefined);
});

test('loopback and link-local', () => {
  assert.ok(
    isLoopbackIp('127.0.0.1') &&
      isLoopbackIp('127.1.2.3') &&
      isLoopbackIp('::1') &&
      isLoopbackIp('::ffff:127.0.0.1'),
  );
  assert.ok(!isLoopbackIp('192.0.2.1') && !isLoopbackIp('::2'));
  assert.ok(
    isLinkLocalIpv6('fe80::1') &&
      isLinkLocalIpv6('FEBF::1') &&
      !isLinkLocalIpv6('fec0::1') &&
      !isLinkLocalIpv6('::1'),
  );
});
