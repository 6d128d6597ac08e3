import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_ROUTE_SECURITY_HOPS,
  ROUTE_SECURITY,
  checkCalleePath,
  checkCallerPath,
  describePath,
  formatRouteSecurity,
  parseRouteSecurity,
} from './route-security.js';

/** The seed's Fig. 3 addresses: terminal 1, server A, server B, terminal 2. */
const T1 = '2001:1234::10';
const A = '2001:6789::5060';
const B = '2001:abcd::5060';
const T2 = '2001:cdef::10';
const v = (...hops: string[]) => hops.map(formatRouteSecurity);

test('the header name is the seed’s', () => {
  assert.equal(ROUTE_SECURITY, 'Route-Security');
});

test('formatRouteSecurity: a bracketed, canonical IP literal', () => {
  assert.equal(formatRouteSecurity(T1), '[2001:1234::10]');
  assert.equal(formatRouteSecurity('2001:DB8:0:0:0:0:0:10'), '[2001:db8::10]');
  assert.equal(formatRouteSecurity('::ffff:192.0.2.1'), '[192.0.2.1]', 'IPv4-mapped as the IPv4 it maps');
  assert.equal(formatRouteSecurity('192.0.2.7'), '[192.0.2.7]');
  for (const bad of ['example.org', '', '[::1]', 'fe80::1%eth0', '1.2.3']) {
    assert.throws(() => formatRouteSecurity(bad), /not an IP address/, bad);
  }
});

test('parseRouteSecurity: one value per line, comma lists, canonical, parameters ignored', () => {
  assert.deepEqual(parseRouteSecurity([]), []);
  assert.deepEqual(parseRouteSecurity(['[2001:1234::10]']), [T1]);
  assert.deepEqual(parseRouteSecurity(['[2001:1234:0:0:0:0:0:10]', '[2001:6789::5060]']), [T1, A]);
  assert.deepEqual(
    parseRouteSecurity(['[2001:1234::10], [2001:6789::5060]', ' [2001:ABCD::5060] ,[192.0.2.1]']),
    [T1, A, B, '192.0.2.1'],
    'lists and lines keep their order',
  );
  assert.deepEqual(parseRouteSecurity(['[::ffff:192.0.2.1]']), ['192.0.2.1']);
  assert.deepEqual(parseRouteSecurity(['[2001:1234::10];x=y;flag', '[192.0.2.1] ;a=b, [::1]']), [
    T1,
    '192.0.2.1',
    '::1',
  ]);
  // The output of format parses back to the same addresses.
  assert.deepEqual(parseRouteSecurity(v(T1, A, B)), [T1, A, B]);
});

test('parseRouteSecurity: anything malformed makes the whole path unreadable', () => {
  const bad = [
    ['2001:1234::10'], // no brackets
    ['[example.org]'],
    ['[]'],
    ['[2001:1234::10'],
    ['[2001:1234::10]]'],
    ['[1::2::3]'],
    ['[fe80::1%eth0]'],
    ['[2001:1234::10], '], // an empty list element
    [''],
    ['[192.0.2.1] junk'],
    ['[2001:1234::10]', '[256.0.0.1]'], // one bad line spoils the good one
  ];
  for (const values of bad) assert.equal(parseRouteSecurity(values), undefined, JSON.stringify(values));
});

test(`parseRouteSecurity: at most ${MAX_ROUTE_SECURITY_HOPS} hops`, () => {
  const hops = Array.from({ length: MAX_ROUTE_SECURITY_HOPS }, (_, i) => `2001:db8::${i + 1}`);
  assert.equal(parseRouteSecurity(hops.map((h) => `[${h}]`))?.length, MAX_ROUTE_SECURITY_HOPS);
  assert.equal(parseRouteSecurity([...hops, '2001:db8::99'].map((h) => `[${h}]`)), undefined);
  assert.equal(
    parseRouteSecurity([[...hops, '2001:db8::99'].map((h) => `[${h}]`).join(', ')]),
    undefined,
    'also in one comma list',
  );
});

test('checkCallerPath: secure when the path begins with our value and our server', () => {
  assert.deepEqual(checkCallerPath(v(T1, A, B), { own: T1, server: A }), { hops: [T1, A, B], secure: true });
  assert.deepEqual(
    checkCallerPath(v(T1, A), { own: '2001:1234:0::10', server: '2001:6789:0:0::5060' }),
    { hops: [T1, A], secure: true },
    'addresses compared in canonical form',
  );
  assert.deepEqual(
    checkCallerPath(['[127.0.0.1]', '[127.0.0.1]'], { own: '::ffff:127.0.0.1', server: '127.0.0.1' }),
    { hops: ['127.0.0.1', '127.0.0.1'], secure: true },
    'an IPv4-mapped socket address is the IPv4 address',
  );
});

