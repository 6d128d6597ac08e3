/**
 * The data-channel frame format (docs/protocol.md, "Data channel"): what two terminals send each other
 * over their peer-to-peer TLS connection to move files. Pure TypeScript, no Node APIs.
 *
 * Every frame is `length:u32be | type:u8 | body`, where `length` counts the type byte and the body.
 * HELLO opens the stream in each direction; control frames carry a UTF-8 JSON object; DATA carries
 * `id:u32be | offset:u64be | bytes`.
 */

/** Protocol version this code speaks. A peer with another major version is refused. */
export const FRAME_VERSION = { major: 1, minor: 0 } as const;

/** `TSDC` ("Tsunagu data channel"): the first bytes of HELLO's body, so a stray protocol is refused at once. */
export const HELLO_MAGIC = Uint8Array.of(0x54, 0x53, 0x44, 0x43);

export const FrameType = {
  /** Both sides, first frame: magic, major, minor, optional JSON. */
  HELLO: 0x01,
  /** Either side: a fatal protocol error; the sender closes the connection after it. */
  ERROR: 0x02,
  /** Sender → receiver: a file it would like to send. */
  OFFER: 0x10,
  /** Sender → receiver: bytes of an accepted file. */
  DATA: 0x11,
  /** Sender → receiver: every byte was sent; the whole file's SHA-256. */
  END: 0x12,
  /** Sender → receiver: the sender gives this file up (user cancel, read error, source changed). */
  CANCEL: 0x13,
  /** Receiver → sender: send from `offset` (0, or the verified length of a partial file). */
  ACCEPT: 0x20,
  /** Receiver → sender: the file is not wanted. */
  DECLINE: 0x21,
  /** Receiver → sender: final outcome: verified and saved, or failed (cancel, disk full, mismatch…). */
  REPORT: 0x22,
} as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(FrameType).map(([k, v]) => [v, k]),
);

/** Bounds every peer-supplied length and count is checked against. */
export const FrameLimits = {
  /** `length` field + type byte. */
  frameHeader: 5,
  /** DATA body before the bytes: id u32 + offset u64. */
  dataHeader: 12,
  /** Largest DATA payload (bytes of a file in one frame). */
  maxDataPayload: 256 * 1024,
  /** Largest control (JSON) body. */
  maxControlBody: 64 * 1024,
  /** Largest HELLO body. */
  maxHelloBody: 1024,
  /** Largest file: 2^53 − 1, what a JavaScript number counts exactly. */
  maxFileSize: Number.MAX_SAFE_INTEGER,
  /** File ids are u32, 0 excluded. */
  maxFileId: 0xffff_ffff,
  /** Segments of an offered relative path (folder depth + 1). */
  maxPathSegments: 64,
  /** Characters of one offered path segment before neutralisation (it is then cut to 255 UTF-8 bytes). */
  maxSegmentChars: 1024,
  /** Error / decline / report / cancel messages. */
  maxMessageChars: 1024,
  /** Codes are short machine words. */
  maxCodeChars: 64,
} as const;

/** Bytes before a DATA frame's payload: length, type, id, offset. */
export const DATA_FRAME_OVERHEAD = FrameLimits.frameHeader + FrameLimits.dataHeader;

