import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TerminalApi } from '@tsunagu/protocol';
import { connectControl, serveControl } from './control.js';

/**
 * The CLI's client of a daemon over a real loopback socket. The daemon side is a minimal API that
 * answers `snapshot` and never answers `channel.open`, to see what a client does when the daemon goes.
 */
test('a daemon that goes away settles pending calls and refuses new ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsunagu-control-'));
  const api: TerminalApi = {
    call: (command) =>
      command === 'snapshot' ? Promise.resolve({ seq: 7 } as never) : new Promise<never>(() => undefined),
    subscribe: () => () => undefined,
  };
  const control = await serveControl(api, { profileDir: dir });
  const client = await connectControl(control.info);
  try {
    assert.equal((await client.call('snapshot', {})).seq, 7);
    // The expectation is attached before the close, so the rejection is never unhandled for a moment.
    const hanging = assert.rejects(
      client.call('channel.open', { user: 'bob' }),
      /daemon closed the connection/,
    );
    await control.close();
    await hanging;
    await assert.rejects(client.call('snapshot', {}), /daemon closed the connection/);
  } finally {
    client.close();
    await rm(dir, { recursive: true, force: true });
  }
});
