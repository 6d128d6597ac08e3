import type { DroppedFile, DroppedItem } from '../../bridge/types';

/**
 * Turning what the browser hands over (a drop, a file input) into DroppedItems: one per top-level
 * file or folder, with the folder's files read only when needed (the web host uploads them; Electron
 * only needs the top-level item's path).
 */

const fileItem = (file: File): DroppedItem => ({
  name: file.name,
  file,
  files: async () => [{ file, path: file.name }],
});

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Every file under a dropped folder; readEntries answers in batches, so read until it returns none. */
export async function walkDirectory(dir: FileSystemDirectoryEntry, path = dir.name): Promise<DroppedFile[]> {
  const out: DroppedFile[] = [];
  const reader = dir.createReader();
  for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
    for (const entry of batch) {
      const p = `${path}/${entry.name}`;
      if (entry.isDirectory) out.push(...(await walkDirectory(entry as FileSystemDirectoryEntry, p)));
      else if (entry.isFile) out.push({ file: await fileOf(entry as FileSystemFileEntry), path: p });
    }
  }
  return out;
}

/** Must run during the drop event: the DataTransfer is emptied once the handler returns. */
export function itemsFromDataTransfer(dt: DataTransfer): DroppedItem[] {
  if (!dt.items || dt.items.length === 0) return Array.from(dt.files).map(fileItem);
  const items: DroppedItem[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    const file = item.getAsFile() ?? undefined;
    if (entry?.isDirectory) {
      const dir = entry as FileSystemDirectoryEntry;
      items.push({ name: dir.name, ...(file ? { file } : {}), files: () => walkDirectory(dir) });
    } else if (file) items.push(fileItem(file));
  }
  return items;
}

/** Files from `<input type=file>`; a folder picked with `webkitdirectory` gives relative paths. */
export function itemsFromFiles(files: Iterable<File>): DroppedItem[] {
  const groups = new Map<string, DroppedFile[]>();
  for (const file of files) {
    const path = file.webkitRelativePath || file.name;
    const top = path.split('/')[0] ?? path;
    const group = groups.get(top) ?? [];
    group.push({ file, path });
    groups.set(top, group);
  }
  return [...groups].map(([name, list]) => {
    const only = list.length === 1 && list[0]!.path === name ? list[0]!.file : undefined;
    return { name, ...(only ? { file: only } : {}), files: async () => list };
  });
}