/** A transfer id: random, stable across connections (resume), 16–64 base64url characters. */
export const TRANSFER_ID = /^[A-Za-z0-9_-]{16,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const CODE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Why a transfer ended without a verified file, as carried by DECLINE, CANCEL, REPORT and ERROR, and
 * shown to the user. Receivers accept unknown codes (treated as `failed`).
 */
export type TransferErrorCode =
  | 'declined'
  | 'cancelled'
  | 'disk-full'
  | 'write-error'
  | 'read-error'
  | 'source-changed'
  | 'hash-mismatch'
  | 'bad-name'
  | 'too-many-offers'
  | 'busy'
  | 'interrupted'
  | 'protocol-error'
  | 'version'
  | 'failed';

export interface Hello {
  major: number;
  minor: number;
  /** Free text such as `tsunagu/0.1.0`, for logs. */
  agent?: string;
}

export interface OfferGroup {
  /** Same for every file of one folder send (base64url, like a transfer id). */
  id: string;
  /** The folder's name, as the sender calls it. */
  name: string;
}

export interface Offer {
  /** Sender's file id on this connection: 1 … 2^32−1, strictly increasing. */
  id: number;
  /** Random id that names this file across connections, for resume. */
  transfer: string;
  /** Relative path, one element per segment; the last is the file name. Neutralised by the receiver. */
  path: string[];
  size: number;
  /** Modification time, ms since the epoch (informative). */
  mtime?: number;
  group?: OfferGroup;
}

export interface Accept {
  id: number;
  /** The sender sends from here: 0, or the length of the receiver's partial file. */
  offset: number;
  /** SHA-256 of the receiver's first `offset` bytes; present when `offset` > 0. */
  prefixSha256?: string;
}

export interface Decline {
  id: number;
  code: string;
  message: string;
}

export interface End {
  id: number;
  /** SHA-256 of the whole file, lower-case hex. */
  sha256: string;
}

export interface Cancel {
  id: number;
  code: string;
  message: string;
}

export type Report =
  | { id: number; ok: true; sha256: string }
  | {
      id: number;
      ok: false;
      code: string;
      message: string;
      /** The receiver kept a partial file: a later offer with the same transfer id resumes. */
      resumable?: boolean;
    };

export interface ProtocolErrorBody {
  code: string;
  message: string;
}

export interface DataHeader {
  id: number;
  offset: number;
  length: number;
}

/** A decoded frame. DATA yields its header; its bytes follow as `data-piece` items (see FrameDecoder). */
export type Frame =
  | ({ type: 'hello' } & Hello)
  | ({ type: 'error' } & ProtocolErrorBody)
  | { type: 'offer'; offer: Offer }
  | ({ type: 'data' } & DataHeader)
  | ({ type: 'end' } & End)
  | ({ type: 'cancel' } & Cancel)
  | ({ type: 'accept' } & Accept)
  | ({ type: 'decline' } & Decline)
  | { type: 'report'; report: Report };

/** A violation of the frame format by the peer. `code` goes into the ERROR frame sent before closing. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code:
      | 'bad-magic'
      | 'hello-expected'
      | 'unknown-frame-type'
      | 'frame-too-large'
      | 'empty-frame'
      | 'bad-frame'
      | 'version',
    message: string,
  ) {
    super(message);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------- encoding

function frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FrameLimits.frameHeader + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length + 1);
  out[4] = type;
  out.set(body, FrameLimits.frameHeader);
  return out;
}

function json(type: number, value: object): Uint8Array {
  const body = encoder.encode(JSON.stringify(value));
  if (body.length > FrameLimits.maxControlBody) {
    throw new RangeError(`control frame of ${body.length} bytes exceeds ${FrameLimits.maxControlBody}`);
  }
  return frame(type, body);
}

export function encodeHello(hello: Hello = { ...FRAME_VERSION }): Uint8Array {
  const extra =
    hello.agent === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify({ agent: hello.agent }));
  const body = new Uint8Array(8 + extra.length);
  body.set(HELLO_MAGIC, 0);
  const view = new DataView(body.buffer);
  view.setUint16(4, hello.major);
  view.setUint16(6, hello.minor);
  body.set(extra, 8);
  if (body.length > FrameLimits.maxHelloBody) throw new RangeError('HELLO too large');
  return frame(FrameType.HELLO, body);
}

export const encodeError = (e: ProtocolErrorBody): Uint8Array => json(FrameType.ERROR, e);
export const encodeOffer = (o: Offer): Uint8Array => json(FrameType.OFFER, o);
export const encodeEnd = (e: End): Uint8Array => json(FrameType.END, e);
export const encodeCancel = (c: Cancel): Uint8Array => json(FrameType.CANCEL, c);
export const encodeAccept = (a: Accept): Uint8Array => json(FrameType.ACCEPT, a);
export const encodeDecline = (d: Decline): Uint8Array => json(FrameType.DECLINE, d);
export const encodeReport = (r: Report): Uint8Array => json(FrameType.REPORT, r);

/**
 * Writes the 17-byte DATA frame header for `length` payload bytes into `target` at `at`, so a sender
 * can read file bytes right behind it and send header and bytes as one buffer (no copy).
 */
export function writeDataHeader(target: Uint8Array, at: number, h: DataHeader): void {
  if (!Number.isInteger(h.length) || h.length < 1 || h.length > FrameLimits.maxDataPayload) {
    throw new RangeError(`DATA payload of ${h.length} bytes (1…${FrameLimits.maxDataPayload})`);
  }
  if (!isFileId(h.id)) throw new RangeError(`bad file id ${h.id}`);
  if (!isOffset(h.offset)) throw new RangeError(`bad offset ${h.offset}`);
  const view = new DataView(target.buffer, target.byteOffset + at, DATA_FRAME_OVERHEAD);
  view.setUint32(0, 1 + FrameLimits.dataHeader + h.length);
  view.setUint8(4, FrameType.DATA);
  view.setUint32(5, h.id);
  view.setUint32(9, Math.floor(h.offset / 2 ** 32));
  view.setUint32(13, h.offset >>> 0);
}

/** A whole DATA frame (allocates; senders that care about copies use writeDataHeader). */
export function encodeData(id: number, offset: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATA_FRAME_OVERHEAD + bytes.length);
  writeDataHeader(out, 0, { id, offset, length: bytes.length });
  out.set(bytes, DATA_FRAME_OVERHEAD);
  return out;
}

