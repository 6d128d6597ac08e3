import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.js';

test('secrets that slip into a log object are redacted, SIP and HTTP credentials headers included', () => {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const log = createLogger('info', sink);
  log.info(
    {
      token: 'T1',
      link: 'tsunagu://join?token=T2',
      Authorization: 'Digest response="R1"',
      'Proxy-Authorization': 'Digest response="R2"',
      sip: { authorization: 'R3', 'proxy-authorization': 'R4', password: 'P1', secret: 'S1' },
      req: { headers: { authorization: 'Bearer B1', host: 'example.test' } },
      passphrase: 'X1',
      options: { caPassphrase: 'X2' },
      ca: { keyPem: 'K1', certPem: 'CERT' },
      user: 'alice',
    },
    'something happened',
  );
  const line = JSON.parse(out) as Record<string, unknown>;
  for (const leaked of ['T1', 'T2', 'R1', 'R2', 'R3', 'R4', 'P1', 'S1', 'B1', 'X1', 'X2', 'K1'])
    assert.ok(!out.includes(leaked), `${leaked} reached the log: ${out}`);
  assert.equal(line.user, 'alice', 'everything else is kept');
  assert.equal((line.ca as { certPem: string }).certPem, 'CERT');
  assert.equal((line.req as { headers: { host: string } }).headers.host, 'example.test');
  assert.equal(line.Authorization, '[redacted]');
});
