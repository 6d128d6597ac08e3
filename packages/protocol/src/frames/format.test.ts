import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameDecoder } from './decoder.js';
import type { DecodedItem } from './decoder.js';
import {
  DATA_FRAME_OVERHEAD,
  FRAME_VERSION,
  FrameError,
  FrameLimits,
  FrameType,
  checkHello,
  encodeAccept,
  encodeCancel,
  encodeData,
  encodeDecline,
  encodeEnd,
  encodeError,
  encodeHello,
  encodeOffer,
  encodeReport,
  writeDataHeader,
} from './format.js';
import type { Frame } from './format.js';

const SHA = 'ab'.repeat(32);
const TID = 'AAAAAAAAAAAAAAAAAAAAAA';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Decodes `bytes` pushed in pieces of `step` bytes; DATA payload pieces are joined back. */
function decodeAll(
  bytes: Uint8Array,
  step = bytes.length,
): (Frame | { type: 'payload'; bytes: Uint8Array })[] {
  const d = new FrameDecoder();
  const out: (Frame | { type: 'payload'; bytes: Uint8Array })[] = [];
  let pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += step) {
    // Copies, so that views handed out must not depend on the caller keeping its buffer.
    d.push(bytes.slice(at, at + step));
    let item: DecodedItem | undefined;
    while ((item = d.next()) !== undefined) {
      if (item.type === 'data-piece') {
        pieces.push(item.bytes.slice());
        if (item.last) {
          out.push({ type: 'payload', bytes: concat(pieces) });
          pieces = [];
        }
      } else out.push(item);
    }
  }
  assert.equal(d.buffered, 0);
  return out;
}

function header(length: number, type: number): Uint8Array {
  const b = new Uint8Array(5);
  new DataView(b.buffer).setUint32(0, length);
  b[4] = type;
  return b;
}

