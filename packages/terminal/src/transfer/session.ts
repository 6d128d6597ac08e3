/**
 * File transfer over one established data channel (any Duplex; in production the mutually
 * authenticated TLS socket of the channel). Both sides run a TransferSession on their end of the
 * socket; each can send and receive at the same time. Wire format: @tsunagu/protocol frames,
 * docs/protocol.md "Data channel".
 *
 * Memory: the sender reads files into a fixed pool of slots (read-ahead of at most `slots` chunks)
 * and writes a DATA frame only while the socket accepts more (`write()` → false waits for 'drain');
 * the receiver copies each DATA payload into a slot of its own pool and, when no slot is free, stops
 * reading the socket until the disk has caught up (TCP then slows the sender). Nothing grows with the
 * file size. Hashing runs on a worker thread over the same slots (hasher.ts).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { close, fdatasync, fstat, ftruncate, open, read, write } from 'node:fs';
import type { Stats } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  DATA_FRAME_OVERHEAD,
  FRAME_VERSION,
  FrameDecoder,
  FrameError,
  FrameLimits,
  UnsafeNameError,
  checkHello,
  encodeAccept,
  encodeCancel,
  encodeDecline,
  encodeEnd,
  encodeError,
  encodeHello,
  encodeOffer,
  encodeReport,
  safeRelativePath,
  writeDataHeader,
} from '@tsunagu/protocol';
import type { DataHeader, DecodedItem, Frame, Hello, Offer, OfferGroup, Report } from '@tsunagu/protocol';
import { InlineHasher, SlotPool, WorkerHasher } from './hasher.js';
import type { Hasher } from './hasher.js';
import type { TransferProgress } from './progress.js';
import { folderTransferId, walkFolder } from './folder.js';
import { DownloadStore, PARTIAL_DIR, PARTIAL_OPEN_FLAGS, StoreError, storeError } from './store.js';
import { IncomingTransfer, OutgoingTransfer } from './transfer.js';
import type { Transfer, TransferOutcome, TransferOwner, TransferProblem } from './transfer.js';

export interface TransferSessionOptions {
  /** Where received files go (created if missing). */
  downloadDir: string;
  /** Accept every offer without asking (else listen to 'incoming' and call accept()/decline()). */
  autoAccept?: boolean;
  /**
   * Who the peer is (e.g. its AOR and certificate fingerprint, from the channel). A partial file is
   * resumed only by the peer that started it.
   */
  peer?: string;
  /** 'worker' (default): SHA-256 on a worker thread; 'inline': on the socket's thread. */
  hashing?: 'worker' | 'inline';
  /** fsync a received file before giving it its final name (default true). */
  fsync?: boolean;
  /** Least time between two progress events of one transfer, ms (default and minimum 100: ≤ 10/s). */
  progressInterval?: number;
  /** Bytes per DATA frame (default and maximum 256 KiB). */
  chunkSize?: number;
  /** Chunks in flight per direction (default 8: 2 MiB each way with 256 KiB chunks). */
  slots?: number;
  /**
   * Offers not answered yet (waiting for a decision, or accepted and waiting for a free
   * `maxOpenIncoming` place) beyond which new ones are declined (default 1024). A sender following
   * the protocol has at most its own `maxUnansweredOffers` (256) out.
   */
  maxPendingOffers?: number;
  /** Accepted incoming files open at once; later accepts wait (default 16). */
  maxOpenIncoming?: number;
  /** Sent offers not yet answered beyond which further offers wait (default 256). */
  maxUnansweredOffers?: number;
  /** Free text sent in HELLO. */
  agent?: string;
}

export interface SendOptions {
  /** The path to offer (default: the file's base name). */
  path?: string[];
  /** Reuse the transfer id of an interrupted transfer to resume it. */
  transferId?: string;
  group?: OfferGroup;
}

export interface SessionEnd {
  /** 'local': close() was called; 'peer': the peer closed or reported an error; 'error': protocol or socket error. */
  reason: 'local' | 'peer' | 'error';
  problem?: TransferProblem;
}

export type TransferSessionEvents = {
  /** An offer from the peer (state 'pending', or already accepted when resuming / autoAccept). */
  incoming: [transfer: IncomingTransfer];
  progress: [transfer: Transfer, progress: TransferProgress];
  /** A transfer, either way, became final. */
  end: [transfer: Transfer, outcome: TransferOutcome];
  /** The session is over; every unfinished transfer is 'interrupted'. */
  close: [end: SessionEnd];
};

/** Creates a random transfer / group id (128 bits, base64url). */
export const newTransferId = (): string => randomBytes(16).toString('base64url');

/** Bytes left in the socket's buffer beyond which a peer that does not read is dropped. */
const MAX_UNREAD_CONTROL = 8 * 1024 * 1024;

/** Receiving transfers by folder + transfer id, across sessions: a reconnect supersedes a dead connection. */
const receiving = new Map<string, IncomingState>();

// ---------------------------------------------------------------- small fs helpers (raw fds: fewer allocations)

const pOpen = (path: string, flags: number | string, mode?: number): Promise<number> =>
  new Promise((res, rej) => open(path, flags, mode, (e, fd) => (e ? rej(e) : res(fd))));
const pClose = (fd: number): Promise<void> => new Promise((res) => close(fd, () => res()));
const pFstat = (fd: number): Promise<Stats> =>
  new Promise((res, rej) => fstat(fd, (e, s) => (e ? rej(e) : res(s))));
const pFsync = (fd: number): Promise<void> =>
  new Promise((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));
