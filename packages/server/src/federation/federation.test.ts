import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fingerprint } from '../ca/ca.js';
import { header, headerValues, type SipMessage, type SipRequest } from '../sip/message.js';
import { parseNameAddr, parseUri } from '../sip/uri.js';
import type { Connection } from '../transport/connection.js';
import { screenPeerNotify } from './relay.js';
import { readFileSync } from 'node:fs';
import { dataPaths } from '../config/index.js';
import { SipTestClient, startTestServer, type Dialog, type TestServer } from '../testing/index.js';

/**
 * Two domains on loopback, each server configured with the other's CA fingerprint (DESIGN.md "Several
 * servers"): alice@a.example reaches bob@b.example through A and B, each applying its own policy, and
 * the Route-Security values are kept and appended hop by hop.
 */
let a: TestServer;
let b: TestServer;

before(async () => {
  [a, b] = await Promise.all([
    startTestServer({ domain: 'a.example', server: { ringTimeoutMs: 2000 } }),
    startTestServer({ domain: 'b.example', policy: 'deny-all', server: { ringTimeoutMs: 2000 } }),
  ]);
  for (const u of ['alice', 'mallory']) a.addUser(u);
  for (const u of ['bob', 'carol']) b.addUser(u);
  await Promise.all([a.peer(b), b.peer(a)]);
  // B's own policy: only alice of a.example may reach bob; nobody from outside reaches carol.
  b.admin.rules.add({ action: 'allow', src: 'alice@a.example', dst: 'bob' });
  await b.until(
    () => b.server.context.policy().canReach('alice@a.example', 'bob@b.example'),
    'B to load its policy',
  );
});
after(async () => {
  await a.close();
  await b.close();
});

async function registered(t: TestServer, user: string): Promise<SipTestClient> {
  const c = await t.client(user);
  assert.equal((await c.register()).status, 200);
  return c;
}

const invite = (c: SipTestClient, to: string, own = '127.0.0.1') =>
  c.build('INVITE', to, {
    body: 'v=0\r\n',
    contentType: 'application/sdp',
    headers: [{ name: 'Route-Security', value: `[${own}]` }],
  });

test('INVITE alice@a → A → B → bob@b and back: identities asserted per domain, Route-Security appended per hop', async () => {
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  const req = invite(alice, 'sip:bob@b.example');
  const done = alice.sendRequest(req);
  const got = await bob.nextRequest('INVITE');
  assert.equal(got.uri, bob.contactUri, 'B retargeted to bob’s contact');
  assert.deepEqual(headerValues(got, 'P-Asserted-Identity'), ['<sip:alice@a.example>']);
  assert.deepEqual(
    headerValues(got, 'Route-Security'),
    ['[127.0.0.1]', '[127.0.0.1]', '[127.0.0.1]'],
    'the caller, A and B',
  );
  assert.equal(headerValues(got, 'Record-Route').length, 2, 'both servers stay on the dialog');
  assert.equal(headerValues(got, 'Via').length, 3);
  bob.respond(got, 200, {
    toTag: 'b1',
    headers: headerValues(got, 'Route-Security').map((value) => ({ name: 'Route-Security', value })),
  });
  const ok = await done;
  assert.equal(ok.status, 200);
  assert.deepEqual(
    headerValues(ok, 'P-Asserted-Identity'),
    ['<sip:bob@b.example>'],
    'B’s assertion kept by A',
  );
  assert.equal(headerValues(ok, 'Route-Security').length, 3, 'the response carries the path back');

  // In the dialog, both ways, through both servers' Record-Routes.
  const d = alice.dialogFrom(req, ok);
  alice.send(alice.inDialog(d, 'ACK'));
  await bob.nextRequest('ACK');
  const bd = bob.dialogAsCallee(got, 'b1');
  const byeDone = bob.sendRequest(bob.inDialog(bd, 'BYE'));
  const bye = await alice.nextRequest('BYE');
  assert.deepEqual(headerValues(bye, 'P-Asserted-Identity'), ['<sip:bob@b.example>']);
  alice.respond(bye, 200);
  assert.equal((await byeDone).status, 200);
  alice.close();
  bob.close();
});