function rawFrame(type: number, body: Uint8Array): Uint8Array {
  return concat([header(body.length + 1, type), body]);
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function decodeError(bytes: Uint8Array, withHello = true): FrameError {
  const d = new FrameDecoder();
  if (withHello) d.push(encodeHello());
  d.push(bytes);
  try {
    while (d.next() !== undefined) {
      /* drain */
    }
  } catch (e) {
    assert.ok(e instanceof FrameError, String(e));
    // The decoder stays failed.
    assert.throws(() => d.next(), FrameError);
    return e;
  }
  assert.fail('expected a FrameError');
}

describe('frames: encoding round trip', () => {
  const payload = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  const stream = concat([
    encodeHello({ major: 1, minor: 3, agent: 'tsunagu/test' }),
    encodeOffer({
      id: 1,
      transfer: TID,
      path: ['folder', 'a.txt'],
      size: 2 ** 40,
      mtime: 1700000000000,
      group: { id: TID, name: 'folder' },
    }),
    encodeAccept({ id: 7, offset: 0 }),
    encodeAccept({ id: 8, offset: 2 ** 53 - 1, prefixSha256: SHA }),
    encodeData(1, 2 ** 40 - 100_000, payload),
    encodeEnd({ id: 1, sha256: SHA }),
    encodeCancel({ id: 2, code: 'cancelled', message: 'by user' }),
    encodeDecline({ id: 3, code: 'declined', message: 'no' }),
    encodeReport({ id: 4, ok: true, sha256: SHA }),
    encodeReport({ id: 5, ok: false, code: 'disk-full', message: 'full', resumable: true }),
    encodeError({ code: 'protocol-error', message: 'bye' }),
  ]);
  const expected = [
    { type: 'hello', major: 1, minor: 3, agent: 'tsunagu/test' },
    {
      type: 'offer',
      offer: {
        id: 1,
        transfer: TID,
        path: ['folder', 'a.txt'],
        size: 2 ** 40,
        mtime: 1700000000000,
        group: { id: TID, name: 'folder' },
      },
    },
    { type: 'accept', id: 7, offset: 0 },
    { type: 'accept', id: 8, offset: 2 ** 53 - 1, prefixSha256: SHA },
    { type: 'data', id: 1, offset: 2 ** 40 - 100_000, length: 100_000 },
    { type: 'payload', bytes: payload },
    { type: 'end', id: 1, sha256: SHA },
    { type: 'cancel', id: 2, code: 'cancelled', message: 'by user' },
    { type: 'decline', id: 3, code: 'declined', message: 'no' },
    { type: 'report', report: { id: 4, ok: true, sha256: SHA } },
    { type: 'report', report: { id: 5, ok: false, code: 'disk-full', message: 'full', resumable: true } },
    { type: 'error', code: 'protocol-error', message: 'bye' },
  ];

  it('decodes what it encodes, in one push', () => {
    assert.deepEqual(decodeAll(stream), expected);
  });

  for (const step of [1, 2, 5, 17, 4096, 65537]) {
    it(`decodes the same when the bytes arrive ${step} at a time`, () => {
      assert.deepEqual(decodeAll(stream, step), expected);
    });
  }

  it('writes a DATA header in place in front of the bytes', () => {
    const buf = new Uint8Array(DATA_FRAME_OVERHEAD + 3);
    buf.set([9, 8, 7], DATA_FRAME_OVERHEAD);
    writeDataHeader(buf, 0, { id: 0xffffffff, offset: 12345678901, length: 3 });
    assert.deepEqual(buf, encodeData(0xffffffff, 12345678901, Uint8Array.of(9, 8, 7)));
  });

  it('refuses to encode what it would refuse to decode', () => {
    assert.throws(() => encodeData(0, 0, new Uint8Array(1)), RangeError);
    assert.throws(() => encodeData(1, -1, new Uint8Array(1)), RangeError);
    assert.throws(() => encodeData(1, 2 ** 53, new Uint8Array(1)), RangeError);
    assert.throws(() => encodeData(1, 0, new Uint8Array(0)), RangeError);
    assert.throws(() => encodeData(1, 0, new Uint8Array(FrameLimits.maxDataPayload + 1)), RangeError);
    assert.throws(
      () => encodeDecline({ id: 1, code: 'x', message: 'x'.repeat(FrameLimits.maxControlBody) }),
      RangeError,
    );
  });
});

describe('frames: HELLO and versions', () => {
  it('accepts the same major with any minor, refuses another major with a clear message', () => {
    assert.equal(checkHello({ major: FRAME_VERSION.major, minor: 99 }), undefined);
    const e = checkHello({ major: 2, minor: 0 });
    assert.ok(e instanceof FrameError);
    assert.equal(e.code, 'version');
    assert.match(e.message, /unsupported data-channel protocol 2\.0: this terminal speaks 1\.x/);
  });

  it('requires HELLO first', () => {
    assert.equal(decodeError(encodeAccept({ id: 1, offset: 0 }), false).code, 'hello-expected');
  });

  it('refuses a stream that is not ours (bad magic), e.g. an HTTP request', () => {
    assert.equal(decodeError(rawFrame(FrameType.HELLO, json({ hi: 1 })), false).code, 'bad-magic');
    const http = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const e = decodeError(http, false);
    assert.ok(['hello-expected', 'frame-too-large'].includes(e.code), e.code);
  });

  it('refuses a second HELLO', () => {
    assert.equal(decodeError(encodeHello()).code, 'bad-frame');
  });

  it('ignores unparsable optional HELLO data (a later minor may add some)', () => {
    const h = encodeHello();
    const body = concat([h.subarray(5), Uint8Array.of(0xff, 0x00)]);
    assert.deepEqual(decodeAll(rawFrame(FrameType.HELLO, body)), [{ type: 'hello', major: 1, minor: 0 }]);
  });
});

describe('frames: hostile input', () => {
  it('refuses a huge length from the header alone, before any body arrives', () => {
    for (const type of [FrameType.OFFER, FrameType.DATA, FrameType.ERROR]) {
      assert.equal(decodeError(header(0xffffffff, type)).code, 'frame-too-large');
    }
    assert.equal(
      decodeError(header(FrameLimits.maxControlBody + 2, FrameType.ACCEPT)).code,
      'frame-too-large',
    );
    assert.equal(decodeError(header(2000, FrameType.HELLO), false).code, 'frame-too-large');
    assert.equal(
      decodeError(header(1 + FrameLimits.dataHeader + FrameLimits.maxDataPayload + 1, FrameType.DATA)).code,
      'frame-too-large',
    );
  });

  it('refuses an unknown frame type by name', () => {
    for (const type of [0x00, 0x03, 0x14, 0x23, 0x7f, 0xff]) {
      const e = decodeError(header(1, type));
      assert.equal(e.code, 'unknown-frame-type');
      assert.match(e.message, new RegExp(`0x${type.toString(16).padStart(2, '0')}`));
    }
  });

  it('refuses a zero length and a DATA frame without bytes', () => {
    assert.equal(decodeError(header(0, FrameType.OFFER)).code, 'empty-frame');
    assert.equal(decodeError(rawFrame(FrameType.DATA, new Uint8Array(12))).code, 'bad-frame');
  });

  it('refuses DATA offsets past 2^53 and file id 0', () => {
    const body = new Uint8Array(13);
    const view = new DataView(body.buffer);
    view.setUint32(0, 1);
    view.setUint32(4, 0xffffffff); // offset ≈ 2^64: would be a negative or rounded number elsewhere
    assert.equal(decodeError(rawFrame(FrameType.DATA, body)).code, 'bad-frame');
    view.setUint32(4, 2 ** 21 - 1);
    view.setUint32(8, 0xffffffff); // exactly 2^53 − 1: one more byte overflows
    assert.match(decodeError(rawFrame(FrameType.DATA, body)).message, /beyond 2\^53/);
    view.setUint32(0, 0);
    view.setUint32(4, 0);
    assert.match(decodeError(rawFrame(FrameType.DATA, body)).message, /file id 0/);
  });

  const badBodies: [string, number, unknown][] = [
    ['negative offset', FrameType.ACCEPT, { id: 1, offset: -1 }],
    ['fractional offset', FrameType.ACCEPT, { id: 1, offset: 1.5 }],
    ['offset past 2^53', FrameType.ACCEPT, { id: 1, offset: 2 ** 53 + 2 }],
    ['resume without prefix hash', FrameType.ACCEPT, { id: 1, offset: 10 }],
    ['id 0', FrameType.END, { id: 0, sha256: SHA }],
    ['id past u32', FrameType.END, { id: 2 ** 32, sha256: SHA }],
    ['string id', FrameType.END, { id: '1', sha256: SHA }],
    ['upper-case hash', FrameType.END, { id: 1, sha256: SHA.toUpperCase() }],
    ['negative size', FrameType.OFFER, { id: 1, transfer: TID, path: ['a'], size: -5 }],
    ['huge size', FrameType.OFFER, { id: 1, transfer: TID, path: ['a'], size: 1e300 }],
    ['path as string', FrameType.OFFER, { id: 1, transfer: TID, path: '../a', size: 1 }],
    ['empty path', FrameType.OFFER, { id: 1, transfer: TID, path: [], size: 1 }],
    ['empty segment', FrameType.OFFER, { id: 1, transfer: TID, path: ['a', ''], size: 1 }],
    ['too deep', FrameType.OFFER, { id: 1, transfer: TID, path: Array(65).fill('a'), size: 1 }],
    ['long segment', FrameType.OFFER, { id: 1, transfer: TID, path: ['a'.repeat(1025)], size: 1 }],
    [
      'traversal transfer id',
      FrameType.OFFER,
      { id: 1, transfer: '../../../etc/passwd', path: ['a'], size: 1 },
    ],
    ['no transfer id', FrameType.OFFER, { id: 1, path: ['a'], size: 1 }],
    ['report without ok', FrameType.REPORT, { id: 1, sha256: SHA }],
    ['bad code', FrameType.DECLINE, { id: 1, code: 'Not A Code', message: '' }],
    ['long message', FrameType.CANCEL, { id: 1, code: 'x', message: 'm'.repeat(1025) }],
    ['array body', FrameType.ERROR, [1, 2]],
    ['null body', FrameType.ERROR, null],
  ];
  for (const [what, type, body] of badBodies) {
    it(`refuses a control frame with ${what}`, () => {
      assert.equal(decodeError(rawFrame(type, json(body))).code, 'bad-frame');
    });
  }

  it('refuses bodies that are not UTF-8 JSON', () => {
    assert.equal(decodeError(rawFrame(FrameType.OFFER, Uint8Array.of(0xc3, 0x28))).code, 'bad-frame');
    assert.equal(
      decodeError(rawFrame(FrameType.OFFER, new TextEncoder().encode('{"id":'))).code,
      'bad-frame',
    );
  });

  it('ignores unknown JSON fields (minor versions may add some)', () => {
    const items = decodeAll(
      concat([encodeHello(), rawFrame(FrameType.ACCEPT, json({ id: 2, offset: 0, future: { x: 1 } }))]),
    );
    assert.deepEqual(items[1], { type: 'accept', id: 2, offset: 0 });
  });

  it('survives random garbage: only FrameErrors, never anything else', () => {
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let round = 0; round < 500; round++) {
      const d = new FrameDecoder();
      d.push(encodeHello());
      const len = Math.floor(rand() * 300);
      const bytes = new Uint8Array(len).map(() => Math.floor(rand() * 256));
      // Plausible headers now and then, so the parsers behind them run too.
      if (len > 5 && rand() < 0.5) {
        new DataView(bytes.buffer).setUint32(0, len - 4);
        bytes[4] = [0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x02][Math.floor(rand() * 8)] as number;
      }
      d.push(bytes);
      try {
        while (d.next() !== undefined) {
          /* drain */
        }
      } catch (e) {
        assert.ok(e instanceof FrameError, `round ${round}: ${String(e)}`);
      }
    }
  });
});
