import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { header } from '../sip/message.js';
import { addRule } from '../policy/index.js';
import { startTestServer, type SipTestClient, type TestServer } from '../testing/index.js';
import { CONTACTS_EVENT, CONTACTS_TYPE } from '@tsunagu/protocol';
import type { ContactEntry } from './presence.js';

let t: TestServer;
before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  for (const u of ['alice', 'bob', 'carol', 'dave']) t.addUser(u);
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'bob');
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'dave');
  await t.reachable('alice', 'dave');
});
after(() => t.close());

async function nextContacts(c: SipTestClient, timeoutMs = 1000): Promise<ContactEntry[]> {
  const notify = await c.nextRequest('NOTIFY', timeoutMs);
  assert.equal(header(notify, 'Event'), CONTACTS_EVENT);
  assert.equal(header(notify, 'Content-Type'), CONTACTS_TYPE);
  return (JSON.parse(notify.body.toString()) as { contacts: ContactEntry[] }).contacts;
}

const summary = (list: ContactEntry[]) => list.map((c) => `${c.user}:${c.online ? 'on' : 'off'}`);

test('the contact list holds exactly the reachable peers and follows presence within a second', async (tc) => {
  const alice = await t.client('alice');
  assert.equal((await alice.register()).status, 200);
  const sub = await alice.request('SUBSCRIBE', alice.aor, {
    headers: [
      { name: 'Event', value: CONTACTS_EVENT },
      { name: 'Accept', value: CONTACTS_TYPE },
      { name: 'Expires', value: '600' },
    ],
  });
  assert.equal(sub.status, 200);
  assert.equal(header(sub, 'Expires'), '600');
  assert.deepEqual(
    summary(await nextContacts(alice)),
    ['bob:off', 'dave:off'],
    'carol is hidden, alice is not her own contact',
  );

  const bob = await t.client('bob');
  const started = Date.now();
  await bob.register();
  const online = await nextContacts(alice);
  const elapsed = Date.now() - started;
  assert.deepEqual(summary(online), ['bob:on', 'dave:off']);
  assert.ok(elapsed < 1000, `update took ${elapsed} ms`);
  tc.diagnostic(`REGISTER sent → NOTIFY received: ${elapsed} ms`);
  const bobEntry = online.find((c) => c.user === 'bob')!;
  assert.equal(bobEntry.aor, `sip:bob@${t.domain}`);
  assert.equal(bobEntry.devices.filter((d) => d.online).length, 1);

  // carol coming online changes nothing alice may know: no NOTIFY.
  const carol = await t.client('carol');
  await carol.register();
  await assert.rejects(alice.nextRequest('NOTIFY', 300), /no NOTIFY/);

  bob.close();
  assert.deepEqual(summary(await nextContacts(alice)), ['bob:off', 'dave:off']);

  // A policy change reaches the list without a restart.
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'carol');
  assert.deepEqual(summary(await nextContacts(alice)), ['bob:off', 'carol:on', 'dave:off']);
  alice.close();
  carol.close();
});

test("one's own list only; a hidden user's presence is 404 like an unknown one", async () => {
  const bob = await t.client('bob');
  await bob.register();
  const other = await bob.request('SUBSCRIBE', `sip:alice@${t.domain}`, {
    headers: [{ name: 'Event', value: CONTACTS_EVENT }],
  });
  assert.equal(other.status, 403);
  const hidden = await bob.request('SUBSCRIBE', `sip:carol@${t.domain}`, {
    headers: [{ name: 'Event', value: 'presence' }],
  });
  const unknown = await bob.request('SUBSCRIBE', `sip:zed@${t.domain}`, {
    headers: [{ name: 'Event', value: 'presence' }],
  });
  assert.equal(hidden.status, 404);
  assert.equal(unknown.status, 404);
  bob.close();
});

test('presence of an allowed user in PIDF, refresh and unsubscribe in the dialog', async () => {
  const alice = await t.client('alice');
  await alice.register();
  const req = alice.build('SUBSCRIBE', `sip:dave@${t.domain}`, {
    headers: [
      { name: 'Event', value: 'presence' },
      { name: 'Expires', value: '120' },
    ],
  });
  const ok = await alice.sendRequest(req);
  assert.equal(ok.status, 200);
  const first = await alice.nextRequest('NOTIFY');
  assert.match(first.body.toString(), /entity="sip:dave@example\.test".*<basic>closed<\/basic>/s);
  assert.match(header(first, 'Subscription-State')!, /^active;expires=1[12]\d$/);
  const dave = await t.client('dave');
  await dave.register();
  assert.match((await alice.nextRequest('NOTIFY')).body.toString(), /<basic>open<\/basic>/);
  const d = alice.dialogFrom(req, ok);
  d.remoteTarget = /<([^>]+)>/.exec(header(ok, 'Contact')!)![1]!;
  const end = alice.inDialog(d, 'SUBSCRIBE');
  end.headers.push({ name: 'Event', value: 'presence' }, { name: 'Expires', value: '0' });
  assert.equal((await alice.sendRequest(end)).status, 200);
  assert.match(header(await alice.nextRequest('NOTIFY'), 'Subscription-State')!, /^terminated/);
  assert.equal(t.server.presence.size, 0);
  alice.close();
  dave.close();
});

test('a subscription refreshed from a new connection moves to it: it ends with that one, not the old', async () => {
  const before = t.server.presence.size;
  const old = await t.client('alice');
  await old.register();
  const req = old.build('SUBSCRIBE', `sip:dave@${t.domain}`, {
    headers: [
      { name: 'Event', value: 'presence' },
      { name: 'Expires', value: '120' },
    ],
  });
  const ok = await old.sendRequest(req);
  assert.equal(ok.status, 200);
  await old.nextRequest('NOTIFY');

  // The terminal's network changed: it registers on a new connection and refreshes the dialog there.
  const fresh = await t.client('alice');
  await fresh.register();
  const d = old.dialogFrom(req, ok);
  d.remoteTarget = /<([^>]+)>/.exec(header(ok, 'Contact')!)![1]!;
  const refresh = old.inDialog(d, 'SUBSCRIBE');
  refresh.headers.push({ name: 'Event', value: 'presence' }, { name: 'Expires', value: '120' });
  assert.equal((await fresh.sendRequest(refresh)).status, 200);
  await fresh.nextRequest('NOTIFY');

  old.close();
  await t.until(() => t.server.context.location.bindings('alice').length === 1, 'the old flow to be gone');
  assert.equal(t.server.presence.size, before + 1, 'the old connection closing did not end it');
  fresh.close();
  await t.until(() => t.server.presence.size === before, 'the subscription to end with its new flow');
});
