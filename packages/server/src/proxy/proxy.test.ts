import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { header, headerValues, type SipRequest } from '../sip/message.js';
import { startTestServer, type SipTestClient, type TestServer } from '../testing/index.js';

let t: TestServer;
before(async () => {
  t = await startTestServer({ server: { ringTimeoutMs: 700 } });
  for (const u of ['alice', 'bob', 'carol', 'dave']) t.addUser(u);
});
after(() => t.close());

const sdp = (addr: string, port: number) =>
  [
    'v=0',
    `o=- 1 1 IN IP4 ${addr}`,
    's=-',
    `c=IN IP4 ${addr}`,
    't=0 0',
    `m=application ${port} TCP/TLS tsunagu`,
    'a=setup:actpass',
    'a=connection:new',
    'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3F:6E:23:39:33:DE:62:5C:9F:1F:9F:1F',
    `a=candidate:1 1 TCP 2128609279 ${addr} ${port} typ host tcptype passive`,
    '',
  ].join('\r\n');

async function registered(user: string): Promise<SipTestClient> {
  const c = await t.client(user);
  assert.equal((await c.register()).status, 200);
  return c;
}

test('INVITE → 180 → 200 → ACK → BYE between two registered terminals, with identities and addresses', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const provisional: number[] = [];
  const inviteReq = alice.build('INVITE', `sip:bob@${t.domain}`, {
    body: sdp('192.0.2.10', 50123),
    contentType: 'application/sdp',
    headers: [{ name: 'P-Asserted-Identity', value: '<sip:ceo@example.test>' }],
  });
  const inviteDone = alice.sendRequest(inviteReq, { onProvisional: (r) => provisional.push(r.status) });
  const invite = await bob.nextRequest('INVITE');
  assert.equal(invite.uri, bob.contactUri, 'retargeted to the registered contact');
  assert.deepEqual(
    headerValues(invite, 'P-Asserted-Identity'),
    [`<sip:alice@${t.domain}>`],
    'forged PAI replaced',
  );
  assert.equal(headerValues(invite, 'Record-Route').length, 1);
  assert.equal(header(invite, 'Max-Forwards'), '69');
  const offer = invite.body.toString();
  assert.match(
    offer,
    /a=candidate:srflx1 1 TCP \d+ 127\.0\.0\.1 50123 typ srflx raddr 192\.0\.2\.10 rport 50123 tcptype passive/,
  );
  bob.respond(invite, 180, { toTag: 'bobtag' });
  bob.respond(invite, 200, {
    toTag: 'bobtag',
    body: sdp('198.51.100.20', 40000),
    contentType: 'application/sdp',
  });
  const ok = await inviteDone;
  assert.equal(ok.status, 200);
  assert.deepEqual(provisional, [100, 180], '100 Trying from the server, then the ringing');
  assert.deepEqual(headerValues(ok, 'P-Asserted-Identity'), [`<sip:bob@${t.domain}>`]);
  assert.match(ok.body.toString(), /127\.0\.0\.1 40000 typ srflx raddr 198\.51\.100\.20/);
  assert.equal(headerValues(ok, 'Via').length, 1, 'our Via was removed on the way back');

  const d = alice.dialogFrom(inviteReq, ok);
  alice.send(alice.inDialog(d, 'ACK'));
  const ack = await bob.nextRequest('ACK');
  assert.equal(header(ack, 'Call-ID'), header(invite, 'Call-ID'));
  const byeDone = alice.sendRequest(alice.inDialog(d, 'BYE'));
  const bye = await bob.nextRequest('BYE');
  assert.deepEqual(headerValues(bye, 'P-Asserted-Identity'), [`<sip:alice@${t.domain}>`]);
  bob.respond(bye, 200);
  assert.equal((await byeDone).status, 200);
  alice.close();
  bob.close();
});

test('forking: every device rings, the first 200 wins and the others are CANCELed', async () => {
  const alice = await registered('alice');
  const phone = await registered('carol');
  const laptop = await registered('carol');
  const done = alice.request('INVITE', `sip:carol@${t.domain}`, {
    body: sdp('192.0.2.1', 1000),
    contentType: 'application/sdp',
  });
  const [a, b] = await Promise.all([phone.nextRequest('INVITE'), laptop.nextRequest('INVITE')]);
  phone.respond(a, 180, { toTag: 'p' });
  laptop.respond(b, 180, { toTag: 'l' });
  phone.respond(a, 200, { toTag: 'p', body: sdp('192.0.2.2', 2000), contentType: 'application/sdp' });
  const cancel = await laptop.nextRequest('CANCEL');
  laptop.respond(cancel, 200);
  laptop.respond(b, 487, { toTag: 'l' });
  const ack = await laptop.nextRequest('ACK'); // hop-by-hop ACK for the 487
  assert.equal(header(ack, 'Call-ID'), header(b, 'Call-ID'));
  const res = await done;
  assert.equal(res.status, 200);
  assert.match(header(res, 'To')!, /tag=p/);
  for (const c of [alice, phone, laptop]) c.close();
});

