import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { BaseConnection, type Connection } from '../transport/connection.js';
import { ClientTransactions, newBranch } from './transactions.js';

class Bare extends BaseConnection {
  readonly transport = 'TLS' as const;
  readonly remote = { address: '192.0.2.1', port: 5061 };
  readonly local = { address: '192.0.2.2', port: 5061 };
  send(): void {}
  protected destroy(): void {}
  protected rearm(): void {}
}

/** A connection that shows how many close listeners it holds. */
function counted(): { conn: Connection; listeners: () => number } {
  const conn = new Bare(60_000);
  let n = 0;
  const onClose = conn.onClose.bind(conn);
  conn.onClose = (listener) => {
    n++;
    const off = onClose(listener);
    let removed = false;
    return () => {
      if (!removed) n--;
      removed = true;
      off();
    };
  };
  return { conn, listeners: () => n };
}

function request(branch: string): SipRequest {
  return {
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:bob@example.test',
    headers: [
      { name: 'Via', value: `SIP/2.0/TLS proxy.example.test;branch=${branch}` },
      { name: 'From', value: '<sip:alice@example.test>;tag=1' },
      { name: 'To', value: '<sip:bob@example.test>' },
      { name: 'Call-ID', value: branch },
      { name: 'CSeq', value: '1 MESSAGE' },
    ],
    body: Buffer.alloc(0),
  };
}

test('onClose: a removed listener is not called; one added after the close is called at once', () => {
  const conn = new Bare(60_000);
  const calls: string[] = [];
  const off = conn.onClose((r) => calls.push(`a:${r}`));
  conn.onClose((r) => calls.push(`b:${r}`));
  off();
  conn.close('bye');
  conn.close('again');
  assert.deepEqual(calls, ['b:bye']);
  conn.onClose((r) => calls.push(`late:${r}`));
  assert.deepEqual(calls, ['b:bye', 'late:closed']);
});

test('a finished or timed-out client transaction leaves no listener on its long-lived connection', async () => {
  const { conn, listeners } = counted();
  const txs = new ClientTransactions();
  for (let i = 0; i < 100; i++) {
    const branch = newBranch();
    const req = request(branch);
    let final = 0;
    txs.send(conn, req, branch, { onResponse: (r) => (final = r.status), onTimeout: () => assert.fail() });
    assert.equal(txs.receive(createResponse(req, 200), branch), true);
    assert.equal(final, 200);
  }
  assert.equal(listeners(), 0, 'answered transactions');
  const branch = newBranch();
  const timedOut = new Promise<boolean>((resolve) =>
    txs.send(conn, request(branch), branch, { onResponse: () => assert.fail(), onTimeout: resolve }, 10),
  );
  const keepAlive = setInterval(() => undefined, 1000); // the transaction timer is unref'd
  try {
    assert.equal(await timedOut, false);
  } finally {
    clearInterval(keepAlive);
  }
  assert.equal(listeners(), 0, 'timed-out transaction');
  assert.equal(txs.size, 0);
});

test('a connection that closes under a pending client transaction ends it at once as a flow failure', async () => {
  const conn = new Bare(60_000);
  const txs = new ClientTransactions();
  const branch = newBranch();
  const failed = new Promise<boolean>((resolve) =>
    txs.send(conn, request(branch), branch, { onResponse: () => assert.fail(), onTimeout: resolve }),
  );
  conn.close('gone');
  assert.equal(await failed, true);
  assert.equal(txs.size, 0);
});
