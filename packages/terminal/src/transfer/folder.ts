/** Sending a folder: every regular file under it, with its path relative to the folder's parent. */
import { createHash } from 'node:crypto';
import { opendir } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface FolderEntry {
  absolute: string;
  /** [folder name, …sub-folders, file name]. */
  segments: string[];
}

/** Most files one folder send may hold (a guard against walking a whole disk by mistake). */
export const MAX_FOLDER_FILES = 100_000;

/**
 * Lists the regular files under `root`, depth first, sorted by name at each level. Symbolic links are
 * skipped (never followed: no loops, nothing from outside the folder), and so are sockets, devices and
 * FIFOs; empty folders are not listed.
 */
export async function walkFolder(root: string): Promise<{ rootName: string; entries: FolderEntry[] }> {
  const rootName = basename(root) || 'folder';
  const entries: FolderEntry[] = [];
  const visit = async (dir: string, segments: string[]): Promise<void> => {
    const children: { name: string; file: boolean; dir: boolean }[] = [];
    for await (const d of await opendir(dir)) {
      children.push({ name: d.name, file: d.isFile(), dir: d.isDirectory() });
    }
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of children) {
      if (c.dir) await visit(join(dir, c.name), [...segments, c.name]);
      else if (c.file) {
        if (entries.length >= MAX_FOLDER_FILES)
          throw new Error(`more than ${MAX_FOLDER_FILES} files in ${root}`);
        entries.push({ absolute: join(dir, c.name), segments: [...segments, c.name] });
      }
    }
  };
  await visit(root, [rootName]);
  return { rootName, entries };
}

/** The transfer id of one file of a folder send: the same for the same group and path (resume). */
export function folderTransferId(groupId: string, segments: readonly string[]): string {
  return createHash('sha256')
    .update(groupId)
    .update('\0')
    .update(segments.join('\0'))
    .digest('base64url')
    .slice(0, 22);
}