test('MESSAGE crosses the federation link too', async () => {
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  const done = alice.request('MESSAGE', 'sip:bob@b.example', { body: 'hi', contentType: 'text/plain' });
  const msg = await bob.nextRequest('MESSAGE');
  assert.equal(msg.body.toString(), 'hi');
  assert.deepEqual(headerValues(msg, 'P-Asserted-Identity'), ['<sip:alice@a.example>']);
  bob.respond(msg, 200);
  assert.equal((await done).status, 200);
  alice.close();
  bob.close();
});

test('denied by A, denied by B, unknown at B and an unpeered domain all fail the same way', async () => {
  a.admin.rules.add({ action: 'deny', src: 'mallory', dst: 'domain:b.example' });
  await a.until(
    () => !a.server.context.policy().canReach('mallory@a.example', 'bob@b.example'),
    'A to load the deny rule',
  );
  const alice = await registered(a, 'alice');
  const mallory = await registered(a, 'mallory');
  const shape = async (c: SipTestClient, to: string) => {
    const res = await c.sendRequest(invite(c, to));
    return {
      status: res.status,
      reason: res.reason,
      headers: res.headers.map((h) => h.name.toLowerCase()).sort(),
      body: res.body.length,
    };
  };
  const deniedByA = await shape(mallory, 'sip:bob@b.example');
  const deniedByB = await shape(alice, 'sip:carol@b.example');
  const unknownAtB = await shape(alice, 'sip:nobody@b.example');
  const unpeered = await shape(alice, 'sip:bob@c.example');
  assert.equal(deniedByA.status, 404);
  assert.deepEqual(deniedByB, deniedByA);
  assert.deepEqual(unknownAtB, deniedByA);
  assert.deepEqual(unpeered, deniedByA);
  alice.close();
  mallory.close();
});

test('a server drops Route-Security values it cannot vouch for', async () => {
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  // alice claims to be somewhere she is not: A cannot vouch for that value and forwards none.
  const done = alice.sendRequest(invite(alice, 'sip:bob@b.example', '2001:db8::66'));
  const got = await bob.nextRequest('INVITE');
  assert.deepEqual(headerValues(got, 'Route-Security'), ['[127.0.0.1]', '[127.0.0.1]'], 'only A and B');
  assert.ok(
    a.logs.some((l) => l.msg === 'Route-Security values not vouched for: not forwarded'),
    'A logged what it dropped',
  );
  bob.respond(got, 486, { toTag: 'x' });
  assert.equal((await done).status, 486);
  alice.close();
  bob.close();
});

test('a peer whose certificate is not from its configured CA is refused, and the caller is told', async () => {
  const c = await startTestServer({ domain: 'c.example' });
  try {
    c.addUser('dan');
    // A believes c.example's CA is B's: c.example's real certificate will not match.
    await a.peer(c, { caFingerprint: fingerprint(b.ca) });
    const alice = await registered(a, 'alice');
    const res = await alice.sendRequest(invite(alice, 'sip:dan@c.example'));
    assert.equal(res.status, 502);
    assert.equal(res.reason, 'Peer Not Trusted');
    assert.ok(a.logs.some((l) => l.msg === 'federation link failed' && /CA configured/.test(String(l.err))));
    alice.close();
  } finally {
    a.admin.peers.remove('c.example');
    await c.close();
  }
});