test('checkCallerPath: each reason for an insecure path', () => {
  const check = (values: string[] | undefined) => checkCallerPath(values, { own: T1, server: A });
  const none = check(undefined);
  assert.equal(none.secure, false);
  assert.deepEqual(none.hops, []);
  assert.match(none.reason!, /carried no Route-Security path/);
  assert.match(check([]).reason!, /carried no Route-Security path/);

  const unreadable = check(['[2001:1234::10]', 'garbage']);
  assert.deepEqual(unreadable, { hops: [], secure: false, reason: unreadable.reason });
  assert.match(unreadable.reason!, /could not be read/);

  // A server that could not vouch for our leg dropped our value: the path begins elsewhere.
  const dropped = check(v(A, B));
  assert.deepEqual(dropped.hops, [A, B]);
  assert.equal(dropped.secure, false);
  assert.match(dropped.reason!, /does not begin at this device \(2001:1234::10\)/);

  const otherServer = check(v(T1, B));
  assert.deepEqual(otherServer.hops, [T1, B]);
  assert.equal(otherServer.secure, false);
  assert.match(otherServer.reason!, /does not continue at this device's server \(2001:6789::5060\)/);

  assert.match(check(v(T1)).reason!, /does not continue at this device's server/, 'only our own value');
  assert.equal(checkCallerPath(v(T1, A), { own: 'not-an-ip', server: A }).secure, false);
});

test('checkCalleePath: secure when the path ends at our server and begins at an address of the offer', () => {
  assert.deepEqual(checkCalleePath(v(T1, A, B), { server: B, peer: ['192.0.2.1', T1] }), {
    hops: [T1, A, B],
    secure: true,
  });
  assert.deepEqual(
    checkCalleePath(['[127.0.0.1]', '[127.0.0.1]'], { server: '::ffff:127.0.0.1', peer: ['127.0.0.1'] }),
    { hops: ['127.0.0.1', '127.0.0.1'], secure: true },
  );
  assert.equal(
    checkCalleePath(v(T1, B), { server: B, peer: ['not an address', '2001:1234:0:0:0:0:0:10'] }).secure,
    true,
    'peer addresses in any spelling; junk among them ignored',
  );
});

test('checkCalleePath: each reason for an insecure path', () => {
  const check = (values: string[] | undefined, peer: string[] = [T1]) =>
    checkCalleePath(values, { server: B, peer });
  assert.match(check(undefined).reason!, /request carried no Route-Security path/);
  assert.deepEqual(check([]).hops, []);
  assert.equal(check([]).secure, false);

  const unreadable = check(['[2001:1234::10]', '[x]']);
  assert.equal(unreadable.secure, false);
  assert.match(unreadable.reason!, /could not be read/);

  const elsewhere = check(v(T1, A));
  assert.deepEqual(elsewhere.hops, [T1, A]);
  assert.equal(elsewhere.secure, false);
  assert.match(elsewhere.reason!, /does not end at this device's server \(2001:abcd::5060\)/);

  // Our server could not vouch for the previous leg: it dropped the values and sent only its own.
  const onlyServer = check(v(B));
  assert.deepEqual(onlyServer.hops, [B]);
  assert.equal(onlyServer.secure, false);
  assert.match(onlyServer.reason!, /does not begin at the caller: a hop was not secure/);

  const notTheCaller = check(v(A, B));
  assert.equal(notTheCaller.secure, false);
  assert.match(notTheCaller.reason!, /does not begin at the caller/);

  assert.equal(check(v(T1, B), []).secure, false, 'an offer naming no address cannot match');
  assert.equal(check(v(T1, B), [T2]).secure, false);
});

test('describePath: the hops in order and the verdict, for people', () => {
  assert.equal(describePath({ hops: [T1, A, B], secure: true }), `${T1} → ${A} → ${B} (secure)`);
  assert.equal(describePath({ hops: [B], secure: false }), `${B} (not secure end to end)`);
  assert.equal(describePath({ hops: [], secure: false }), 'no hops (not secure end to end)');
});
