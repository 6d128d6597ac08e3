import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SipResponse } from '../sip/message.js';
import { addRule } from '../policy/index.js';
import { startTestServer, type SipTestClient, type TestServer } from '../testing/index.js';

/**
 * The seed's promise ([0031], [0055]): a peer the policy hides cannot be told from one that does not
 * exist — not by status, headers, body, nor timing.
 */

let t: TestServer;
let alice: SipTestClient;
before(async () => {
  t = await startTestServer({ policy: 'deny-all' });
  for (const u of ['alice', 'bob', 'carol']) t.addUser(u);
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'bob');
  await t.reachable('alice', 'bob');
  alice = await t.client('alice');
  assert.equal((await alice.register()).status, 200);
  // carol is online: hiding must not depend on her being offline.
  const carol = await t.client('carol');
  assert.equal((await carol.register()).status, 200);
});
after(() => t.close());

/** A response minus what is copied from the request or random by design (To tag). */
function shape(res: SipResponse) {
  const random = new Set(['via', 'from', 'call-id', 'cseq']);
  return {
    status: res.status,
    reason: res.reason,
    headers: res.headers
      .filter((h) => !random.has(h.name.toLowerCase()))
      .map((h) =>
        h.name === 'To'
          ? `To: ${h.value.replace(/sip:\w+@/, 'sip:X@').replace(/tag=\w+/, 'tag=T')}`
          : `${h.name}: ${h.value}`,
      ),
    body: res.body.toString('hex'),
  };
}

for (const method of ['INVITE', 'MESSAGE', 'OPTIONS', 'SUBSCRIBE'] as const) {
  test(`${method} to a hidden user and to a non-existent one get the same answer`, async () => {
    const headers = method === 'SUBSCRIBE' ? [{ name: 'Event', value: 'presence' }] : [];
    const hidden = await alice.request(method, `sip:carol@${t.domain}`, { headers });
    const unknown = await alice.request(method, `sip:nobody1@${t.domain}`, { headers });
    assert.equal(hidden.status, 404);
    assert.deepEqual(shape(hidden), shape(unknown));
  });
}

test('a SUBSCRIBE to a hidden user for another event package is also a plain 404', async () => {
  const headers = [{ name: 'Event', value: 'dialog' }];
  const hidden = await alice.request('SUBSCRIBE', `sip:carol@${t.domain}`, { headers });
  const unknown = await alice.request('SUBSCRIBE', `sip:nobody2@${t.domain}`, { headers });
  assert.deepEqual(shape(hidden), shape(unknown));
});

test('an allowed user is found (the control: the test can tell found from not found)', async () => {
  const res = await alice.request('MESSAGE', `sip:bob@${t.domain}`, { body: 'x', contentType: 'text/plain' });
  assert.equal(res.status, 480, 'bob exists and alice may reach him; he is offline');
});

test('hidden and unknown take the same time, within noise', async (tc) => {
  const samples = { hidden: [] as number[], unknown: [] as number[] };
  const target = { hidden: 'carol', unknown: 'nobody3' } as const;
  for (let i = 0; i < 300; i++) {
    // Interleaved, so drift in machine load hits both alike.
    const order: ('hidden' | 'unknown')[] = i % 2 ? ['hidden', 'unknown'] : ['unknown', 'hidden'];
    for (const kind of order) {
      const start = process.hrtime.bigint();
      const res = await alice.request('MESSAGE', `sip:${target[kind]}@${t.domain}`);
      samples[kind].push(Number(process.hrtime.bigint() - start) / 1e6);
      assert.equal(res.status, 404);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const h = median(samples.hidden);
  const u = median(samples.unknown);
  const diff = Math.abs(h - u);
  tc.diagnostic(
    `median round trip: hidden ${h.toFixed(3)} ms, unknown ${u.toFixed(3)} ms (300 each, interleaved)`,
  );
  assert.ok(
    diff < Math.max(0.15, 0.2 * Math.min(h, u)),
    `median hidden ${h.toFixed(3)} ms vs unknown ${u.toFixed(3)} ms`,
  );
});

test('the policy is reloaded without a restart: allowing carol makes her reachable', async () => {
  addRule(t.admin, { domain: t.domain }, 'allow', 'alice', 'carol');
  await t.reachable('alice', 'carol'); // the running server picked the change up
  // carol's client answers OPTIONS itself, so a 200 proves the request reached her.
  assert.equal((await alice.request('OPTIONS', `sip:carol@${t.domain}`)).status, 200);
});
