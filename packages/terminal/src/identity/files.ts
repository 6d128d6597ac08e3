import { randomBytes } from 'node:crypto';
import { chmod, link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Owner read/write only: private keys, secrets, the profile. */
const PRIVATE_FILE_MODE = 0o600;
/** Owner only: the profile folder. */
export const PRIVATE_DIR_MODE = 0o700;

const isPosix = process.platform !== 'win32';

/** Error code of a Node system error, if any. */
export function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one: a temporary
 * file in the same folder (created with `wx` and `mode`, flushed to disk), then renamed over `path`.
 *
 * With `exclusive`, an existing `path` is never replaced: the temporary file is hard-linked to `path`
 * (which fails with EEXIST if it exists) — the file appears complete or not at all, and two processes
 * racing to create it cannot both win. Where hard links are not supported the file is created directly
 * with the `wx` flag.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number; exclusive?: boolean } = {},
): Promise<void> {
  const mode = options.mode ?? PRIVATE_FILE_MODE;
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  let published = false;
  try {
    try {
      if (isPosix) await fh.chmod(mode); // the umask may have taken bits away; never adds any
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (options.exclusive) {
      try {
        await link(tmp, path);
      } catch (e) {
        const code = errorCode(e);
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
        await writeExclusiveDirect(path, data, mode);
      }
    } else {
      await rename(tmp, path);
      published = true;
    }
  } finally {
    if (!published) await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dirname(path));
}

async function writeExclusiveDirect(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a rename durable across a crash (POSIX; a no-op where folders cannot be opened). */
async function syncDir(dir: string): Promise<void> {
  if (!isPosix) return;
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

/** The file's content, or undefined when it does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * On POSIX, takes group and other permissions away from a file that has any; returns true if it had
 * to. (A copied or restored profile may come back world-readable.)
 */
export async function tightenMode(path: string, mode = PRIVATE_FILE_MODE): Promise<boolean> {
  if (!isPosix) return false;
  const st = await stat(path);
  if ((st.mode & 0o077) === 0) return false;
  await chmod(path, mode);
  return true;
}