test('over a plain-TCP leg the path is broken: B forwards none of the values it received, A none of the response’s', async () => {
  const c = await startTestServer({ domain: 'c.example', server: { tcp: { host: '127.0.0.1', port: 0 } } });
  try {
    c.addUser('dan');
    const tcpPort = Number(c.server.addresses.tcp!.split(':').pop());
    await Promise.all([a.peer(c, { port: tcpPort, transport: 'tcp' }), c.peer(a, { transport: 'tcp' })]);
    const alice = await registered(a, 'alice');
    const dan = await registered(c, 'dan');
    const done = alice.sendRequest(invite(alice, 'sip:dan@c.example'));
    const got = await dan.nextRequest('INVITE');
    assert.deepEqual(headerValues(got, 'P-Asserted-Identity'), ['<sip:alice@a.example>']);
    assert.deepEqual(
      headerValues(got, 'Route-Security'),
      ['[127.0.0.1]'],
      'only C itself: nothing before it was vouched for',
    );
    assert.ok(
      c.logs.some(
        (l) =>
          l.msg === 'Route-Security values not vouched for: not forwarded' &&
          l.problem === 'the link it came over is not secure',
      ),
    );
    dan.respond(got, 200, {
      toTag: 'd1',
      headers: [{ name: 'Route-Security', value: '[127.0.0.1], [127.0.0.1], [127.0.0.1]' }],
    });
    const ok = await done;
    assert.equal(ok.status, 200);
    assert.deepEqual(
      headerValues(ok, 'Route-Security'),
      [],
      'A does not forward a path that came back over TCP',
    );
    alice.close();
    dan.close();
  } finally {
    a.admin.peers.remove('c.example');
    await c.close();
  }
});

test('a peer that forges a Route-Security value for a hop it did not see is caught by the next hop, and may speak only for its own domain', async () => {
  const bob = await registered(b, 'bob');
  const mark = b.logs.length;
  const since = () => b.logs.slice(mark);
  // A rogue "a.example" server: it holds A's real certificate (so B accepts it as the peer) but
  // claims the request reached it from somewhere it did not.
  const rogue = await SipTestClient.connect({
    host: '127.0.0.1',
    port: b.sip.port,
    ca: b.ca,
    servername: 'localhost',
    domain: 'a.example',
    user: 'alice',
    cert: `${readFileSync(dataPaths(a.dataDir).serverCert, 'utf8')}${a.ca}`,
    key: readFileSync(dataPaths(a.dataDir).serverKey, 'utf8'),
  });
  await b.until(
    () => since().some((l) => l.msg === 'federation link from peer' && l.peer === 'a.example'),
    'B to take the rogue’s link as a.example',
  );
  const done = rogue.sendRequest(
    rogue.build('INVITE', 'sip:bob@b.example', {
      body: 'v=0\r\n',
      contentType: 'application/sdp',
      headers: [{ name: 'Route-Security', value: '[127.0.0.1], [2001:db8:6789::5060]' }],
    }),
  );
  const got = await bob.nextRequest('INVITE');
  assert.deepEqual(
    headerValues(got, 'Route-Security'),
    ['[127.0.0.1]'],
    'the forged values are not forwarded',
  );
  assert.ok(since().some((l) => l.problem === 'the last value does not name the sender'));
  bob.respond(got, 486, { toTag: 'r' });
  assert.equal((await done).status, 486);
  // Nor may a peer speak for anyone outside its own domain.
  const spoofed = await rogue.request('MESSAGE', 'sip:bob@b.example', {
    from: '<sip:carol@b.example>;tag=s',
    body: 'x',
    contentType: 'text/plain',
  });
  assert.equal(spoofed.status, 403);
  assert.equal(spoofed.reason, 'From Not In Peer Domain');
  rogue.close();
  bob.close();
});

