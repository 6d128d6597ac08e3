import {
  FRAME_TYPE_NAMES,
  FrameError,
  FrameLimits,
  FrameType,
  maxBodyFor,
  parseControl,
  parseDataHeader,
  unknownFrameType,
} from './format.js';
import type { Frame } from './format.js';

/** A slice of a DATA frame's payload, a view into a pushed chunk (valid until that chunk is reused). */
export interface DataPiece {
  type: 'data-piece';
  bytes: Uint8Array;
  /** The last piece of the current DATA frame. */
  last: boolean;
}

export type DecodedItem = Frame | DataPiece;

/**
 * Incremental decoder for one direction of a data channel. Push the bytes as they arrive, then call
 * `next()` until it returns undefined (needs more bytes). A DATA frame comes out as its header
 * (`{type: 'data', id, offset, length}`) followed by `data-piece` items whose bytes are views of the
 * pushed chunks — the payload is never copied here, so a receiver can move it once, straight to where
 * it goes. Control frames are at most 64 KiB, so the decoder never holds more than one of them plus
 * what the caller pushed.
 *
 * Every length is checked against the frame type's bound as soon as the 5-byte header is there, before
 * any body is buffered; the first frame must be HELLO. Any violation throws a FrameError, and the
 * decoder stays failed (a framing error leaves no way to find the next frame).
 */
export class FrameDecoder {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already consumed. */
  private head = 0;
  private available = 0;
  private dataRemaining = 0;
  private helloSeen = false;
  private failed: FrameError | undefined;

  /** Bytes pushed and not yet returned. */
  get buffered(): number {
    return this.available;
  }

  /** True between a DATA header and its last piece. */
  get inData(): boolean {
    return this.dataRemaining > 0;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  next(): DecodedItem | undefined {
    if (this.failed) throw this.failed;
    try {
      return this.step();
    } catch (e) {
      this.failed = e instanceof FrameError ? e : new FrameError('bad-frame', String(e));
      throw this.failed;
    }
  }

  private step(): DecodedItem | undefined {
    if (this.dataRemaining > 0) {
      if (this.available === 0) return undefined;
      const first = this.chunks[0] as Uint8Array;
      const n = Math.min(this.dataRemaining, first.length - this.head);
      const bytes = first.subarray(this.head, this.head + n);
      this.consume(n);
      this.dataRemaining -= n;
      return { type: 'data-piece', bytes, last: this.dataRemaining === 0 };
    }
    if (this.available < FrameLimits.frameHeader) return undefined;
    const header = this.peek(FrameLimits.frameHeader);
    const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    const type = header[4] as number;
    if (length === 0) throw new FrameError('empty-frame', 'frame of length 0');
    if (!this.helloSeen && type !== FrameType.HELLO) {
      throw new FrameError(
        'hello-expected',
        `the first frame must be HELLO (got type 0x${type.toString(16)})`,
      );
    }
    const max = maxBodyFor(type);
    if (max === undefined) throw unknownFrameType(type);
    const bodyLength = length - 1;
    if (bodyLength > max) {
      throw new FrameError(
        'frame-too-large',
        `${FRAME_TYPE_NAMES[type] ?? type} frame of ${bodyLength} bytes exceeds the limit of ${max}`,
      );
    }
    if (type === FrameType.DATA) {
      if (bodyLength <= FrameLimits.dataHeader) throw new FrameError('bad-frame', 'DATA frame without bytes');
      if (this.available < FrameLimits.frameHeader + FrameLimits.dataHeader) return undefined;
      this.consume(FrameLimits.frameHeader);
      const h = parseDataHeader(this.take(FrameLimits.dataHeader), bodyLength);
      this.dataRemaining = h.length;
      return { type: 'data', ...h };
    }
    if (this.available < FrameLimits.frameHeader + bodyLength) return undefined;
    this.consume(FrameLimits.frameHeader);
    const frame = parseControl(type, this.take(bodyLength));
    if (frame.type === 'hello') {
      if (this.helloSeen) throw new FrameError('bad-frame', 'a second HELLO');
      this.helloSeen = true;
    }
    return frame;
  }

  /** The next n bytes without consuming them (n ≤ available). */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let filled = 0;
    let i = 0;
    let from = this.head;
    while (filled < n) {
      const c = this.chunks[i++] as Uint8Array;
      const k = Math.min(n - filled, c.length - from);
      out.set(c.subarray(from, from + k), filled);
      filled += k;
      from = 0;
    }
    return out;
  }

  /** The next n bytes, consumed (a copy when they span chunks). */
  private take(n: number): Uint8Array {
    const out = this.peek(n);
    // A view into a chunk the caller may reuse is copied, since control bodies outlive the call.
    const copy = out.buffer === (this.chunks[0] as Uint8Array).buffer ? out.slice() : out;
    this.consume(n);
    return copy;
  }

  private consume(n: number): void {
    this.available -= n;
    while (n > 0) {
      const first = this.chunks[0] as Uint8Array;
      const left = first.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}
