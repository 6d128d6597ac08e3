import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  safeRelativePath,
  type CommandRequest,
  type TerminalApi,
  type TransferState,
} from '@tsunagu/protocol';

/**
 * Staging for the web GUI: a browser can hand the daemon a dropped file's bytes but not its path, so
 * the page uploads each file into a batch folder (`uploads/BATCH/…`, names neutralised like any
 * offered name) and then sends the batch's top-level entries. A batch is removed when every file
 * sent from it has finished for good (verified, cancelled or declined); failed ones stay until the
 * daemon stops, since a broken connection resumes from the staged copy. The whole folder is emptied
 * when the daemon starts and stops.
 */

const MAX_BATCHES = 64;
const FINAL: ReadonlySet<TransferState> = new Set(['done', 'cancelled', 'declined']);

interface Batch {
  dir: string;
  /** Transfers sent from this batch and not yet final. */
  open: Set<string>;
}

export class Uploads {
  readonly #batches = new Map<string, Batch>();
  readonly #off: () => void;

  private constructor(
    private readonly root: string,
    private readonly api: TerminalApi,
  ) {
    this.#off = api.subscribe((e) => {
      if (e.type === 'transfer' && FINAL.has(e.data.state)) this.#finished([e.data.id]);
    });
  }

  static async open(root: string, api: TerminalApi): Promise<Uploads> {
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true, mode: 0o700 });
    return new Uploads(root, api);
  }

  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    if (req.method === 'POST' && pathname === '/uploads') return this.#create(res);
    if (req.method === 'PUT') return this.#put(req, res, pathname.split('/').slice(2));
    res.writeHead(405).end();
  }

  /** After `transfer.send` succeeded: remember which transfers came from which batch. */
  noteSent(request: CommandRequest, result: unknown): void {
    if (request.command !== 'transfer.send') return;
    const { paths } = request.params as { paths: string[] };
    const ids = (result as { transferIds: string[] }).transferIds;
    for (const b of this.#batches.values()) {
      if (paths.some((p) => p.startsWith(b.dir + sep) || p.startsWith(`${b.dir}/`))) {
        for (const id of ids) b.open.add(id);
      }
    }
    // A file may have finished while transfer.send was still reading a folder: its final event came
    // before its id was noted here. The snapshot has it (a final state is never left).
    void this.api.call('snapshot', {}).then(
      ({ transfers }) => this.#finished(transfers.filter((t) => FINAL.has(t.state)).map((t) => t.id)),
      () => undefined,
    );
  }

  async close(): Promise<void> {
    this.#off();
    await rm(this.root, { recursive: true, force: true });
  }

  async #create(res: ServerResponse): Promise<void> {
    if (this.#batches.size >= MAX_BATCHES) return json(res, 429, { error: 'too many uploads in progress' });
    const id = randomBytes(9).toString('base64url');
    const dir = join(this.root, id);
    await mkdir(dir, { mode: 0o700 });
    this.#batches.set(id, { dir, open: new Set() });
    json(res, 201, { batch: id, dir });
  }

  async #put(req: IncomingMessage, res: ServerResponse, parts: string[]): Promise<void> {
    const [id, ...raw] = parts;
    const batch = this.#batches.get(id ?? '');
    if (!batch) return json(res, 404, { error: 'no such upload batch' });
    let segments: string[];
    try {
      segments = safeRelativePath(raw.map((s) => decodeURIComponent(s))).segments;
    } catch (e) {
      return json(res, 400, { error: `unusable file name: ${(e as Error).message}` });
    }
    const file = join(batch.dir, ...segments);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    try {
      // 'wx': two files of one drop never overwrite each other.
      await pipeline(req, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') await unlink(file).catch(() => undefined);
      if (res.headersSent || res.destroyed) return;
      if (code === 'EEXIST') return json(res, 409, { error: `${segments.join('/')} was uploaded twice` });
      if (code === 'ENOSPC') return json(res, 507, { error: 'the disk of the daemon is full' });
      return json(res, 500, { error: (e as Error).message });
    }
    json(res, 201, { path: file });
  }

  /** These transfers are over for good: a batch with nothing else open is removed. */
  #finished(transferIds: readonly string[]): void {
    for (const [id, b] of this.#batches) {
      const before = b.open.size;
      for (const t of transferIds) b.open.delete(t);
      if (before > 0 && b.open.size === 0) void this.#drop(id);
    }
  }

  async #drop(id: string): Promise<void> {
    const b = this.#batches.get(id);
    this.#batches.delete(id);
    if (b) await rm(b.dir, { recursive: true, force: true });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