const pTruncate = (fd: number, len: number): Promise<void> =>
  new Promise((res, rej) => ftruncate(fd, len, (e) => (e ? rej(e) : res())));

/** Reads exactly `length` bytes unless the file ends first; returns how many were read. */
async function readFully(
  fd: number,
  buf: Buffer,
  at: number,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await new Promise<number>((res, rej) =>
      read(fd, buf, at + done, length - done, position + done, (e, k) => (e ? rej(e) : res(k))),
    );
    if (n === 0) break;
    done += n;
  }
  return done;
}

async function writeFully(fd: number, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    done += await new Promise<number>((res, rej) =>
      write(fd, buf, done, length - done, position + done, (e, k) => (e ? rej(e) : res(k))),
    );
  }
}

/**
 * Feeds the first `length` bytes of the file to `hash`, a pool slot at a time (to check a partial
 * file). Stops early at the end of the file or when `stop()` says so; returns how many bytes it fed.
 */
async function hashFile(
  hasher: Hasher,
  hash: number,
  fd: number,
  pool: SlotPool,
  length: number,
  stop: () => boolean,
): Promise<number> {
  let pending: Promise<void> = Promise.resolve();
  let pos = 0;
  while (pos < length && !stop()) {
    const slot = await pool.acquire();
    const n = await readFully(fd, pool.view(slot), 0, Math.min(pool.slotSize, length - pos), pos).catch(
      (e: unknown) => {
        pool.release(slot);
        throw e;
      },
    );
    if (n === 0) {
      pool.release(slot);
      break;
    }
    pending = hasher.update(hash, pool, slot, 0, n).finally(() => pool.release(slot));
    pos += n;
  }
  await pending;
  return pos;
}

// ---------------------------------------------------------------- per-transfer state the session keeps

interface OutgoingState {
  t: OutgoingTransfer;
  fd: number | undefined;
  mtime: number;
  accept: { offset: number; prefixSha256?: string } | undefined;
  stopped: boolean;
  /** Resolves when the reading loop has let go of the file. */
  released: Promise<void>;
  release: () => void;
}

interface IncomingState {
  t: IncomingTransfer;
  session: TransferSession;
  /** prepareIncoming() at work (resolves, never rejects). */
  preparing: Promise<void>;
  offer: Offer;
  key: string;
  fd: number | undefined;
  hash: number | undefined;
  /** Next offset expected in DATA. */
  expected: number;
  /** No DATA seen since ACCEPT (the sender may restart at 0). */
  firstData: boolean;
  written: number;
  pendingWrites: number;
  idleWaiters: (() => void)[];
  firstFailure: number | undefined;
  stopped: boolean;
  /** Resolves when the file is closed and the partial file kept or removed. */
  settled: Promise<void>;
  hasPermit: boolean;
  /** Counted in `unansweredOffers` until ACCEPT, DECLINE or REPORT has gone out (or the transfer ended). */
  unanswered: boolean;
}

interface CurrentData {
  header: DataHeader;
  s: IncomingState | undefined;
  slot: number | undefined;
  filled: number;
}

export class TransferSession extends EventEmitter<TransferSessionEvents> implements TransferOwner {
  readonly progressInterval: number;
  /** Resolves with the peer's HELLO; rejects if the session ends first. */
  readonly ready: Promise<Hello>;
  /** Resolves when the session is over. */
  readonly closed: Promise<SessionEnd>;

  private readonly opts: Required<Omit<TransferSessionOptions, 'peer' | 'agent'>> & { peer: string };
  private readonly store: DownloadStore;
  private readonly decoder = new FrameDecoder();
  private hasherInstance: Hasher | undefined;
  private sendPoolInstance: SlotPool | undefined;
  private recvPoolInstance: SlotPool | undefined;

  private readonly outgoing = new Map<number, OutgoingState>();
  private nextOutgoingId = 1;
  private offerChain: Promise<void> = Promise.resolve();
  private unanswered = 0;
  private readonly unansweredWaiters: (() => void)[] = [];
  private readonly sendQueue: OutgoingState[] = [];
  private pumping = false;
  private needDrain = false;
  private readonly drainWaiters: (() => void)[] = [];

  private readonly incoming = new Map<number, IncomingState>();
  private lastIncomingId = 0;
  private unansweredOffers = 0;
  private openIncoming = 0;
  private readonly permitWaiters: (() => void)[] = [];
  private current: CurrentData | undefined;
  private waitingForSlot = false;

  private peerHello: Hello | undefined;
  private resolveReady!: (h: Hello) => void;
  private rejectReady!: (e: Error) => void;
  private resolveClosed!: (e: SessionEnd) => void;
  private ended: SessionEnd | undefined;
  /** Resolves as soon as the session starts to end (a destroyed socket may never call back its writes). */
  private readonly ending: Promise<void>;
  private resolveEnding!: () => void;