test('a peer domain’s contacts are listed where both policies allow, and its CA comes with a key list, vouched for by our server', async () => {
  b.admin.rules.add({ action: 'allow', src: 'alice@a.example', dst: 'carol' });
  a.admin.rules.add({ action: 'deny', src: 'alice', dst: 'carol@b.example' });
  await b.until(
    () => b.server.context.policy().canReach('alice@a.example', 'carol@b.example'),
    'B to allow carol',
  );
  await a.until(
    () => !a.server.context.policy().canReach('alice@a.example', 'carol@b.example'),
    'A to hide carol',
  );
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  const contacts = await alice.request('SUBSCRIBE', 'sip:b.example', {
    headers: [
      { name: 'Event', value: 'tsunagu-contacts' },
      { name: 'Expires', value: '0' },
    ],
  });
  assert.equal(contacts.status, 200);
  const list = JSON.parse((await alice.nextRequest('NOTIFY')).body.toString()) as {
    contacts: { aor: string; online: boolean }[];
  };
  assert.deepEqual(
    list.contacts.map((c) => [c.aor, c.online]),
    [['sip:bob@b.example', true]],
    'bob (both allow), not carol (A denies), not anyone B hides',
  );
  assert.equal('domains' in list, false, 'a peer’s user is told of no further domains');

  // Our own users are told which peer domains to ask: those our policy lets them reach anyone in.
  const domainsOf = async (user: string) => {
    const c = await registered(a, user);
    const res = await c.request('SUBSCRIBE', `sip:${user}@a.example`, {
      headers: [
        { name: 'Event', value: 'tsunagu-contacts' },
        { name: 'Expires', value: '0' },
      ],
    });
    assert.equal(res.status, 200);
    const own = JSON.parse((await c.nextRequest('NOTIFY')).body.toString()) as { domains?: string[] };
    c.close();
    return own.domains;
  };
  assert.deepEqual(await domainsOf('alice'), ['b.example']);
  assert.deepEqual(await domainsOf('mallory'), [], 'A denies mallory the whole of b.example');

  const keys = await alice.request('SUBSCRIBE', 'sip:bob@b.example', {
    headers: [
      { name: 'Event', value: 'tsunagu-keys' },
      { name: 'Expires', value: '0' },
    ],
  });
  assert.equal(keys.status, 200);
  const view = JSON.parse((await alice.nextRequest('NOTIFY')).body.toString()) as {
    aor: string;
    ca?: string;
  };
  assert.equal(view.aor, 'sip:bob@b.example');
  assert.equal(fingerprint(view.ca!), fingerprint(b.ca), 'B’s CA, as configured at A');
  alice.close();
  bob.close();
});

test('a subscription to a peer domain’s contacts is refreshed and ended in its dialog, through both servers', async () => {
  const alice = await registered(a, 'alice');
  const before = b.server.presence.size;
  const event = { name: 'Event', value: 'tsunagu-contacts' };
  const req = alice.build('SUBSCRIBE', 'sip:b.example', {
    headers: [event, { name: 'Expires', value: '60' }],
  });
  const ok = await alice.sendRequest(req);
  assert.equal(ok.status, 200);
  await alice.nextRequest('NOTIFY');
  assert.equal(b.server.presence.size, before + 1, 'B holds the subscription');
  assert.equal(headerValues(ok, 'Record-Route').length, 1, 'A stays on its dialog (B is the notifier)');
  const d = alice.dialogFrom(req, ok);

  const refresh = await alice.sendRequest(
    alice.inDialog(d, 'SUBSCRIBE', { headers: [event, { name: 'Expires', value: '60' }] }),
  );
  assert.equal(refresh.status, 200, 'the refresh reached B’s notifier through A');
  const again = await alice.nextRequest('NOTIFY');
  assert.match(header(again, 'Subscription-State') ?? '', /^active/);
  assert.equal(b.server.presence.size, before + 1, 'the same subscription, not a second one');

  const end = await alice.sendRequest(
    alice.inDialog(d, 'SUBSCRIBE', { headers: [event, { name: 'Expires', value: '0' }] }),
  );
  assert.equal(end.status, 200);
  assert.match(header(await alice.nextRequest('NOTIFY'), 'Subscription-State') ?? '', /^terminated/);
  await b.until(() => b.server.presence.size === before, 'B to drop the subscription');
  alice.close();
});