// ---------------------------------------------------------------- validation

const isFileId = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= FrameLimits.maxFileId;
const isOffset = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Largest body allowed for a frame type; undefined for a type this version does not know. */
export function maxBodyFor(type: number): number | undefined {
  switch (type) {
    case FrameType.HELLO:
      return FrameLimits.maxHelloBody;
    case FrameType.DATA:
      return FrameLimits.dataHeader + FrameLimits.maxDataPayload;
    case FrameType.ERROR:
    case FrameType.OFFER:
    case FrameType.END:
    case FrameType.CANCEL:
    case FrameType.ACCEPT:
    case FrameType.DECLINE:
    case FrameType.REPORT:
      return FrameLimits.maxControlBody;
    default:
      return undefined;
  }
}

function bad(what: string): never {
  throw new FrameError('bad-frame', what);
}

class Fields {
  constructor(
    private readonly o: Record<string, unknown>,
    private readonly frameName: string,
  ) {}
  private fail(key: string, want: string): never {
    bad(`${this.frameName}: field '${key}' must be ${want}`);
  }
  id(key = 'id'): number {
    const v = this.o[key];
    return isFileId(v) ? v : this.fail(key, `an integer 1…${FrameLimits.maxFileId}`);
  }
  offset(key: string): number {
    const v = this.o[key];
    return isOffset(v) ? v : this.fail(key, 'an integer 0…2^53−1');
  }
  optionalNumber(key: string): number | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    return typeof v === 'number' && Number.isFinite(v) ? v : this.fail(key, 'a finite number');
  }
  string(key: string, max: number): string {
    const v = this.o[key];
    return typeof v === 'string' && v.length <= max
      ? v
      : this.fail(key, `a string of at most ${max} characters`);
  }
  code(key = 'code'): string {
    const v = this.o[key];
    return typeof v === 'string' && CODE.test(v) ? v : this.fail(key, 'a short lower-case code');
  }
  sha256(key: string): string {
    const v = this.o[key];
    return typeof v === 'string' && SHA256_HEX.test(v) ? v : this.fail(key, '64 lower-case hex digits');
  }
  transferId(key: string): string {
    const v = this.o[key];
    return typeof v === 'string' && TRANSFER_ID.test(v) ? v : this.fail(key, '16–64 base64url characters');
  }
  path(key: string): string[] {
    const v = this.o[key];
    if (!Array.isArray(v) || v.length < 1 || v.length > FrameLimits.maxPathSegments) {
      this.fail(key, `an array of 1…${FrameLimits.maxPathSegments} strings`);
    }
    for (const s of v) {
      if (typeof s !== 'string' || s.length < 1 || s.length > FrameLimits.maxSegmentChars) {
        this.fail(key, `an array of non-empty strings of at most ${FrameLimits.maxSegmentChars} characters`);
      }
    }
    return v as string[];
  }
  bool(key: string): boolean | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    return typeof v === 'boolean' ? v : this.fail(key, 'true or false');
  }
  object(key: string): Fields | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'an object');
    return new Fields(v as Record<string, unknown>, `${this.frameName}.${key}`);
  }
}