  constructor(
    private readonly socket: Duplex,
    options: TransferSessionOptions,
  ) {
    super();
    this.progressInterval = Math.max(100, options.progressInterval ?? 100);
    this.opts = {
      downloadDir: resolvePath(options.downloadDir),
      autoAccept: options.autoAccept ?? false,
      peer: options.peer ?? '',
      hashing: options.hashing ?? 'worker',
      fsync: options.fsync ?? true,
      progressInterval: this.progressInterval,
      chunkSize: Math.min(
        FrameLimits.maxDataPayload,
        Math.max(4096, options.chunkSize ?? FrameLimits.maxDataPayload),
      ),
      slots: Math.max(2, options.slots ?? 8),
      maxPendingOffers: options.maxPendingOffers ?? 1024,
      maxOpenIncoming: Math.max(1, options.maxOpenIncoming ?? 16),
      maxUnansweredOffers: Math.max(1, options.maxUnansweredOffers ?? 256),
    };
    this.store = new DownloadStore(this.opts.downloadDir);
    this.ready = new Promise<Hello>((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => undefined);
    this.closed = new Promise((res) => (this.resolveClosed = res));
    this.ending = new Promise((res) => (this.resolveEnding = res));

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => this.shutdown({ reason: 'peer' }));
    socket.on('error', (e: Error) =>
      this.shutdown({
        reason: 'error',
        problem: {
          code: 'interrupted',
          message: `connection error: ${e.message}`,
          by: 'local',
          resumable: true,
        },
      }),
    );
    socket.on('close', () => this.shutdown({ reason: 'peer' }));
    this.sendControl(encodeHello({ ...FRAME_VERSION, agent: options.agent ?? 'tsunagu' }));
  }

  /** The download folder (absolute). */
  get downloadDir(): string {
    return this.opts.downloadDir;
  }

  get transfers(): Transfer[] {
    return [...[...this.outgoing.values()].map((s) => s.t), ...[...this.incoming.values()].map((s) => s.t)];
  }

  // ================================================================ public API

  /** Offers one file. The returned transfer reports progress and ends verified or with a problem. */
  sendFile(path: string, options: SendOptions = {}): OutgoingTransfer {
    const source = resolvePath(path);
    const segments = options.path ?? [source.split(/[\\/]/).pop() ?? 'file'];
    const transferId = options.transferId ?? newTransferId();
    const t = new OutgoingTransfer(this, this.nextOutgoingId++, transferId, segments, source, options.group);
    let release!: () => void;
    const s: OutgoingState = {
      t,
      fd: undefined,
      mtime: 0,
      accept: undefined,
      stopped: false,
      released: new Promise((r) => (release = r)),
      release: () => release(),
    };
    this.outgoing.set(t.id, s);
    void t.done.then(() => this.outgoing.delete(t.id));
    // Offers leave in id order (the protocol wants increasing ids), at most maxUnansweredOffers ahead.
    this.offerChain = this.offerChain.then(() => this.offer(s));
    return t;
  }

  /**
   * Offers every regular file under `dir` (symbolic links are skipped, empty folders are not sent),
   * each with its path relative to `dir`'s parent, as one group. Pass the `groupId` of an interrupted
   * folder send to resume it (each file's transfer id derives from the group id and its path).
   */
  async sendFolder(
    dir: string,
    options: { groupId?: string } = {},
  ): Promise<{ groupId: string; transfers: OutgoingTransfer[] }> {
    const groupId = options.groupId ?? newTransferId();
    const root = resolvePath(dir);
    const files = await walkFolder(root);
    const group: OfferGroup = { id: groupId, name: files.rootName };
    const transfers = files.entries.map((f) =>
      this.sendFile(f.absolute, {
        path: f.segments,
        group,
        transferId: folderTransferId(groupId, f.segments),
      }),
    );
    return { groupId, transfers };
  }

  /** Ends the session: unfinished transfers become 'interrupted' (resumable), the socket is ended. */
  async close(): Promise<SessionEnd> {
    this.shutdown({ reason: 'local' });
    return this.closed;
  }

  // ================================================================ TransferOwner

  onProgress(t: Transfer, p: TransferProgress): void {
    this.emit('progress', t, p);
  }

  acceptTransfer(t: Transfer): void {
    const s = this.incoming.get(t.id);
    if (!s || s.t !== t || t.state !== 'pending') return;
    t.setState('preparing');
    s.preparing = this.prepareIncoming(s);
  }

  declineTransfer(t: Transfer, message: string): void {
    const s = this.incoming.get(t.id);
    if (!s || s.t !== t || t.state !== 'pending') return;
    this.sendControl(encodeDecline({ id: t.id, code: 'declined', message }));
    this.endIncoming(s, 'declined', { code: 'declined', message, by: 'local', resumable: false }, false);
  }

  cancelTransfer(t: Transfer, message: string): void {
    if (t.direction === 'send') {
      const s = this.outgoing.get(t.id);
      if (!s || s.t !== t) return;
      if (t.state !== 'opening') this.sendControl(encodeCancel({ id: t.id, code: 'cancelled', message }));
      this.endOutgoing(s, 'cancelled', { code: 'cancelled', message, by: 'local', resumable: false });
    } else {
      const s = this.incoming.get(t.id);
      if (!s || s.t !== t || t.state === 'verifying') return;
      this.sendControl(encodeReport({ id: t.id, ok: false, code: 'cancelled', message }));
      this.endIncoming(s, 'cancelled', { code: 'cancelled', message, by: 'local', resumable: false }, false);
    }
  }

  // ================================================================ plumbing

  private get hasher(): Hasher {
    this.hasherInstance ??= this.opts.hashing === 'inline' ? new InlineHasher() : new WorkerHasher();
    return this.hasherInstance;
  }

  private get sendPool(): SlotPool {
    this.sendPoolInstance ??= new SlotPool(DATA_FRAME_OVERHEAD + this.opts.chunkSize, this.opts.slots);
    return this.sendPoolInstance;
  }

  private get recvPool(): SlotPool {
    this.recvPoolInstance ??= new SlotPool(FrameLimits.maxDataPayload, this.opts.slots);
    return this.recvPoolInstance;
  }

  private get open(): boolean {
    return this.ended === undefined;
  }

