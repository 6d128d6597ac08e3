import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createLogger } from '../log/logger.js';
import { startTestDnsServer, type TestDnsServer } from '../testing/dns-server.js';
import { SipTestClient, startTestServer, type TestServer } from '../testing/index.js';
import {
  MAX_ATTEMPTS,
  SIPS_PORT,
  connectByDns,
  createResolver,
  orderSrv,
  peerTargets,
  type SrvRecord,
} from './srv.js';

/** A source of "random" numbers that replays `values` in turn. */
const replay = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};
const srv = (name: string, priority: number, weight: number, port = 5061): SrvRecord => ({
  name,
  priority,
  weight,
  port,
});
const names = (records: SrvRecord[]) => records.map((r) => r.name);

describe('orderSrv (RFC 2782)', () => {
  it('orders by priority, lowest first, whatever the order of the answer', () => {
    const records = [srv('c', 20, 0), srv('a', 10, 0), srv('d', 30, 5), srv('b', 10, 0)];
    assert.deepEqual(names(orderSrv(records, () => 0)), ['a', 'b', 'c', 'd']);
  });
  it('draws within a priority by running sum of weights, weight-0 records first in the sum', () => {
    const records = [srv('x', 10, 10), srv('y', 10, 30), srv('z', 10, 0)];
    // Running sums over [z, x, y]: 0, 10, 40. A draw of 20 picks y; then over [z, x] (0, 10) a draw of 10 picks x.
    assert.deepEqual(names(orderSrv(records, replay(20.5 / 41, 10.5 / 11))), ['y', 'x', 'z']);
    // A draw of 0 is the one that picks a weight-0 record.
    assert.deepEqual(names(orderSrv(records, replay(0, 0))), ['z', 'x', 'y']);
    // The top of the range (total inclusive) picks the last of the sum.
    assert.deepEqual(names(orderSrv(records, replay(0.9999, 0.9999))), ['y', 'x', 'z']);
  });
  it('draws in proportion to weight', () => {
    // A fixed linear congruential sequence: deterministic, yet spread over [0, 1).
    let seed = 42;
    const lcg = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let heavyFirst = 0;
    for (let i = 0; i < 4000; i++)
      if (orderSrv([srv('light', 1, 10), srv('heavy', 1, 30)], lcg)[0]!.name === 'heavy') heavyFirst++;
    // Draws 0…40 over running sums 10, 40: the 30 values 11…40 land on heavy.
    assert.ok(Math.abs(heavyFirst / 4000 - 30 / 41) < 0.02, `heavy first ${heavyFirst} of 4000`);
  });
  it('keeps every record once, and an empty answer empty', () => {
    const records = [srv('a', 1, 1), srv('b', 2, 2), srv('c', 1, 3), srv('d', 2, 0)];
    assert.deepEqual(names(orderSrv(records, Math.random)).sort(), ['a', 'b', 'c', 'd']);
    assert.deepEqual(orderSrv([]), []);
  });
});

