import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, EventSequence, parseCommand } from './api.js';

test('valid commands parse to their typed form', () => {
  assert.deepEqual(parseCommand({ id: 1, command: 'snapshot' }), { id: 1, command: 'snapshot', params: {} });
  assert.deepEqual(parseCommand({ id: 2, command: 'channel.open', params: { user: 'bob' } }), {
    id: 2,
    command: 'channel.open',
    params: { user: 'bob' },
  });
  assert.deepEqual(
    parseCommand({ id: 3, command: 'transfer.send', params: { channelId: 'c-1', paths: ['/tmp/a', 'b c'] } })
      .params,
    { channelId: 'c-1', paths: ['/tmp/a', 'b c'] },
  );
});

test('malformed commands get a precise error, and nothing else reaches the core', () => {
  const code = (input: unknown) => {
    try {
      parseCommand(input);
    } catch (e) {
      assert.ok(e instanceof CommandError);
      return (e as CommandError).code;
    }
    return 'accepted';
  };
  assert.equal(code('snapshot'), 'bad-request');
  assert.equal(code({ command: 'snapshot' }), 'bad-request');
  assert.equal(code({ id: -1, command: 'snapshot' }), 'bad-request');
  assert.equal(code({ id: 1, command: 'rm -rf' }), 'unknown-command');
  assert.equal(code({ id: 1, command: '__proto__' }), 'unknown-command');
  assert.equal(code({ id: 1, command: 'channel.open', params: { user: '../etc' } }), 'bad-params');
  assert.equal(code({ id: 1, command: 'channel.open', params: { user: 'Bob' } }), 'bad-params');
  assert.equal(
    code({ id: 1, command: 'channel.close', params: { channelId: 'x'.repeat(65) } }),
    'bad-params',
  );
  assert.equal(
    code({ id: 1, command: 'transfer.send', params: { channelId: 'c', paths: [] } }),
    'bad-params',
  );
  assert.equal(
    code({ id: 1, command: 'transfer.send', params: { channelId: 'c', paths: ['a\0b'] } }),
    'bad-params',
  );
  assert.equal(
    code({ id: 1, command: 'transfer.send', params: { channelId: 'c', paths: [42] } }),
    'bad-params',
  );
  assert.equal(code({ id: 1, command: 'snapshot', params: [] }), 'bad-request');
});

test('the event sequence detects gaps and skips what a snapshot already covered', () => {
  const s = new EventSequence();
  assert.equal(s.accept({ seq: 1 }), 'resync', 'no snapshot yet');
  s.reset(10);
  assert.equal(s.accept({ seq: 9 }), 'skip');
  assert.equal(s.accept({ seq: 10 }), 'skip');
  assert.equal(s.accept({ seq: 11 }), 'apply');
  assert.equal(s.accept({ seq: 13 }), 'resync', 'seq 12 was missed');
  s.reset(13);
  assert.equal(s.accept({ seq: 14 }), 'apply');
});
