/**
 * Where SHA-256 runs. Hashing costs about as much CPU as TLS itself (≈2 GB/s per core with SHA-NI,
 * against the socket's encryption and copies), so hashing on the socket's thread would roughly halve
 * throughput. File bytes therefore live in fixed slots of shared memory (SlotPool): the main thread
 * reads a file into a slot (or copies a received DATA payload into one) and, at the same time, hands
 * the slot to a hashing thread (`WorkerHasher`) and to the socket or the disk. The slot is reused
 * only when both are done. Memory is the pool, whatever the file size.
 *
 * `InlineHasher` does the same on the main thread, for hosts where threads are unwelcome.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** A fixed set of equal slots in one SharedArrayBuffer. */
export class SlotPool {
  private static nextId = 1;
  readonly id = SlotPool.nextId++;
  readonly memory: SharedArrayBuffer;
  private readonly free: number[] = [];
  private readonly waiters: ((slot: number) => void)[] = [];
  private readonly views: Buffer[] = [];

  constructor(
    readonly slotSize: number,
    readonly count: number,
  ) {
    this.memory = new SharedArrayBuffer(slotSize * count);
    for (let i = 0; i < count; i++) {
      this.free.push(i);
      this.views.push(Buffer.from(this.memory, i * slotSize, slotSize));
    }
  }

  /** The slot's bytes (a Buffer over shared memory). */
  view(slot: number): Buffer {
    return this.views[slot] as Buffer;
  }

  /** Byte offset of a slot in `memory`. */
  offset(slot: number): number {
    return slot * this.slotSize;
  }

  get available(): number {
    return this.free.length;
  }

  tryAcquire(): number | undefined {
    return this.free.pop();
  }

  acquire(): Promise<number> {
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(slot: number): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(slot);
    else this.free.push(slot);
  }
}

/** Requests understood by the hashing thread (WORKER_SOURCE). */
type HashRequest =
  | { op: 'pool'; pool: number; memory: SharedArrayBuffer }
  | { op: 'update'; hash: number; pool: number; offset: number; length: number }
  | { op: 'peek'; hash: number }
  | { op: 'digest'; hash: number }
  | { op: 'drop'; hash: number };

/** Streaming SHA-256 over pool slots. Updates of one hash are applied in the order they are made. */
export interface Hasher {
  create(): number;
  /** Resolves when the bytes have been consumed (the slot may then be reused). */
  update(hash: number, pool: SlotPool, slot: number, start: number, length: number): Promise<void>;
  /** Hex digest of what was fed so far; the hash goes on. */
  peek(hash: number): Promise<string>;
  /** Hex digest; the hash is gone. */
  digest(hash: number): Promise<string>;
  drop(hash: number): void;
  close(): Promise<void>;
}

export class InlineHasher implements Hasher {
  private next = 1;
  private readonly hashes = new Map<number, Hash>();

  create(): number {
    const id = this.next++;
    this.hashes.set(id, createHash('sha256'));
    return id;
  }

  private get(hash: number): Hash {
    const h = this.hashes.get(hash);
    if (!h) throw new Error(`unknown hash ${hash}`);
    return h;
  }

  update(hash: number, pool: SlotPool, slot: number, start: number, length: number): Promise<void> {
    this.get(hash).update(pool.view(slot).subarray(start, start + length));
    return Promise.resolve();
  }

  peek(hash: number): Promise<string> {
    return Promise.resolve(this.get(hash).copy().digest('hex'));
  }

  digest(hash: number): Promise<string> {
    const h = this.get(hash);
    this.hashes.delete(hash);
    return Promise.resolve(h.digest('hex'));
  }

  drop(hash: number): void {
    this.hashes.delete(hash);
  }

  close(): Promise<void> {
    this.hashes.clear();
    return Promise.resolve();
  }
}

/**
 * The hashing thread's code. It is plain JavaScript given to the Worker as source text, so it needs no
 * file beside the built module and no TypeScript loader in the thread (tsx's hooks do not reach
 * workers), and it works unchanged inside an Electron asar. It handles messages in order and answers
 * each one, in the same order.
 */
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const pools = new Map();
const hashes = new Map();
function handle(m) {
  switch (m.op) {
    case 'pool':
      pools.set(m.pool, new Uint8Array(m.memory));
      return null;
    case 'update': {
      let h = hashes.get(m.hash);
      if (!h) hashes.set(m.hash, (h = createHash('sha256')));
      const mem = pools.get(m.pool);
      if (!mem) throw new Error('unknown pool ' + m.pool);
      h.update(mem.subarray(m.offset, m.offset + m.length));
      return null;
    }
    case 'peek':
      return (hashes.get(m.hash) || createHash('sha256')).copy().digest('hex');
    case 'digest': {
      const h = hashes.get(m.hash) || createHash('sha256');
      hashes.delete(m.hash);
      return h.digest('hex');
    }
    case 'drop':
      hashes.delete(m.hash);
      return null;
    default:
      throw new Error('unknown request ' + m.op);
  }
}
parentPort.on('message', (m) => {
  try {
    parentPort.postMessage({ ok: true, value: handle(m) });
  } catch (e) {
    parentPort.postMessage({ ok: false, value: String(e) });
  }
});
`;

interface Pending {
  resolve: (value: string | null) => void;
  reject: (e: Error) => void;
}

/** One hashing thread; requests and answers are matched by order. */
export class WorkerHasher implements Hasher {
  private next = 1;
  private readonly worker: Worker;
  private readonly pending: Pending[] = [];
  private readonly pools = new Set<number>();
  private failure: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'tsunagu-sha256' });
    this.worker.unref();
    this.worker.on('message', (m: { ok: boolean; value: string | null }) => {
      const p = this.pending.shift();
      if (this.pending.length === 0) this.worker.unref();
      if (!p) return;
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`hash worker: ${m.value ?? ''}`));
    });
    const fail = (e: Error): void => {
      this.failure ??= e;
      for (const p of this.pending.splice(0)) p.reject(e);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
  }

  private request(m: HashRequest): Promise<string | null> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      // Keeps the process alive only while an answer is awaited.
      if (this.pending.length === 0) this.worker.ref();
      this.pending.push({ resolve, reject });
      this.worker.postMessage(m);
    });
  }

  create(): number {
    return this.next++;
  }

  update(hash: number, pool: SlotPool, slot: number, start: number, length: number): Promise<void> {
    if (!this.pools.has(pool.id)) {
      this.pools.add(pool.id);
      void this.request({ op: 'pool', pool: pool.id, memory: pool.memory }).catch(() => undefined);
    }
    return this.request({
      op: 'update',
      hash,
      pool: pool.id,
      offset: pool.offset(slot) + start,
      length,
    }).then(() => undefined);
  }

  async peek(hash: number): Promise<string> {
    return (await this.request({ op: 'peek', hash })) as string;
  }

  async digest(hash: number): Promise<string> {
    return (await this.request({ op: 'digest', hash })) as string;
  }

  drop(hash: number): void {
    void this.request({ op: 'drop', hash }).catch(() => undefined);
  }

  /** Stops the thread. Does not wait for it: a worker ending while unreferenced may never report it. */
  close(): Promise<void> {
    this.failure ??= new Error('hasher closed');
    for (const p of this.pending.splice(0)) p.reject(this.failure);
    this.worker.unref();
    void this.worker.terminate().catch(() => undefined);
    return Promise.resolve();
  }
}