test('a peer’s contact list is screened for the user it goes to, whatever its To says', async () => {
  await a.until(
    () => !a.server.context.policy().canReach('mallory@a.example', 'bob@b.example'),
    'A to hide b.example from mallory',
  );
  const notify = (to: string): SipRequest => ({
    kind: 'request',
    method: 'NOTIFY',
    uri: 'sip:x@x.invalid',
    headers: [
      { name: 'To', value: `<${to}>;tag=t` },
      { name: 'Event', value: 'tsunagu-contacts' },
    ],
    // Among the entries, ones that are not contacts at all: dropped, never dereferenced.
    body: Buffer.from(
      JSON.stringify({
        version: 1,
        contacts: [null, 7, { aor: 42 }, { aor: 'sip:bob@b.example' }],
        domains: ['c.example'],
      }),
    ),
  });
  const listFor = (to: string, user: string) => {
    const req = notify(to);
    screenPeerNotify(a.server.context, req, { domain: 'b.example' }, { user, aor: `sip:${user}@a.example` });
    const doc = JSON.parse(req.body.toString()) as { contacts: { aor: string }[]; domains?: unknown };
    assert.equal(doc.domains, undefined, 'a peer may not tell our users which domains to ask');
    return doc.contacts.map((c) => c.aor);
  };
  assert.deepEqual(listFor('sip:alice@a.example', 'alice'), ['sip:bob@b.example']);
  assert.deepEqual(
    listFor('sip:alice@a.example', 'mallory'),
    [],
    'a To naming alice does not widen mallory’s list',
  );
});

/** alice@a calls bob@b and bob answers 200 (alice ACKs unless told not to): what each side holds. */
async function call(alice: SipTestClient, bob: SipTestClient, o: { ack?: boolean } = {}) {
  const req = invite(alice, 'sip:bob@b.example');
  const done = alice.sendRequest(req);
  const got = await bob.nextRequest('INVITE');
  bob.respond(got, 200, { toTag: 'b1' });
  const ok = await done;
  assert.equal(ok.status, 200);
  const ad = alice.dialogFrom(req, ok);
  if (o.ack !== false) {
    alice.send(alice.inDialog(ad, 'ACK'));
    await bob.nextRequest('ACK');
  }
  return { got, ad, bd: bob.dialogAsCallee(got, 'b1') };
}

/** Both ends (at A and at B) of the federation link a dialog's Record-Routes name. */
function linkEnds(msg: SipMessage): Connection[] {
  const ids = headerValues(msg, 'Record-Route').flatMap((rr) =>
    String(parseUri(parseNameAddr(rr)?.uri ?? '')?.params.tsu ?? '').split('.'),
  );
  return [a, b].flatMap((t) =>
    ids.map((id) => t.server.context.connection(id)).filter((c): c is Connection => c?.peer !== undefined),
  );
}

/** The link a dialog crossed breaks (a network blip): closed at A, and B sees it close too. */
async function breakLink(msg: SipMessage): Promise<void> {
  const ends = linkEnds(msg);
  assert.equal(ends.length, 2, 'the link’s end at A and its end at B');
  ends[0]!.close('test: the link breaks');
  await a.until(() => ends.every((c) => c.closed), 'both ends to see the link close');
}

/** Whether `t` logged opening a federation link to `domain` since log line `mark`. */
const openedLink = (t: TestServer, mark: number, domain: string): boolean =>
  t.logs.slice(mark).some((l) => l.msg === 'federation link open' && l.peer === domain);

/** A BYE in dialog `d`, answered 200 by whoever receives it, checked to arrive with `asserted`. */
async function bye(from: SipTestClient, d: Dialog, to: SipTestClient, asserted: string): Promise<void> {
  const done = from.sendRequest(from.inDialog(d, 'BYE'));
  const got = await to.nextRequest('BYE');
  assert.equal(header(got, 'Call-ID'), d.callId);
  assert.deepEqual(headerValues(got, 'P-Asserted-Identity'), [`<${asserted}>`]);
  to.respond(got, 200);
  assert.equal((await done).status, 200, 'the 200 found its way back');
}

/**
 * alice@a calls bob@b, the link breaks, then one end hangs up: its BYE must reach the other over a link
 * its own server opens, and the 200 come back. Returns the INVITE bob got.
 */
async function byeAfterBreak(end: 'caller' | 'callee'): Promise<SipRequest> {
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  const { got, ad, bd } = await call(alice, bob);
  await breakLink(got);
  const [server, peer] = end === 'caller' ? [a, b] : [b, a];
  const mark = server.logs.length;
  if (end === 'caller') await bye(alice, ad, bob, alice.aor);
  else await bye(bob, bd, alice, bob.aor);
  assert.ok(openedLink(server, mark, peer.domain), `${server.domain} opened a fresh link for it`);
  alice.close();
  bob.close();
  return got;
}