test('a callee that never answers: 408 to the caller and a CANCEL to the callee', async () => {
  const alice = await registered('alice');
  const dave = await registered('dave');
  const done = alice.request('INVITE', `sip:dave@${t.domain}`);
  const invite = await dave.nextRequest('INVITE');
  dave.respond(invite, 180, { toTag: 'd' });
  const res = await done;
  assert.equal(res.status, 408);
  const cancel = await dave.nextRequest('CANCEL');
  assert.equal(header(cancel, 'Call-ID'), header(invite, 'Call-ID'));
  alice.close();
  dave.close();
});

test('the caller CANCELs: the callee gets CANCEL, the caller 487', async () => {
  const alice = await registered('alice');
  const dave = await registered('dave');
  const inviteReq = alice.build('INVITE', `sip:dave@${t.domain}`);
  const done = alice.sendRequest(inviteReq);
  const invite = await dave.nextRequest('INVITE');
  dave.respond(invite, 180, { toTag: 'd2' });
  const cancelReq: SipRequest = {
    ...inviteReq,
    method: 'CANCEL',
    headers: inviteReq.headers
      .filter((h) => ['via', 'from', 'to', 'call-id', 'max-forwards'].includes(h.name.toLowerCase()))
      .concat({ name: 'CSeq', value: `${header(inviteReq, 'CSeq')!.split(' ')[0]} CANCEL` }),
  };
  assert.equal((await alice.sendRequest(cancelReq)).status, 200);
  const cancel = await dave.nextRequest('CANCEL');
  dave.respond(cancel, 200);
  dave.respond(invite, 487, { toTag: 'd2' });
  assert.equal((await done).status, 487);
  alice.close();
  dave.close();
});

test('an existing user with no device online: 480', async () => {
  const alice = await registered('alice');
  const res = await alice.request('MESSAGE', `sip:dave@${t.domain}`, {
    body: 'hi',
    contentType: 'text/plain',
  });
  assert.equal(res.status, 480);
  alice.close();
});

test('MESSAGE is relayed with the asserted identity', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const done = alice.request('MESSAGE', `sip:bob@${t.domain}`, { body: 'hello', contentType: 'text/plain' });
  const msg = await bob.nextRequest('MESSAGE');
  assert.equal(msg.body.toString(), 'hello');
  assert.deepEqual(headerValues(msg, 'P-Asserted-Identity'), [`<sip:alice@${t.domain}>`]);
  bob.respond(msg, 200);
  assert.equal((await done).status, 200);
  alice.close();
  bob.close();
});

test('caller identity: a forged From is refused with 403 and never reaches the callee', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const res = await alice.request('MESSAGE', `sip:bob@${t.domain}`, {
    from: `<sip:carol@${t.domain}>;tag=forged`,
    body: 'I am carol',
    contentType: 'text/plain',
  });
  assert.equal(res.status, 403);
  assert.equal(res.reason, 'From Does Not Match Authenticated Identity');
  await assert.rejects(bob.nextRequest('MESSAGE', 300));
  alice.close();
  bob.close();
});

test('an unregistered connection is challenged with 407 and can then call', async () => {
  const bob = await registered('bob');
  const alice = await t.client('alice');
  const challenge = await alice.request('MESSAGE', `sip:bob@${t.domain}`, {
    authenticate: false,
    body: 'x',
    contentType: 'text/plain',
  });
  assert.equal(challenge.status, 407);
  assert.match(header(challenge, 'Proxy-Authenticate')!, /algorithm=SHA-256/);
  const done = alice.request('MESSAGE', `sip:bob@${t.domain}`, { body: 'x', contentType: 'text/plain' });
  const msg = await bob.nextRequest('MESSAGE');
  assert.equal(
    headerValues(msg, 'Proxy-Authorization').length,
    0,
    "the caller's credentials are consumed, not forwarded",
  );
  bob.respond(msg, 200);
  assert.equal((await done).status, 200);
  alice.close();
  bob.close();
});

test('a request that already crossed another proxy (several Vias) is served, its lower Vias untouched', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const req = alice.build('MESSAGE', `sip:bob@${t.domain}`, {
    body: 'via a proxy',
    contentType: 'text/plain',
  });
  const lower = 'SIP/2.0/TLS 192.0.2.99:5061;branch=z9hG4bKlowerhop;received=192.0.2.1';
  req.headers.splice(1, 0, { name: 'Via', value: lower });
  const done = alice.sendRequest(req);
  const msg = await bob.nextRequest('MESSAGE');
  const vias = headerValues(msg, 'Via');
  assert.equal(vias.length, 3, "ours, the client's, the lower hop");
  assert.equal(vias[2], lower);
  assert.match(vias[1]!, /;received=127\.0\.0\.1/);
  bob.respond(msg, 200);
  assert.equal((await done).status, 200);
  alice.close();
  bob.close();
});

