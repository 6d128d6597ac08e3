/**
 * The download folder: where partial files wait, and how a verified file gets its final name.
 *
 * Layout, all inside the download folder (so that the final rename never crosses file systems):
 *
 *   .tsunagu-partial/<transfer id>.part    bytes received so far (mode 0600)
 *   .tsunagu-partial/<transfer id>.json    what they are: offered path, size, peer, times
 *   .tsunagu-partial/<transfer id>.done    a finished transfer (for a re-offer after a lost REPORT)
 *   .tsunagu-partial/<group id>.group      the folder name chosen for a folder send
 *
 * Ids are checked against TRANSFER_ID before they become file names. A received path is neutralised
 * by safeRelativePath (protocol) and then resolved here under the folder's real path; every created
 * folder is checked to be a real folder (not a symlink) whose real path is still inside. A finished
 * file is hard-linked to its final name (link fails if the name exists, so nothing is ever
 * overwritten, even by a file that appeared a moment ago) and the partial unlinked; on file systems
 * without hard links (FAT, some network shares) it is renamed after checking the name is free.
 */
import { constants } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  readFile,
  readdir,
  realpath,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join, sep } from 'node:path';
import { TRANSFER_ID, numberedName } from '@tsunagu/protocol';

export const PARTIAL_DIR = '.tsunagu-partial';
const MAX_NUMBERED = 10_000;

export interface PartialMeta {
  transfer: string;
  /** Safe relative path the file will get (before numbering). */
  path: string[];
  size: number;
  peer: string;
  created: number;
}

export interface DoneMeta {
  transfer: string;
  size: number;
  peer: string;
  sha256: string;
  /** Final path, relative to the download folder. */
  savedAs: string;
  at: number;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: 'disk-full' | 'write-error' | 'bad-name',
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** Maps a file-system error to a transfer error code and a message for people. */
export function storeError(e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StoreError('disk-full', `the receiver's disk is full (${what})`, e);
  }
  return new StoreError(
    'write-error',
    `the receiver could not write the file (${what}: ${code ?? String(e)})`,
    e,
  );
}