test('each server’s Record-Route names the side that is a federation link; when the link breaks, bob’s BYE reaches alice over a link B opens, and her 200 gets back', async () => {
  const got = await byeAfterBreak('callee');
  const [byB, byA] = headerValues(got, 'Record-Route');
  assert.match(
    byB!,
    /;tsu=[\w-]+\.[\w-]+;tsu-peer=1:a\.example:[\w-]{16}>$/,
    'B: the first side is a.example',
  );
  assert.match(byA!, /;tsu=[\w-]+\.[\w-]+;tsu-peer=2:b\.example:[\w-]{16}>$/, 'A: the second is b.example');
});

test('when the link breaks, alice’s BYE reaches bob over a link A opens, and his 200 gets back', async () => {
  await byeAfterBreak('caller');
});

test('when the link breaks before the ACK, the ACK for the 2xx reaches bob over a link A opens', async () => {
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  const { got, ad } = await call(alice, bob, { ack: false });
  await breakLink(got);
  const mark = a.logs.length;
  alice.send(alice.inDialog(ad, 'ACK'));
  const ack = await bob.nextRequest('ACK');
  assert.equal(header(ack, 'Call-ID'), ad.callId, 'forwarded statelessly, as any ACK for a 2xx');
  assert.deepEqual(headerValues(ack, 'P-Asserted-Identity'), ['<sip:alice@a.example>']);
  assert.ok(openedLink(a, mark, 'b.example'), 'A opened a fresh link for it');
  await bye(alice, ad, bob, 'sip:alice@a.example');
  alice.close();
  bob.close();
});

test('an in-dialog request for which no link to the peer can be had gets 430; once the peer is back, the dialog goes on', async () => {
  const alice = await registered(a, 'alice');
  const bob = await registered(b, 'bob');
  const { ad } = await call(alice, bob);
  const dead = net.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadPort = (dead.address() as net.AddressInfo).port;
  await new Promise((resolve) => dead.close(resolve));
  const peerPort = () => a.server.context.peers.get('b.example')?.port;
  try {
    // The admin points b.example elsewhere (a reload closes the link), and nothing answers there.
    a.admin.peers.remove('b.example');
    await a.peer(b, { port: deadPort });
    await a.until(() => peerPort() === deadPort, 'A to load the changed peer');
    const failed = await alice.sendRequest(alice.inDialog(ad, 'BYE'));
    assert.equal(failed.status, 430);
    assert.ok(
      a.logs.some((l) => l.msg === 'no federation link for an in-dialog request'),
      'A logged why',
    );
  } finally {
    a.admin.peers.remove('b.example');
    await a.peer(b);
    await a.until(() => peerPort() === b.sip.port, 'A to load b.example back');
  }
  await bye(alice, ad, bob, 'sip:alice@a.example');
  alice.close();
  bob.close();
});