function parseJson(name: string, body: Uint8Array): Fields {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch {
    bad(`${name}: body is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    bad(`${name}: body is not a JSON object`);
  return new Fields(value as Record<string, unknown>, name);
}

function parseHello(body: Uint8Array): Frame {
  if (body.length < 8 || !HELLO_MAGIC.every((b, i) => body[i] === b)) {
    throw new FrameError('bad-magic', 'not a Tsunagu data channel (HELLO magic missing)');
  }
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const hello: Frame = { type: 'hello', major: view.getUint16(4), minor: view.getUint16(6) };
  if (body.length > 8) {
    // Optional JSON after the fixed part; a later minor version may add fields, so a body that does not
    // parse is ignored rather than refused (the version numbers are what matter).
    try {
      const extra: unknown = JSON.parse(decoder.decode(body.subarray(8)));
      if (typeof extra === 'object' && extra !== null) {
        const agent = (extra as Record<string, unknown>).agent;
        if (typeof agent === 'string' && agent.length <= 200) hello.agent = agent;
      }
    } catch {
      /* ignored, see above */
    }
  }
  return hello;
}

/**
 * Parses a complete non-DATA frame body. Throws FrameError for a malformed body; unknown JSON fields
 * are ignored (a later minor version may add some).
 */
export function parseControl(type: number, body: Uint8Array): Frame {
  switch (type) {
    case FrameType.HELLO:
      return parseHello(body);
    case FrameType.ERROR: {
      const f = parseJson('ERROR', body);
      return { type: 'error', code: f.code(), message: f.string('message', FrameLimits.maxMessageChars) };
    }
    case FrameType.OFFER: {
      const f = parseJson('OFFER', body);
      const offer: Offer = {
        id: f.id(),
        transfer: f.transferId('transfer'),
        path: f.path('path'),
        size: f.offset('size'),
      };
      const mtime = f.optionalNumber('mtime');
      if (mtime !== undefined) offer.mtime = mtime;
      const g = f.object('group');
      if (g) offer.group = { id: g.transferId('id'), name: g.string('name', FrameLimits.maxSegmentChars) };
      return { type: 'offer', offer };
    }
    case FrameType.END: {
      const f = parseJson('END', body);
      return { type: 'end', id: f.id(), sha256: f.sha256('sha256') };
    }
    case FrameType.CANCEL: {
      const f = parseJson('CANCEL', body);
      return {
        type: 'cancel',
        id: f.id(),
        code: f.code(),
        message: f.string('message', FrameLimits.maxMessageChars),
      };
    }
    case FrameType.ACCEPT: {
      const f = parseJson('ACCEPT', body);
      const accept: Frame = { type: 'accept', id: f.id(), offset: f.offset('offset') };
      if (accept.offset > 0) accept.prefixSha256 = f.sha256('prefixSha256');
      return accept;
    }
    case FrameType.DECLINE: {
      const f = parseJson('DECLINE', body);
      return {
        type: 'decline',
        id: f.id(),
        code: f.code(),
        message: f.string('message', FrameLimits.maxMessageChars),
      };
    }
    case FrameType.REPORT: {
      const f = parseJson('REPORT', body);
      const ok = f.bool('ok');
      if (ok === true)
        return { type: 'report', report: { id: f.id(), ok: true, sha256: f.sha256('sha256') } };
      if (ok !== false) bad("REPORT: field 'ok' must be true or false");
      const report: Report = {
        id: f.id(),
        ok: false,
        code: f.code(),
        message: f.string('message', FrameLimits.maxMessageChars),
      };
      if (f.bool('resumable') === true) report.resumable = true;
      return { type: 'report', report };
    }
    default:
      throw unknownFrameType(type);
  }
}

/** The error for a frame type this version does not know. */
export function unknownFrameType(type: number): FrameError {
  return new FrameError(
    'unknown-frame-type',
    `unknown frame type 0x${type.toString(16).padStart(2, '0')} (protocol ${FRAME_VERSION.major}.${FRAME_VERSION.minor})`,
  );
}

/** Parses DATA's fixed part (the first 12 bytes of its body) given the body length. */
export function parseDataHeader(head: Uint8Array, bodyLength: number): DataHeader {
  const view = new DataView(head.buffer, head.byteOffset, FrameLimits.dataHeader);
  const id = view.getUint32(0);
  const hi = view.getUint32(4);
  const lo = view.getUint32(8);
  const length = bodyLength - FrameLimits.dataHeader;
  if (id === 0) bad('DATA: file id 0');
  if (hi >= 2 ** 21) bad('DATA: offset beyond 2^53−1');
  if (length < 1) bad('DATA: no bytes');
  const offset = hi * 2 ** 32 + lo;
  if (offset + length > FrameLimits.maxFileSize) bad('DATA: offset + length beyond 2^53−1');
  return { id, offset, length };
}

/**
 * The answer to a peer's HELLO: undefined when we can talk, else a FrameError('version') whose message
 * the ERROR frame carries. Minor versions are compatible within a major: each side uses only what the
 * lower minor defines.
 */
export function checkHello(hello: Hello): FrameError | undefined {
  if (hello.major === FRAME_VERSION.major) return undefined;
  return new FrameError(
    'version',
    `unsupported data-channel protocol ${hello.major}.${hello.minor}: this terminal speaks ${FRAME_VERSION.major}.x`,
  );
}
