import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureThrottle } from './throttle.js';

test('blocks a key after `limit` failures within the window, and lets it go once the window moved on', () => {
  let now = 0;
  const t = new FailureThrottle(3, 60_000, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(t.retryAfter('alice'), 0);
    t.fail('alice');
  }
  assert.equal(t.retryAfter('alice'), 60);
  assert.equal(t.retryAfter('bob'), 0, 'other keys are not affected');
  now = 59_000;
  assert.equal(t.retryAfter('alice'), 1);
  now = 70_000; // in the next window the old failures still weigh (sliding window): one more blocks
  assert.equal(t.retryAfter('alice'), 0);
  t.fail('alice');
  assert.ok(t.retryAfter('alice') > 0);
  now = 181_000; // two windows later they are gone
  assert.equal(t.retryAfter('alice'), 0);
});

test('memory is bounded by maxKeys', () => {
  const t = new FailureThrottle(1, 60_000, () => 0, 100);
  for (let i = 0; i < 1000; i++) t.fail(`10.0.0.${i}`);
  assert.equal(t.retryAfter('10.0.0.0'), 0, 'the oldest keys were evicted');
  assert.ok(t.retryAfter('10.0.0.999') > 0);
});