test('a dialog’s peer side may go on over any link that proves that domain, and only so: another peer domain’s link, another user or a made-up peer parameter gets nothing through', async () => {
  const c = await startTestServer({ domain: 'c.example' });
  const mallory = await registered(a, 'mallory');
  try {
    await a.peer(c);
    const alice = await registered(a, 'alice');
    const bob = await registered(b, 'bob');
    const { got, bd } = await call(alice, bob);
    const routeA = headerValues(got, 'Record-Route')[1]!;
    /** A server's own certificate and CA, as a link from that domain presents them. */
    const linkFrom = async (t: TestServer) => {
      const mark = a.logs.length;
      const link = await SipTestClient.connect({
        host: '127.0.0.1',
        port: a.sip.port,
        ca: a.ca,
        servername: 'localhost',
        domain: t.domain,
        user: 'x',
        cert: `${readFileSync(dataPaths(t.dataDir).serverCert, 'utf8')}${t.ca}`,
        key: readFileSync(dataPaths(t.dataDir).serverKey, 'utf8'),
      });
      await a.until(
        () => a.logs.slice(mark).some((l) => l.msg === 'federation link from peer' && l.peer === t.domain),
        `A to take the link as ${t.domain}`,
      );
      return link;
    };
    const byeVia = (sender: SipTestClient, from: string) =>
      sender.sendRequest(
        sender.build('BYE', bd.remoteTarget, {
          from: `<${from}>;tag=${bd.localTag}`,
          to: `<${bd.remoteUri}>;tag=${bd.remoteTag}`,
          callId: bd.callId,
          headers: [{ name: 'Route', value: routeA }],
        }),
      );

    const fromC = await linkFrom(c);
    const refusedC = await byeVia(fromC, 'sip:dan@c.example');
    assert.deepEqual(
      [refusedC.status, refusedC.reason],
      [403, 'Forbidden'],
      'c.example is not the dialog’s peer',
    );
    const refusedMallory = await byeVia(mallory, 'sip:mallory@a.example');
    assert.deepEqual(
      [refusedMallory.status, refusedMallory.reason],
      [403, 'Forbidden'],
      'nor is another user',
    );

    // A second link that proves b.example (the dialog's own is still up) is as good as the first.
    const fromB = await linkFrom(b);
    const done = byeVia(fromB, 'sip:bob@b.example');
    const got2 = await alice.nextRequest('BYE');
    assert.equal(header(got2, 'Call-ID'), bd.callId);
    assert.equal(
      alice.incoming.filter((r) => r.method === 'BYE').length,
      0,
      'the refused ones were not forwarded',
    );
    alice.respond(got2, 200);
    assert.equal((await done).status, 200);

    // A terminal cannot make up a peer side (to send anything to a peer domain past our policy): the
    // parameter is signed by the server that wrote it, and one that does not verify counts for nothing.
    const probe = mallory.sendRequest(invite(mallory, 'sip:alice@a.example'));
    const local = await alice.nextRequest('INVITE');
    alice.respond(local, 486, { toTag: 'busy' });
    assert.equal((await probe).status, 486);
    // mallory's own connection id, as the Record-Route of any dialog of hers tells her.
    const [malloryId] = String(
      parseUri(parseNameAddr(headerValues(local, 'Record-Route')[0]!)!.uri)!.params.tsu,
    ).split('.');
    const forged = await mallory.sendRequest(
      mallory.build('BYE', 'sip:bob@b.example', {
        headers: [
          {
            name: 'Route',
            value: `<sip:127.0.0.1:${a.sip.port};transport=tls;lr;tsu=${malloryId}.gone;tsu-peer=2:b.example:${'A'.repeat(16)}>`,
          },
        ],
      }),
    );
    assert.equal(forged.status, 430, 'the made-up side is gone, not a link to b.example');
    for (const x of [fromC, fromB, alice, bob]) x.close();
  } finally {
    mallory.close();
    a.admin.peers.remove('c.example');
    await c.close();
  }
});

test('a peer link carries all its users’ subscriptions: the bound is per user, and one whose user’s flow is gone ends at the next NOTIFY (430)', async () => {
  const before = b.server.presence.size;
  const subscribe = (c: SipTestClient) =>
    c.request('SUBSCRIBE', 'sip:b.example', {
      headers: [
        { name: 'Event', value: 'tsunagu-contacts' },
        { name: 'Expires', value: '60' },
      ],
    });
  const mallory = await registered(a, 'mallory');
  for (let i = 0; i < 64; i++) assert.equal((await subscribe(mallory)).status, 200, `subscription ${i + 1}`);
  assert.equal((await subscribe(mallory)).status, 403, 'the 65th of one user is refused');
  const alice = await registered(a, 'alice');
  assert.equal((await subscribe(alice)).status, 200, 'another user over the same link is not');
  assert.equal(b.server.presence.size, before + 65);

  // Both leave; B's next NOTIFYs find no flow at A (430) and B stops holding them.
  alice.close();
  mallory.close();
  b.addUser('zed');
  b.admin.rules.add({ action: 'allow', src: 'domain:a.example', dst: 'zed' });
  await b.until(
    () => b.server.presence.size === before,
    'B to drop the subscriptions A can no longer deliver',
  );
});
