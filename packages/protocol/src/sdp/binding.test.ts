import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BindingError,
  MAX_BINDING_LINE,
  formatBindingMessage,
  parseBindingMessage,
  type BindingMessage,
} from './binding.js';

test('binding lines round trip', () => {
  const msgs: BindingMessage[] = [
    { type: 'hello', session: 'Zq3v6y0m2bX1sH0kq9wJ2A' },
    { type: 'accept' },
    { type: 'refuse', reason: 'certificate' },
    { type: 'refuse', reason: 'session' },
    { type: 'refuse', reason: 'duplicate' },
  ];
  for (const m of msgs) {
    const line = formatBindingMessage(m);
    assert.ok(line.endsWith('\n') && line.length <= MAX_BINDING_LINE);
    assert.deepEqual(parseBindingMessage(line.slice(0, -1)), m);
    assert.deepEqual(parseBindingMessage(line.slice(0, -1) + '\r'), m);
  }
  assert.equal(formatBindingMessage({ type: 'accept' }), 'TSUNAGU-CHANNEL/1 ACCEPT\n');
});

test('binding lines: anything else is refused', () => {
  for (const bad of [
    '',
    'GET / HTTP/1.1',
    'TSUNAGU-CHANNEL/2 ACCEPT',
    'TSUNAGU-CHANNEL/1 HELLO',
    'TSUNAGU-CHANNEL/1 HELLO short',
    'TSUNAGU-CHANNEL/1 HELLO Zq3v6y0m2bX1sH0kq9wJ2A extra',
    'TSUNAGU-CHANNEL/1 ACCEPT now',
    'TSUNAGU-CHANNEL/1 REFUSE Bad Reason',
    'TSUNAGU-CHANNEL/1 REFUSE ' + 'x'.repeat(300),
  ]) {
    assert.throws(() => parseBindingMessage(bad), BindingError, bad);
  }
  assert.throws(() => formatBindingMessage({ type: 'hello', session: 'no spaces allowed' }), BindingError);
});
