import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SipFramer, type FrameEvent } from './framer.js';
import { DEFAULT_LIMITS } from './limits.js';
import { parseMessage } from './parser.js';

function message(n: number, body = '', extra: string[] = []): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(
      `MESSAGE sip:bob@example.com SIP/2.0\r\n` +
        `Via: SIP/2.0/TLS client.example.com;branch=z9hG4bK${n}\r\n` +
        'Max-Forwards: 70\r\n' +
        'To: <sip:bob@example.com>\r\n' +
        'From: "Zoë" <sip:alice@example.com>;tag=1\r\n' +
        `Call-ID: call-${n}\r\n` +
        `CSeq: ${n} MESSAGE\r\n` +
        'Content-Type: text/plain;charset=utf-8\r\n' +
        extra.map((l) => l + '\r\n').join('') +
        `Content-Length: ${b.length}\r\n` +
        '\r\n',
    ),
    b,
  ]);
}

const types = (events: FrameEvent[]) => events.map((e) => e.type);
const data = (events: FrameEvent[]) => events.flatMap((e) => (e.type === 'message' ? [e.data] : []));

function errorOf(events: FrameEvent[]) {
  const last = events.at(-1);
  assert.equal(last?.type, 'error', `expected an error, got ${JSON.stringify(types(events))}`);
  return (last as Extract<FrameEvent, { type: 'error' }>).error;
}

/** Feeds the chunks one by one and collects every event. */
function feed(framer: SipFramer, chunks: Buffer[]): FrameEvent[] {
  return chunks.flatMap((c) => framer.push(c));
}

test('a message split at every byte boundary yields exactly the same bytes', () => {
  // A body full of CRLFs, a CRLFCRLF and multi-byte characters, so no boundary is special.
  const m = message(1, 'héllo\r\n\r\nwörld 🌸\r\nContent-Length: 999\r\n');
  for (let cut = 0; cut <= m.length; cut++) {
    const framer = new SipFramer();
    const events = feed(framer, [m.subarray(0, cut), m.subarray(cut)]);
    assert.deepEqual(types(events), ['message'], `cut at ${cut}`);
    assert.ok(data(events)[0]!.equals(m), `cut at ${cut}`);
    assert.equal(framer.pending, 0);
  }
});

test('a message fed one byte at a time, then the next one, yields both unchanged', () => {
  const a = message(1, 'first');
  const b = message(2, '');
  const framer = new SipFramer();
  const all = Buffer.concat([a, b]);
  const events: FrameEvent[] = [];
  for (let i = 0; i < all.length; i++) {
    const ev = framer.push(all.subarray(i, i + 1));
    if (i !== a.length - 1 && i !== all.length - 1) assert.deepEqual(ev, [], `byte ${i}`);
    events.push(...ev);
  }
  assert.deepEqual(
    data(events).map((d) => d.toString()),
    [a.toString(), b.toString()],
  );
});

test('several messages (and a partial one) in one chunk', () => {
  const msgs = [message(1, 'one'), message(2), message(3, 'three\r\n\r\n')];
  const next = message(4, 'four');
  const framer = new SipFramer();
  const events = framer.push(Buffer.concat([...msgs, next.subarray(0, 50)]));
  assert.deepEqual(
    data(events).map((d) => d.toString()),
    msgs.map((m) => m.toString()),
  );
  assert.equal(framer.pending, 50);
  assert.deepEqual(
    data(framer.push(next.subarray(50))).map((d) => d.toString()),
    [next.toString()],
  );
  assert.equal(framer.pending, 0);
  // The emitted buffers are copies: later pushes don't change them.
  const copy = Buffer.from(data(events)[0]!);
  framer.push(Buffer.alloc(200, 0x41));
  assert.ok(data(events)[0]!.equals(copy));
});

test('CRLFCRLF between messages is a keepalive ping (RFC 5626 §3.5.1)', () => {
  const framer = new SipFramer();
  assert.deepEqual(framer.push(Buffer.from('\r\n\r\n')), [{ type: 'keepalive' }]);
  assert.deepEqual(framer.push(Buffer.from('\r\n\r\n\r\n\r\n')), [
    { type: 'keepalive' },
    { type: 'keepalive' },
  ]);
  // Split across chunks, even inside a CRLF.
  assert.deepEqual(framer.push(Buffer.from('\r')), []);
  assert.deepEqual(framer.push(Buffer.from('\n\r')), []);
  assert.deepEqual(framer.push(Buffer.from('\n')), [{ type: 'keepalive' }]);
  // Between and after messages.
  const m = message(1);
  const events = framer.push(Buffer.concat([m, Buffer.from('\r\n\r\n'), m, Buffer.from('\r\n\r\n')]));
  assert.deepEqual(types(events), ['message', 'keepalive', 'message', 'keepalive']);
  assert.equal(framer.pending, 0);
});