test('Max-Forwards 0 is 483; OPTIONS to the server is answered by it; an unknown scheme is 416', async () => {
  const alice = await registered('alice');
  const req = alice.build('MESSAGE', `sip:bob@${t.domain}`);
  req.headers.find((h) => h.name === 'Max-Forwards')!.value = '0';
  assert.equal((await alice.sendRequest(req)).status, 483);
  const opt = await alice.request('OPTIONS', `sip:${t.domain}`);
  assert.equal(opt.status, 200);
  assert.match(header(opt, 'Allow')!, /INVITE/);
  const tel = await alice.request('MESSAGE', 'tel:+15551234567');
  assert.equal(tel.status, 416);
  alice.close();
});

test("a stranger cannot inject a request into somebody else's dialog", async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const carol = await registered('carol');
  const done = alice.request('INVITE', `sip:bob@${t.domain}`);
  const invite = await bob.nextRequest('INVITE');
  bob.respond(invite, 200, { toTag: 'b9' });
  await done;
  const route = headerValues(invite, 'Record-Route')[0]!;
  const bye = carol.build('BYE', bob.contactUri, {
    to: `<sip:bob@${t.domain}>;tag=b9`,
    callId: header(invite, 'Call-ID')!,
    headers: [{ name: 'Route', value: route }],
  });
  assert.equal((await carol.sendRequest(bye)).status, 403);
  await assert.rejects(bob.nextRequest('BYE', 300));
  for (const c of [alice, bob, carol]) c.close();
});

test('an in-dialog request whose other side has gone gets 430 Flow Failed', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const req = alice.build('INVITE', `sip:bob@${t.domain}`);
  const done = alice.sendRequest(req);
  const invite = await bob.nextRequest('INVITE');
  bob.respond(invite, 200, { toTag: 'b10' });
  const ok = await done;
  bob.close();
  await bob.closed;
  const d = alice.dialogFrom(req, ok);
  assert.equal((await alice.sendRequest(alice.inDialog(d, 'BYE'))).status, 430);
  alice.close();
});

test('SUBSCRIBE for another event package is proxied, and its NOTIFY comes back in the dialog', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  const sub = alice.build('SUBSCRIBE', `sip:bob@${t.domain}`, {
    headers: [
      { name: 'Event', value: 'dialog' },
      { name: 'Expires', value: '60' },
    ],
  });
  const done = alice.sendRequest(sub);
  const incoming = await bob.nextRequest('SUBSCRIBE');
  assert.equal(header(incoming, 'Event'), 'dialog');
  assert.equal(
    headerValues(incoming, 'Record-Route').length,
    1,
    'a dialog-creating SUBSCRIBE is record-routed',
  );
  bob.respond(incoming, 200, { toTag: 'n1', headers: [{ name: 'Expires', value: '60' }] });
  const ok = await done;
  assert.equal(ok.status, 200);
  const d = bob.dialogAsCallee(incoming, 'n1');
  const notify = bob.inDialog(d, 'NOTIFY', {
    body: '<dialog-info/>',
    contentType: 'application/dialog-info+xml',
  });
  notify.headers.push(
    { name: 'Event', value: 'dialog' },
    { name: 'Subscription-State', value: 'active;expires=60' },
  );
  const notified = bob.sendRequest(notify);
  const got = await alice.nextRequest('NOTIFY'); // the test client answers NOTIFY itself
  assert.equal(got.body.toString(), '<dialog-info/>');
  assert.deepEqual(headerValues(got, 'P-Asserted-Identity'), [`<sip:bob@${t.domain}>`]);
  assert.equal((await notified).status, 200);
  alice.close();
  bob.close();
});

test('finished transactions are not kept: the tables drain when the traffic stops', async () => {
  const alice = await registered('alice');
  const bob = await registered('bob');
  // Earlier tests left INVITEs answered 408/487 waiting for an ACK (Timer H): those may stay.
  const before = { server: t.server.context.serverTx.size, client: t.server.context.clientTx.size };
  for (let i = 0; i < 50; i++) await alice.request('OPTIONS', `sip:${t.domain}`);
  for (let i = 0; i < 20; i++) {
    const done = alice.request('MESSAGE', `sip:bob@${t.domain}`, {
      body: `m${i}`,
      contentType: 'text/plain',
    });
    bob.respond(await bob.nextRequest('MESSAGE'), 200);
    assert.equal((await done).status, 200);
  }
  await alice.register();
  assert.equal(t.server.context.serverTx.size, before.server);
  assert.equal(t.server.context.clientTx.size, before.client);
  bob.close();
  alice.close();
});