  private sendControl(frame: Uint8Array): void {
    if (!this.open || !this.socket.writable) return;
    this.socket.write(frame);
    if (this.socket.writableLength > MAX_UNREAD_CONTROL) {
      this.fail('protocol-error', 'the peer does not read what it is sent', 'local');
    }
  }

  private onDrain(): void {
    this.needDrain = false;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private writable(): Promise<void> {
    if (!this.needDrain || !this.open) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** A fatal problem: tell the peer (ERROR), close, interrupt everything. */
  private fail(code: string, message: string, by: 'local' | 'peer'): void {
    if (!this.open) return;
    if (by === 'local') this.sendControl(encodeError({ code, message }));
    this.shutdown({
      reason: by === 'local' ? 'error' : 'peer',
      problem: { code, message, by, resumable: true },
    });
  }

  private shutdown(end: SessionEnd): void {
    if (this.ended) return;
    this.ended = end;
    this.resolveEnding();
    this.rejectReady(new Error(end.problem?.message ?? 'the data channel closed'));
    for (const w of this.drainWaiters.splice(0)) w();
    for (const w of this.unansweredWaiters.splice(0)) w();
    for (const w of this.permitWaiters.splice(0)) w();
    const problem: TransferProblem = {
      code: 'interrupted',
      message: end.problem ? `connection closed: ${end.problem.message}` : 'the connection closed',
      by: end.reason === 'local' ? 'local' : 'peer',
      resumable: true,
    };
    const settled: Promise<unknown>[] = [];
    for (const s of this.outgoing.values()) {
      if (!s.t.final) this.endOutgoing(s, 'interrupted', problem);
      settled.push(s.released);
    }
    for (const s of this.incoming.values()) {
      if (!s.t.final) this.endIncoming(s, 'interrupted', problem, true);
      settled.push(s.settled);
    }
    if (this.socket.writable) {
      this.socket.end();
      // A peer that never reads would keep the socket open: give the last frames a moment, then drop it.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else this.socket.destroy();
    void Promise.allSettled(settled)
      .then(() => this.hasherInstance?.close())
      .catch(() => undefined)
      .then(() => {
        this.emit('close', end);
        this.resolveClosed(end);
      });
  }

  // ================================================================ receiving frames

  private onData(chunk: Buffer): void {
    if (!this.open) return;
    this.decoder.push(chunk);
    if (!this.waitingForSlot) this.pump();
  }

  private pump(): void {
    while (this.open) {
      const cur = this.current;
      if (cur && cur.s && cur.slot === undefined) {
        const slot = this.recvPool.tryAcquire();
        if (slot === undefined) {
          this.waitForSlot(cur);
          return;
        }
        cur.slot = slot;
      }
      let item: DecodedItem | undefined;
      try {
        item = this.decoder.next();
      } catch (e) {
        const fe = e instanceof FrameError ? e : new FrameError('bad-frame', String(e));
        this.fail(fe.code === 'version' ? 'version' : 'protocol-error', fe.message, 'local');
        return;
      }
      if (item === undefined) return;
      try {
        this.handle(item);
      } catch (e) {
        this.fail('protocol-error', e instanceof Error ? e.message : String(e), 'local');
        return;
      }
    }
  }

  private waitForSlot(cur: CurrentData): void {
    this.waitingForSlot = true;
    this.socket.pause();
    void this.recvPool.acquire().then((slot) => {
      this.waitingForSlot = false;
      if (!this.open || this.current !== cur) {
        this.recvPool.release(slot);
        return;
      }
      cur.slot = slot;
      this.socket.resume();
      this.pump();
    });
  }

  private handle(item: DecodedItem): void {
    if (item.type === 'data-piece') return this.onDataPiece(item.bytes, item.last);
    if (item.type !== 'hello' && this.peerHello === undefined) throw new Error('HELLO expected');
    this.onFrame(item);
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'hello': {
        const refused = checkHello(f);
        if (refused) return this.fail('version', refused.message, 'local');
        this.peerHello = f;
        return this.resolveReady(f);
      }
      case 'error':
        return this.fail(f.code, `the peer closed the channel: ${f.message}`, 'peer');
      case 'offer':
        return this.onOffer(f.offer);
      case 'data':
        return this.onDataHeader(f);
      case 'end':
        return this.onEnd(f.id, f.sha256);
      case 'cancel':
        return this.onCancel(f.id, f.code, f.message);
      case 'accept':
        return this.onAccept(f.id, f.offset, f.prefixSha256);
      case 'decline':
        return this.onDecline(f.id, f.code, f.message);
      case 'report':
        return this.onReport(f.report);
    }
  }

  // ================================================================ sending side

  private async offer(s: OutgoingState): Promise<void> {
    const t = s.t;
    if (t.final) return s.release();
    try {
      await this.ready;
    } catch {
      return; // shutdown() has already ended the transfer
    }
    while (this.unanswered >= this.opts.maxUnansweredOffers && this.open && !t.final) {
      await new Promise<void>((r) => this.unansweredWaiters.push(r));
    }
    if (t.final || !this.open) return;
    let stat: Stats;
    try {
      const fd = await pOpen(t.source, 'r');
      if (t.final) return void (await pClose(fd)); // cancelled meanwhile
      s.fd = fd;
      stat = await pFstat(fd);
      if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    } catch (e) {
      const msg = `cannot read ${t.source}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      this.endOutgoing(s, 'failed', { code: 'read-error', message: msg, by: 'local', resumable: false });
      return;
    }
    if (t.final) return; // cancelled while opening; endOutgoing closes the fd
    t.size = stat.size;
    s.mtime = stat.mtimeMs;
    const offer: Offer = {
      id: t.id,
      transfer: t.transferId,
      path: t.path,
      size: t.size,
      mtime: Math.floor(stat.mtimeMs),
    };
    if (t.group) offer.group = t.group;
    this.unanswered++;
    t.setState('offered');
    t.startProgress(0);
    this.sendControl(encodeOffer(offer));
  }

  private answered(s: OutgoingState): void {
    if (s.t.state !== 'offered') return;
    this.unanswered--;
    this.unansweredWaiters.shift()?.();
  }

  private outgoingFor(id: number, frame: string): OutgoingState | undefined {
    const s = this.outgoing.get(id);
    if (s === undefined && id < this.nextOutgoingId) return undefined; // finished and forgotten
    if (s === undefined || s.t.state === 'opening')
      throw new Error(`${frame} for file ${id}, which was never offered`);
    return s.t.final ? undefined : s;
  }

  private onAccept(id: number, offset: number, prefixSha256: string | undefined): void {
    const s = this.outgoingFor(id, 'ACCEPT');
    if (!s) return;
    if (s.t.state !== 'offered') throw new Error(`a second ACCEPT for file ${id}`);
    this.answered(s);
    s.accept = prefixSha256 === undefined ? { offset } : { offset, prefixSha256 };
    s.t.setState('sending');
    this.sendQueue.push(s);
    void this.pumpSend();
  }

  private onDecline(id: number, code: string, message: string): void {
    const s = this.outgoingFor(id, 'DECLINE');
    if (!s) return;
    this.answered(s);
    this.endOutgoing(s, 'declined', { code, message, by: 'peer', resumable: false });
  }

  private onReport(r: Report): void {
    const s = this.outgoingFor(r.id, 'REPORT');
    if (!s) return;
    this.answered(s);
    if (r.ok) {
      if (s.t.sha256 !== undefined && s.t.sha256 !== r.sha256) {
        this.endOutgoing(s, 'failed', {
          code: 'hash-mismatch',
          message: 'the receiver reports a different SHA-256',
          by: 'peer',
          resumable: false,
        });
      } else {
        s.t.sha256 = r.sha256;
        s.t.reportProgress(s.t.size, true);
        s.t.finish(
          { status: 'verified', sha256: r.sha256, resumedFrom: s.t.resumedFrom },
          this.closeOutgoing(s),
        );
        this.emit('end', s.t, s.t.outcome as TransferOutcome);
      }
      return;
    }
    const status = r.code === 'cancelled' ? 'cancelled' : 'failed';
    this.endOutgoing(s, status, {
      code: r.code,
      message: r.message,
      by: 'peer',
      resumable: r.resumable === true,
    });
  }

  private closeOutgoing(s: OutgoingState): Promise<void> {
    s.stopped = true;
    if (!this.pumpingState(s)) s.release();
    return s.released.then(async () => {
      const fd = s.fd;
      s.fd = undefined;
      if (fd !== undefined) await pClose(fd);
    });
  }

  /** Whether the sending loop currently works on `s` (it then releases it itself). */
  private pumpingState(s: OutgoingState): boolean {
    return this.streaming === s;
  }

  private streaming: OutgoingState | undefined;

  private endOutgoing(
    s: OutgoingState,
    status: 'declined' | 'cancelled' | 'failed' | 'interrupted',
    problem: TransferProblem,
  ): void {
    if (s.t.final) return;
    this.answered(s);
    s.t.finish({ status, problem }, this.closeOutgoing(s));
    this.emit('end', s.t, s.t.outcome as TransferOutcome);
  }

  private async pumpSend(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let s = this.sendQueue.shift(); s && this.open; s = this.sendQueue.shift()) {
        if (s.t.final) continue;
        this.streaming = s;
        try {
          await this.stream(s);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (!s.t.final) {
            const message = `cannot read ${s.t.source}: ${code ?? String(e)}`;
            this.sendControl(encodeCancel({ id: s.t.id, code: 'read-error', message }));
            this.streaming = undefined;
            s.release();
            this.endOutgoing(s, 'failed', { code: 'read-error', message, by: 'local', resumable: false });
          }
        } finally {
          if (this.streaming === s) this.streaming = undefined;
          s.release();
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async stream(s: OutgoingState): Promise<void> {
    const t = s.t;
    const accept = s.accept as { offset: number; prefixSha256?: string };
    const hasher = this.hasher;
    let hash = hasher.create();
    let start = 0;
    if (accept.offset > 0 && accept.offset <= t.size) {
      // The receiver has a partial file: resume only if its bytes are ours (same prefix hash).
      const end = await hashFile(hasher, hash, s.fd as number, this.sendPool, accept.offset, () => s.stopped);
      if (end < accept.offset || s.stopped) return hasher.drop(hash);
      if ((await hasher.peek(hash)) === accept.prefixSha256) start = accept.offset;
      else {
        hasher.drop(hash);
        hash = hasher.create();
      }
    }
    t.resumedFrom = start;
    t.startProgress(start);

    const pool = this.sendPool;
    const chunk = this.opts.chunkSize;
    const fd = s.fd as number;
    const inFlight = new Set<Promise<void>>();
    const readChunk = async (pos: number): Promise<{ slot: number; n: number; want: number }> => {
      const slot = await pool.acquire();
      const want = Math.min(chunk, t.size - pos);
      try {
        return { slot, n: await readFully(fd, pool.view(slot), DATA_FRAME_OVERHEAD, want, pos), want };
      } catch (e) {
        pool.release(slot);
        throw e;
      }
    };
    let pos = start;
    let next = pos < t.size ? readChunk(pos) : undefined;
    let sent = start;
    while (next) {
      const { slot, n, want } = await next;
      if (s.stopped || !this.open) {
        pool.release(slot);
        hasher.drop(hash);
        return;
      }
      if (n < want) {
        pool.release(slot);
        hasher.drop(hash);
        return this.sourceChanged(s, 'the file became shorter while it was being sent');
      }
      const offset = pos;
      pos += n;
      next = pos < t.size ? readChunk(pos) : undefined; // read ahead while this chunk goes out
      const buf = pool.view(slot);
      writeDataHeader(buf, 0, { id: t.id, offset, length: n });
      const hashed = hasher.update(hash, pool, slot, DATA_FRAME_OVERHEAD, n);
      await this.writable();
      if (s.stopped || !this.open) {
        void hashed.finally(() => pool.release(slot));
        if (next) void next.then((c) => pool.release(c.slot)).catch(() => undefined);
        hasher.drop(hash);
        return;
      }
      const written = new Promise<void>((res) => {
        if (!this.socket.write(buf.subarray(0, DATA_FRAME_OVERHEAD + n), () => res())) this.needDrain = true;
      });
      const both: Promise<void> = Promise.all([hashed, written]).then(
        () => {
          sent += n;
          t.reportProgress(sent);
        },
        () => undefined,
      );
      inFlight.add(both);
      void both.finally(() => {
        inFlight.delete(both);
        pool.release(slot);
      });
    }
    await Promise.race([Promise.all(inFlight), this.ending]);
    if (s.stopped || !this.open) return hasher.drop(hash);
    const sha256 = await hasher.digest(hash);
    const now = await pFstat(fd);
    if (now.size !== t.size || now.mtimeMs !== s.mtime) {
      return this.sourceChanged(s, 'the file changed while it was being sent');
    }
    if (s.stopped || !this.open) return;
    t.sha256 = sha256;
    t.setState('finishing');
    t.reportProgress(t.size, true);
    this.sendControl(encodeEnd({ id: t.id, sha256 }));
  }

  private sourceChanged(s: OutgoingState, message: string): void {
    this.sendControl(encodeCancel({ id: s.t.id, code: 'source-changed', message }));
    this.endOutgoing(s, 'failed', { code: 'source-changed', message, by: 'local', resumable: false });
  }

  // ================================================================ receiving side

  private incomingFor(id: number, frame: string): IncomingState | undefined {
    const s = this.incoming.get(id);
    if (s) return s.t.final ? undefined : s;
    if (id <= this.lastIncomingId) return undefined; // finished earlier: late frames are dropped
    throw new Error(`${frame} for file ${id}, which was never offered`);
  }

  private onOffer(offer: Offer): void {
    if (offer.id <= this.lastIncomingId) {
      throw new Error(`OFFER ids must increase (got ${offer.id} after ${this.lastIncomingId})`);
    }
    this.lastIncomingId = offer.id;
    let segments: string[];
    try {
      segments = safeRelativePath(offer.path, [PARTIAL_DIR]).segments;
    } catch (e) {
      const message = e instanceof UnsafeNameError ? `unusable name: ${e.message}` : String(e);
      this.sendControl(encodeDecline({ id: offer.id, code: 'bad-name', message }));
      return;
    }
    if (this.unansweredOffers >= this.opts.maxPendingOffers) {
      const message = 'too many offers waiting for an answer';
      this.sendControl(encodeDecline({ id: offer.id, code: 'too-many-offers', message }));
      return;
    }
    const t = new IncomingTransfer(
      this,
      offer.id,
      offer.transfer,
      segments,
      offer.size,
      offer.group,
      offer.path,
      false,
    );
    const s: IncomingState = {
      t,
      offer,
      key: `${this.opts.downloadDir}\0${offer.transfer}`,
      fd: undefined,
      hash: undefined,
      expected: 0,
      firstData: true,
      written: 0,
      pendingWrites: 0,
      idleWaiters: [],
      firstFailure: undefined,
      stopped: false,
      settled: Promise.resolve(),
      hasPermit: false,
      unanswered: true,
      session: this,
      preparing: Promise.resolve(),
    };
    this.incoming.set(offer.id, s);
    void t.done.then(() => this.incoming.delete(offer.id));
    this.unansweredOffers++;
    void this.reviewOffer(s);
  }

  /** Looks for an earlier attempt of the same transfer, then asks (or auto-accepts). */
  private async reviewOffer(s: IncomingState): Promise<void> {
    const t = s.t;
    let resume: boolean;
    try {
      await this.store.init();
      const done = await this.store.readDone(t.transferId);
      if (done && done.peer === this.opts.peer && done.size === t.size && !t.final) {
        // Received on an earlier connection whose REPORT got lost: say so again.
        this.offerAnswered(s);
        this.sendControl(encodeReport({ id: t.id, ok: true, sha256: done.sha256 }));
        t.savedAs = resolvePath(this.opts.downloadDir, done.savedAs);
        t.sha256 = done.sha256;
        t.finish({ status: 'verified', sha256: done.sha256, savedAs: t.savedAs, resumedFrom: t.size });
        this.emit('end', t, t.outcome as TransferOutcome);
        return;
      }
      const partial = await this.store.readPartial(t.transferId);
      resume = partial !== undefined && partial.meta.peer === this.opts.peer && partial.meta.size === t.size;
      if (partial && !resume && partial.meta.peer !== this.opts.peer) {
        this.sendControl(encodeDecline({ id: t.id, code: 'busy', message: 'transfer id in use' }));
        this.endIncoming(
          s,
          'declined',
          { code: 'busy', message: 'transfer id in use', by: 'local', resumable: false },
          true,
        );
        return;
      }
      if (t.group && t.path.length > 1) {
        const root = await this.store.groupRoot(t.group.id, t.path[0] as string, this.opts.peer);
        t.path = [root, ...t.path.slice(1)];
      }
    } catch (e) {
      if (t.state !== 'pending') return;
      const err = storeError(e, 'preparing the download folder');
      this.sendControl(encodeReport({ id: t.id, ok: false, code: err.code, message: err.message }));
      this.endIncoming(
        s,
        'failed',
        { code: err.code, message: err.message, by: 'local', resumable: false },
        true,
      );
      return;
    }
    if (t.state !== 'pending' || !this.open) return;
    t.resumable = resume;
    this.emit('incoming', t);
    // Resuming needs no second decision: the user accepted this file on the first connection.
    if (resume || this.opts.autoAccept) t.accept();
  }

  private async permit(s: IncomingState): Promise<void> {
    while (this.openIncoming >= this.opts.maxOpenIncoming && this.open && !s.t.final) {
      await new Promise<void>((r) => this.permitWaiters.push(r));
    }
    if (!this.open || s.t.final) return;
    this.openIncoming++;
    s.hasPermit = true;
  }

  private async prepareIncoming(s: IncomingState): Promise<void> {
    const t = s.t;
    await this.permit(s);
    if (!s.hasPermit) return;
    try {
      // A transfer still running on a connection that died unnoticed gives way to this one.
      const previous = receiving.get(s.key);
      if (previous && previous !== s) {
        previous.session.endIncoming(
          previous,
          'interrupted',
          { code: 'interrupted', message: 'superseded by a new connection', by: 'local', resumable: true },
          true,
        );
        await previous.settled;
      }
      if (t.final) return;
      receiving.set(s.key, s);
      const partial = await this.store.readPartial(t.transferId);
      let length =
        partial && partial.meta.peer === this.opts.peer && partial.meta.size === t.size ? partial.length : 0;
      await this.store.writePartialMeta({
        transfer: t.transferId,
        path: t.path,
        size: t.size,
        peer: this.opts.peer,
        created: Date.now(),
      });
      s.fd = await pOpen(this.store.partialPath(t.transferId), PARTIAL_OPEN_FLAGS, 0o600);
      if (t.final) return;
      s.hash = this.hasher.create();
      let prefix: string | undefined;
      if (length > 0) {
        // The partial file may be shorter than it was: what was actually read counts.
        length = await hashFile(this.hasher, s.hash, s.fd, this.recvPool, length, () => s.t.final);
        if (length > 0) prefix = await this.hasher.peek(s.hash);
      }
      if (t.final || !this.open) return;
      s.expected = length;
      s.written = length;
      t.resumedFrom = length;
      t.startProgress(length);
      t.setState('receiving');
      this.sendControl(
        encodeAccept(
          prefix === undefined ? { id: t.id, offset: 0 } : { id: t.id, offset: length, prefixSha256: prefix },
        ),
      );
      this.offerAnswered(s);
    } catch (e) {
      if (t.final) return;
      const err = storeError(e, 'creating the file');
      this.sendControl(encodeReport({ id: t.id, ok: false, code: err.code, message: err.message }));
      this.endIncoming(
        s,
        'failed',
        { code: err.code, message: err.message, by: 'local', resumable: false },
        false,
      );
    }
  }

  private onDataHeader(h: DataHeader): void {
    const s = this.incoming.get(h.id);
    if (!s) {
      if (h.id > this.lastIncomingId) throw new Error(`DATA for file ${h.id}, which was never offered`);
      this.current = { header: h, s: undefined, slot: undefined, filled: 0 }; // late data: dropped
      return;
    }
    const t = s.t;
    if (t.final || s.stopped) {
      this.current = { header: h, s: undefined, slot: undefined, filled: 0 };
      return;
    }
    if (t.state !== 'receiving') throw new Error(`DATA for file ${h.id} before ACCEPT or after END`);
    if (h.offset + h.length > t.size) {
      throw new Error(`DATA for file ${h.id} past its offered size (${h.offset}+${h.length} > ${t.size})`);
    }
    if (h.offset !== s.expected) {
      if (!(s.firstData && h.offset === 0)) {
        throw new Error(`DATA for file ${h.id} at offset ${h.offset}, expected ${s.expected}`);
      }
      // The sender did not recognise our partial file (its prefix hash differs): start over.
      this.hasher.drop(s.hash as number);
      s.hash = this.hasher.create();
      s.written = 0;
      t.resumedFrom = 0;
      t.startProgress(0);
    }
    s.firstData = false;
    s.expected = h.offset + h.length;
    this.current = { header: h, s, slot: undefined, filled: 0 };
  }

  private onDataPiece(bytes: Uint8Array, last: boolean): void {
    const cur = this.current;
    if (!cur) throw new Error('DATA bytes without a header');
    if (cur.s && cur.slot !== undefined) {
      this.recvPool.view(cur.slot).set(bytes, cur.filled);
      cur.filled += bytes.length;
    }
    if (!last) return;
    this.current = undefined;
    if (cur.s && cur.slot !== undefined) this.writeChunk(cur.s, cur.slot, cur.header);
  }

  private writeChunk(s: IncomingState, slot: number, h: DataHeader): void {
    const pool = this.recvPool;
    if (s.stopped) return pool.release(slot);
    s.pendingWrites++;
    const hashed = this.hasher.update(s.hash as number, pool, slot, 0, h.length);
    const written = writeFully(s.fd as number, pool.view(slot), h.length, h.offset).then(
      () => {
        s.written += h.length;
        s.t.reportProgress(s.written);
      },
      (e: unknown) => {
        s.firstFailure = Math.min(s.firstFailure ?? Infinity, h.offset);
        if (s.t.final || s.stopped) return;
        const err = storeError(e, 'writing');
        // Keep what was written before the failure: offering the file again resumes from there.
        this.sendControl(
          encodeReport({ id: s.t.id, ok: false, code: err.code, message: err.message, resumable: true }),
        );
        this.endIncoming(
          s,
          'failed',
          { code: err.code, message: err.message, by: 'local', resumable: true },
          true,
        );
      },
    );
    void Promise.allSettled([hashed, written]).then(() => {
      pool.release(slot);
      s.pendingWrites--;
      if (s.pendingWrites === 0) for (const w of s.idleWaiters.splice(0)) w();
    });
  }

  private idle(s: IncomingState): Promise<void> {
    if (s.pendingWrites === 0) return Promise.resolve();
    return new Promise((r) => s.idleWaiters.push(r));
  }

  private onEnd(id: number, sha256: string): void {
    const s = this.incomingFor(id, 'END');
    if (!s || s.stopped) return;
    if (s.t.state !== 'receiving') throw new Error(`END for file ${id} before ACCEPT`);
    if (s.expected !== s.t.size)
      throw new Error(`END for file ${id} after ${s.expected} of ${s.t.size} bytes`);
    s.t.setState('verifying');
    void this.verify(s, sha256);
  }

  private async verify(s: IncomingState, sha256: string): Promise<void> {
    const t = s.t;
    try {
      await this.idle(s);
      if (t.final) return;
      const actual = await this.hasher.digest(s.hash as number);
      s.hash = undefined;
      if (t.final) return;
      if (actual !== sha256) {
        const message = `SHA-256 mismatch: the file received is not the file sent (got ${actual.slice(0, 16)}…, expected ${sha256.slice(0, 16)}…)`;
        this.sendControl(encodeReport({ id: t.id, ok: false, code: 'hash-mismatch', message }));
        this.endIncoming(
          s,
          'failed',
          { code: 'hash-mismatch', message, by: 'local', resumable: false },
          false,
        );
        return;
      }
      if (this.opts.fsync) await pFsync(s.fd as number);
      const fd = s.fd as number;
      s.fd = undefined;
      await pClose(fd);
      const savedAs = await this.store.commit(t.transferId, t.path);
      await this.store.finish({
        transfer: t.transferId,
        size: t.size,
        peer: this.opts.peer,
        sha256,
        savedAs: savedAs.slice(this.opts.downloadDir.length + 1),
        at: Date.now(),
      });
      t.savedAs = savedAs;
      t.sha256 = sha256;
      this.sendControl(encodeReport({ id: t.id, ok: true, sha256 }));
      t.reportProgress(t.size, true);
      this.releaseIncoming(s);
      t.finish({ status: 'verified', sha256, savedAs, resumedFrom: t.resumedFrom });
      this.emit('end', t, t.outcome as TransferOutcome);
    } catch (e) {
      if (t.final) return;
      const err = e instanceof StoreError ? e : storeError(e, 'saving the file');
      this.sendControl(
        encodeReport({ id: t.id, ok: false, code: err.code, message: err.message, resumable: true }),
      );
      this.endIncoming(
        s,
        'failed',
        { code: err.code, message: err.message, by: 'local', resumable: true },
        true,
      );
    }
  }

  private onCancel(id: number, code: string, message: string): void {
    const s = this.incomingFor(id, 'CANCEL');
    if (!s) return;
    const status = code === 'cancelled' ? 'cancelled' : 'failed';
    this.endIncoming(s, status, { code, message, by: 'peer', resumable: false }, false);
  }

  private offerAnswered(s: IncomingState): void {
    if (!s.unanswered) return;
    s.unanswered = false;
    this.unansweredOffers--;
  }

  private releaseIncoming(s: IncomingState): void {
    if (receiving.get(s.key) === s) receiving.delete(s.key);
    if (s.hasPermit) {
      s.hasPermit = false;
      this.openIncoming--;
      this.permitWaiters.shift()?.();
    }
  }

  /** Ends an incoming transfer; `keep`: keep the partial file for a later resume, else remove it. */
  private endIncoming(
    s: IncomingState,
    status: 'declined' | 'cancelled' | 'failed' | 'interrupted',
    problem: TransferProblem,
    keep: boolean,
  ): void {
    if (s.t.final) return;
    s.stopped = true;
    this.offerAnswered(s);
    const started =
      s.fd !== undefined ||
      s.t.state === 'preparing' ||
      s.t.state === 'receiving' ||
      s.t.state === 'verifying';
    for (const w of this.permitWaiters.splice(0)) w(); // a waiter for a permit may be this one
    s.settled = (async () => {
      await s.preparing;
      await this.idle(s);
      if (s.hash !== undefined) this.hasher.drop(s.hash);
      s.hash = undefined;
      const fd = s.fd;
      s.fd = undefined;
      if (fd !== undefined) {
        if (keep && s.firstFailure !== undefined) await pTruncate(fd, s.firstFailure).catch(() => undefined);
        await pClose(fd);
      }
      if (!keep && started) await this.store.removePartial(s.t.transferId).catch(() => undefined);
      this.releaseIncoming(s);
    })();
    s.t.finish({ status, problem: { ...problem, resumable: keep && started } }, s.settled);
    this.emit('end', s.t, s.t.outcome as TransferOutcome);
  }
}