test('a lone CRLF (a pong) between messages is skipped', () => {
  const framer = new SipFramer();
  const m = message(1);
  assert.deepEqual(framer.push(Buffer.from('\r\n')), []);
  const events = framer.push(Buffer.concat([m, Buffer.from('\r\n'), m, Buffer.from('\r\n')]));
  assert.deepEqual(types(events), ['message', 'message']);
  assert.ok(
    data(events).every((d) => d.equals(m)),
    'the CRLF is not part of any message',
  );
  // A CRLF then the start of a message, then the rest: no keepalive.
  assert.deepEqual(types(framer.push(Buffer.concat([m.subarray(0, 10)]))), []);
  assert.deepEqual(types(framer.push(m.subarray(10))), ['message']);
});

test('a bare CR or LF between messages is a framing error', () => {
  assert.equal(errorOf(new SipFramer().push(Buffer.from('\n'))).status, 400);
  assert.equal(errorOf(new SipFramer().push(Buffer.from('\rX'))).status, 400);
  const framer = new SipFramer();
  assert.deepEqual(types(framer.push(Buffer.concat([message(1), Buffer.from('\r\r\n')]))), [
    'message',
    'error',
  ]);
});

test('missing Content-Length on a stream → error (RFC 3261 §18.3)', () => {
  const noCl = Buffer.from(message(1).toString().replace('Content-Length: 0\r\n', ''));
  const framer = new SipFramer();
  const err = errorOf(framer.push(noCl));
  assert.equal(err.status, 400);
  assert.match(err.message, /Content-Length is required/);
  // A start line alone, too.
  assert.match(
    errorOf(new SipFramer().push(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'))).message,
    /required/,
  );
});

test('after an error nothing more is emitted and nothing is kept', () => {
  const framer = new SipFramer();
  const events = framer.push(Buffer.concat([message(1), Buffer.from('GARBAGE\r\n\r\n'), message(2)]));
  assert.deepEqual(types(events), ['message', 'error']);
  assert.equal(framer.pending, 0);
  assert.deepEqual(framer.push(message(3)), []);
  assert.deepEqual(framer.push(Buffer.from('\r\n\r\n')), []);
  assert.equal(framer.pending, 0);
});

test('Content-Length: compact and odd-cased forms, folding, repeats', () => {
  const body = 'hello';
  for (const line of ['l: 5', 'L:5', 'content-length   :   5', 'CONTENT-LENGTH:\r\n 5', 'l:\r\n\t5  ']) {
    const m = Buffer.from(message(1, body).toString().replace('Content-Length: 5', line));
    const events = new SipFramer().push(Buffer.concat([m, message(2)]));
    assert.deepEqual(types(events), ['message', 'message'], line);
    assert.ok(data(events)[0]!.equals(m), line);
    assert.equal(parseMessage(data(events)[0]!).body.toString(), body, line);
  }
  // An identical repeat is harmless; a conflicting one makes the framing ambiguous.
  const twice = message(1, body, ['l: 5']);
  assert.deepEqual(types(new SipFramer().push(twice)), ['message']);
  assert.match(errorOf(new SipFramer().push(message(1, body, ['l: 4']))).message, /Conflicting/);
  for (const v of ['-1', 'five', '5 5', '0x5', '']) {
    const m = Buffer.from(message(1, body).toString().replace('Content-Length: 5', `Content-Length: ${v}`));
    assert.equal(errorOf(new SipFramer().push(m)).status, 400, v);
  }
});

test('a header that merely looks like Content-Length is not one', () => {
  const m = message(1, 'hello', [
    'Content-Lengthy: 99',
    'X: folded\r\n Content-Length: 99',
    'Call-Info: <http://x>;l=99',
  ]);
  assert.deepEqual(types(new SipFramer().push(m)), ['message']);
});

test('Content-Length counts bytes: a UTF-8 multi-byte body', () => {
  const body = '日本語のメッセージ 🌸 ✓';
  assert.notEqual(Buffer.byteLength(body), body.length);
  const m = message(1, body);
  const framer = new SipFramer();
  const events = framer.push(Buffer.concat([m, message(2)]));
  assert.deepEqual(types(events), ['message', 'message']);
  assert.equal(parseMessage(data(events)[0]!).body.toString(), body);
});

test('header section over the limit without an end → 513, without buffering much more than the limit', () => {
  const limit = DEFAULT_LIMITS.maxHeaderBytes;
  const framer = new SipFramer();
  const chunk = Buffer.from('X-Flood: ' + 'f'.repeat(1013) + '\r\n'); // 1 KiB
  let events: FrameEvent[] = [framer.push(Buffer.from('OPTIONS sip:x SIP/2.0\r\n'))].flat();
  let pushed = 23;
  while (events.length === 0) {
    events = framer.push(chunk);
    pushed += chunk.length;
    if (events.length === 0) assert.ok(framer.pending < limit + 4, `holding ${framer.pending} bytes`);
    assert.ok(pushed <= limit + 4 + chunk.length, 'the error comes as soon as the limit is passed');
  }
  const err = errorOf(events);
  assert.equal(err.status, 513);
  assert.equal(framer.pending, 0);
  // One big chunk: the same answer at once.
  assert.equal(errorOf(new SipFramer().push(Buffer.alloc(limit + 4, 0x41))).status, 513);
  // Exactly at the limit the header section is accepted.
  const atLimit = new SipFramer({ maxHeaderBytes: 200 });
  const head = 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\nX: ';
  const m = Buffer.from(head + 'x'.repeat(200 - head.length) + '\r\n\r\n');
  assert.deepEqual(types(atLimit.push(m)), ['message']);
  const over = Buffer.from(head + 'x'.repeat(201 - head.length) + '\r\n\r\n');
  assert.equal(errorOf(new SipFramer({ maxHeaderBytes: 200 }).push(over)).status, 513);
});

test('a CRLFCRLF split across pushes at the limit is still found', () => {
  const head = 'OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\nX: ';
  const m = Buffer.from(head + 'x'.repeat(200 - head.length) + '\r\n\r\n');
  for (let cut = m.length - 5; cut < m.length; cut++) {
    const framer = new SipFramer({ maxHeaderBytes: 200 });
    assert.deepEqual(
      types(feed(framer, [m.subarray(0, cut), m.subarray(cut)])),
      ['message'],
      `cut at ${cut}`,
    );
  }
});

test('body over the limit → 413 as soon as Content-Length is read', () => {
  const limit = DEFAULT_LIMITS.maxBodyBytes;
  const head = message(1, 'x'.repeat(limit + 1)).subarray(0, 400);
  const err = errorOf(new SipFramer().push(head));
  assert.equal(err.status, 413);
  const small = new SipFramer({ maxBodyBytes: 10 });
  assert.equal(errorOf(small.push(message(1, 'x'.repeat(11)))).status, 413);
  assert.deepEqual(types(new SipFramer({ maxBodyBytes: 10 }).push(message(1, 'x'.repeat(10)))), ['message']);
  const huge = Buffer.from(
    message(1)
      .toString()
      .replace('Content-Length: 0', `Content-Length: ${'9'.repeat(30)}`),
  );
  assert.equal(errorOf(new SipFramer().push(huge)).status, 413);
});

test('a body bigger than a chunk is waited for, and pending says how much is held', () => {
  const body = 'b'.repeat(100_000);
  const m = message(1, body);
  const framer = new SipFramer();
  let got: FrameEvent[] = [];
  for (let i = 0; i < m.length; i += 16_384) {
    got = framer.push(m.subarray(i, i + 16_384));
    if (i + 16_384 < m.length) {
      assert.deepEqual(got, []);
      assert.equal(framer.pending, i + 16_384);
    }
  }
  assert.ok(data(got)[0]!.equals(m));
  assert.equal(framer.pending, 0);
});

test('hostile header sections are scanned in one pass (lines that start like Content-Length)', () => {
  // Thousands of lines starting with "c" or "l" and no colon: no Content-Length is found → error.
  const text = 'OPTIONS sip:x SIP/2.0\r\n' + 'c\r\nl\r\n'.repeat(10_000) + 'X: y:z\r\n\r\n';
  assert.ok(text.length < DEFAULT_LIMITS.maxHeaderBytes);
  assert.match(errorOf(new SipFramer().push(Buffer.from(text))).message, /required/);
  const many = 'OPTIONS sip:x SIP/2.0\r\n' + 'Content-Type: a\r\n'.repeat(3000) + 'Content-Length: 0\r\n\r\n';
  assert.deepEqual(types(new SipFramer().push(Buffer.from(many))), ['message']);
});

test('empty pushes are harmless', () => {
  const framer = new SipFramer();
  assert.deepEqual(framer.push(Buffer.alloc(0)), []);
  const m = message(1);
  framer.push(m.subarray(0, 10));
  assert.deepEqual(framer.push(Buffer.alloc(0)), []);
  assert.deepEqual(types(framer.push(m.subarray(10))), ['message']);
});