function checkId(id: string): string {
  if (!TRANSFER_ID.test(id)) throw new StoreError('bad-name', `bad transfer id`);
  return id;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export class DownloadStore {
  private realRoot: string | undefined;
  private readonly groups = new Map<string, Promise<string>>();

  constructor(readonly root: string) {}

  get partialDir(): string {
    return join(this.root, PARTIAL_DIR);
  }

  /** Creates the folders if needed. Idempotent. */
  async init(): Promise<void> {
    if (this.realRoot !== undefined) return;
    await mkdir(this.root, { recursive: true });
    await mkdir(this.partialDir, { recursive: true, mode: 0o700 });
    this.realRoot = await realpath(this.root);
  }

  partialPath(transfer: string): string {
    return join(this.partialDir, `${checkId(transfer)}.part`);
  }

  async readPartial(transfer: string): Promise<{ meta: PartialMeta; length: number } | undefined> {
    const meta = await readJson<PartialMeta>(join(this.partialDir, `${checkId(transfer)}.json`));
    if (!meta || meta.transfer !== transfer) return undefined;
    try {
      const s = await stat(this.partialPath(transfer));
      return { meta, length: s.size };
    } catch {
      return undefined;
    }
  }

  async writePartialMeta(meta: PartialMeta): Promise<void> {
    await writeFile(join(this.partialDir, `${checkId(meta.transfer)}.json`), JSON.stringify(meta), {
      mode: 0o600,
    });
  }

  async removePartial(transfer: string): Promise<void> {
    await rm(this.partialPath(transfer), { force: true });
    await rm(join(this.partialDir, `${checkId(transfer)}.json`), { force: true });
  }

  async readDone(transfer: string): Promise<DoneMeta | undefined> {
    const done = await readJson<DoneMeta>(join(this.partialDir, `${checkId(transfer)}.done`));
    return done?.transfer === transfer ? done : undefined;
  }

  /**
   * The folder name a folder send gets: its own name if free, else `name (1)`, … — chosen once per
   * group (and remembered, so a resumed folder send goes on filling the same folder).
   */
  groupRoot(groupId: string, wanted: string, peer: string): Promise<string> {
    const key = checkId(groupId);
    let p = this.groups.get(key);
    if (!p) {
      p = this.chooseGroupRoot(key, wanted, peer);
      this.groups.set(key, p);
      p.catch(() => this.groups.delete(key));
    }
    return p;
  }

  private async chooseGroupRoot(groupId: string, wanted: string, peer: string): Promise<string> {
    const record = join(this.partialDir, `${groupId}.group`);
    const known = await readJson<{ root: string; peer: string }>(record);
    if (known && known.peer === peer && typeof known.root === 'string') return known.root;
    for (let n = 0; n < MAX_NUMBERED; n++) {
      const name = numberedName(wanted, n);
      try {
        await mkdir(join(this.root, name));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw storeError(e, 'creating the folder');
      }
      await writeFile(record, JSON.stringify({ root: name, peer }), { mode: 0o600 });
      return name;
    }
    throw new StoreError('write-error', `no free name for folder ${wanted}`);
  }

  /** The real path of `segments`' folder, created if needed, checked to be inside the download folder. */
  private async folderFor(dirs: readonly string[]): Promise<string> {
    const realRoot = this.realRoot;
    if (realRoot === undefined) throw new Error('store not initialised');
    let dir = realRoot;
    for (const seg of dirs) {
      dir = join(dir, seg);
      try {
        await mkdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storeError(e, 'creating a folder');
      }
      const s = await lstat(dir);
      if (!s.isDirectory()) {
        throw new StoreError('write-error', `cannot create folder ${dirs.join('/')}: a file is in the way`);
      }
    }
    const real = await realpath(dir);
    if (real !== realRoot && !real.startsWith(realRoot + sep)) {
      throw new StoreError('bad-name', 'the file would land outside the download folder');
    }
    return real;
  }

  /**
   * Moves a verified partial file to its final place under `segments` without overwriting anything:
   * `name`, else `name (1)`, `name (2)`, … Returns the final path.
   */
  async commit(transfer: string, segments: readonly string[]): Promise<string> {
    const name = segments[segments.length - 1];
    if (name === undefined) throw new StoreError('bad-name', 'empty path');
    const from = this.partialPath(transfer);
    const dir = await this.folderFor(segments.slice(0, -1));
    for (let n = 0; n < MAX_NUMBERED; n++) {
      const to = join(dir, numberedName(name, n));
      try {
        await link(from, to);
        await unlink(from);
        return to;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') continue;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
          throw storeError(e, 'saving the file');
        }
        // No hard links here: rename to a name that is free now (a narrow race, documented above).
        try {
          await lstat(to);
          continue;
        } catch {
          await rename(from, to).catch((err: unknown) => {
            throw storeError(err, 'saving the file');
          });
          return to;
        }
      }
    }
    throw new StoreError('write-error', `no free name for ${name}`);
  }

  /** Records a finished transfer and forgets its partial state. */
  async finish(done: DoneMeta): Promise<void> {
    await rm(join(this.partialDir, `${checkId(done.transfer)}.json`), { force: true });
    await writeFile(join(this.partialDir, `${done.transfer}.done`), JSON.stringify(done), {
      mode: 0o600,
    }).catch(
      () => undefined, // only an optimisation for re-offers
    );
  }

  /**
   * Forgets bookkeeping older than `maxAgeMs`: partial files nobody resumed, done and group records.
   * Returns how many entries were removed.
   */
  async prune(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.partialDir);
    } catch {
      return 0;
    }
    for (const name of names) {
      const path = join(this.partialDir, name);
      try {
        const s = await lstat(path);
        if (now - s.mtimeMs > maxAgeMs) {
          await rm(path, { force: true });
          removed++;
        }
      } catch {
        /* gone meanwhile */
      }
    }
    return removed;
  }
}

/** Flags for a partial file: read/write, created if missing, never truncated, never through a symlink. */
export const PARTIAL_OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);