describe('peerTargets and connectByDns against a DNS server on loopback', () => {
  let dns: TestDnsServer;
  const log = createLogger('silent');
  const options = () => ({ resolver: createResolver([dns.address], 300), timeoutMs: 300 });
  before(async () => {
    dns = await startTestDnsServer({
      '_sips._tcp.srv.example': {
        SRV: [
          { priority: 20, weight: 0, port: 5070, target: 'two.srv.example' },
          { priority: 10, weight: 0, port: 5080, target: 'one.srv.example' },
        ],
      },
      '_sips._tcp.nodata.example': { A: ['192.0.2.1'] },
      '_sips._tcp.failing.example': 'SERVFAIL',
      '_sips._tcp.silent.example': 'silent',
      '_sips._tcp.none.example': { SRV: [{ priority: 0, weight: 0, port: 0, target: '.' }] },
      '_sips._tcp.many.example': {
        SRV: [{ priority: 1, weight: 0, port: 1, target: 'many.example' }],
      },
      'many.example': { A: Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 1}`) },
    });
  });
  after(() => dns.close());

  it('gives the SRV targets in order', async () => {
    assert.deepEqual(await peerTargets('srv.example', options()), [
      { host: 'one.srv.example', port: 5080, via: 'srv' },
      { host: 'two.srv.example', port: 5070, via: 'srv' },
    ]);
  });
  it('falls back to the domain on 5061 when it has no SRV record (ENOTFOUND, ENODATA)', async () => {
    for (const domain of ['nxdomain.example', 'nodata.example'])
      assert.deepEqual(await peerTargets(domain, options()), [
        { host: domain, port: SIPS_PORT, via: 'fallback' },
      ]);
  });
  it('does not fall back when DNS fails or says there is no service', async () => {
    await assert.rejects(peerTargets('failing.example', options()), {
      message: 'DNS lookup of _sips._tcp.failing.example failed: ESERVFAIL',
    });
    const started = Date.now();
    await assert.rejects(peerTargets('silent.example', options()), {
      message: 'DNS lookup of _sips._tcp.silent.example failed: ETIMEOUT',
    });
    assert.ok(Date.now() - started < 2000, 'bounded by the DNS timeout');
    await assert.rejects(peerTargets('none.example', options()), /offers no SIP over TLS/);
  });
  it('tries at most MAX_ATTEMPTS addresses, and says why it gave up', async () => {
    const tried: string[] = [];
    await assert.rejects(
      connectByDns('many.example', { ...options(), log }, (address, port) => {
        tried.push(`${address}:${port}`);
        return Promise.reject(new Error('refused'));
      }),
      { message: 'no server of many.example found by DNS could be reached (last: refused)' },
    );
    assert.deepEqual(
      tried,
      Array.from({ length: MAX_ATTEMPTS }, (_, i) => `127.0.0.${i + 1}:1`),
    );
  });
});

/**
 * A (a.example) peers with b.example without an address: it finds B's server through a DNS server on
 * loopback. B peers with A at its fixed address. C (c.example, its own CA) is a server DNS may point to
 * wrongly.
 */
describe('a peer found by DNS', () => {
  let dns: TestDnsServer;
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  let closedPort: number;

  before(async () => {
    dns = await startTestDnsServer({ localhost: { A: ['127.0.0.1'] } });
    [a, b, c] = await Promise.all([
      startTestServer({ domain: 'a.example', server: { dnsServers: [dns.address] } }),
      startTestServer({ domain: 'b.example' }),
      startTestServer({ domain: 'c.example' }),
    ]);
    a.addUser('alice');
    b.addUser('bob');
    await Promise.all([a.peer(b, { dns: true }), b.peer(a)]);
    // A port nothing listens on: bound, then closed.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
  });
  after(async () => {
    await Promise.all([a.close(), b.close(), c.close()]);
    await dns.close();
  });

  const registered = async (t: TestServer, user: string): Promise<SipTestClient> => {
    const client = await t.client(user);
    assert.equal((await client.register()).status, 200);
    return client;
  };
  const srvOfB = (...records: { priority: number; port: number }[]) => {
    dns.zone['_sips._tcp.b.example'] = {
      SRV: records.map((r) => ({ ...r, weight: 0, target: 'localhost' })),
    };
  };
  /** A MESSAGE alice@a → bob@b, delivered and answered. */
  const messageGoesThrough = async () => {
    const alice = await registered(a, 'alice');
    const bob = await registered(b, 'bob');
    const done = alice.request('MESSAGE', 'sip:bob@b.example', { body: 'hi', contentType: 'text/plain' });
    const msg = await bob.nextRequest('MESSAGE');
    assert.equal(msg.body.toString(), 'hi');
    bob.respond(msg, 200);
    assert.equal((await done).status, 200);
    alice.close();
    bob.close();
  };
  /** A MESSAGE alice@a → bob@b, refused by A: its status line. */
  const messageFails = async () => {
    const alice = await registered(a, 'alice');
    const res = await alice.request('MESSAGE', 'sip:bob@b.example', { body: 'x', contentType: 'text/plain' });
    alice.close();
    return `${res.status} ${res.reason}`;
  };
  /** Where, from `mark` on, A logged a line with these fields (and an `err` matching `err`); -1 if nowhere. */
  const logged = (mark: number, fields: Record<string, unknown>, err?: RegExp) =>
    a.logs
      .slice(mark)
      .findIndex(
        (l) => Object.entries(fields).every(([k, v]) => l[k] === v) && (!err || err.test(String(l.err))),
      );
  // Each test starts without a link to b.example, so that its request looks B up again.
  afterEach(() => {
    for (const l of a.logs)
      if (l.msg === 'federation link open' && l.peer === 'b.example')
        a.server.context.connection(String(l.conn))?.close('test: look the peer up again');
  });

  it('finds B through its _sips._tcp SRV record and reaches bob', async () => {
    srvOfB({ priority: 10, port: b.sip.port });
    const mark = a.logs.length;
    await messageGoesThrough();
    assert.ok(dns.queries.includes('SRV _sips._tcp.b.example'));
    const used = { target: `localhost:${b.sip.port}`, address: '127.0.0.1', via: 'srv' };
    assert.ok(
      logged(mark, { msg: 'federation target reached', ...used }) >= 0,
      'A logged the target it used',
    );
  });

  it('tries the targets in priority order: a dead first target is logged and the next one used', async () => {
    // The answer lists B first; its priority puts it second.
    srvOfB({ priority: 20, port: b.sip.port }, { priority: 10, port: closedPort });
    const mark = a.logs.length;
    await messageGoesThrough();
    const dead = { msg: 'federation target failed', target: `localhost:${closedPort}` };
    const failed = logged(mark, dead, /ECONNREFUSED/);
    const reached = logged(mark, { msg: 'federation target reached', target: `localhost:${b.sip.port}` });
    assert.ok(failed >= 0, 'the dead target’s failure is logged, with why');
    assert.ok(reached > failed, 'then B is reached');
  });

  it('DNS pointing at another domain’s server gets 502 Peer Not Trusted: DNS cannot impersonate', async () => {
    srvOfB({ priority: 10, port: c.sip.port });
    const mark = a.logs.length;
    assert.equal(await messageFails(), '502 Peer Not Trusted');
    const wrong = { msg: 'federation target failed', target: `localhost:${c.sip.port}` };
    assert.ok(logged(mark, wrong, /CA configured for b\.example/) >= 0);
    assert.ok(logged(mark, { msg: 'federation link failed', peer: 'b.example' }) >= 0);
  });

  it('without an SRV record, falls back to the domain itself on 5061', async () => {
    delete dns.zone['_sips._tcp.b.example']; // NXDOMAIN; and b.example has no address either
    const mark = a.logs.length;
    const queries = dns.queries.length;
    assert.equal(await messageFails(), '502 Peer Unreachable');
    const fallback = 'no SRV record for _sips._tcp.b.example: trying the domain on 5061';
    assert.ok(logged(mark, { msg: fallback, target: 'b.example:5061' }) >= 0);
    const tried = { msg: 'federation target failed', target: 'b.example:5061', via: 'fallback' };
    assert.ok(logged(mark, tried, /no address for b\.example/) >= 0);
    assert.deepEqual(
      dns.queries.slice(queries).sort(),
      ['A b.example', 'AAAA b.example', 'SRV _sips._tcp.b.example'],
      'the domain’s own address was asked for',
    );
  });
});
