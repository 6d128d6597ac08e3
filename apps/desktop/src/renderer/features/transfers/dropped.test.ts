import { describe, expect, it } from 'vitest';
import { itemsFromDataTransfer, itemsFromFiles, walkDirectory } from './dropped';

/** Just enough of the File and Directory Entries API; readEntries answers in batches like Chromium. */
function fileEntry(name: string, text = name): FileSystemFileEntry {
  return {
    name,
    isFile: true,
    isDirectory: false,
    file: (ok: (f: File) => void) => ok(new File([text], name)),
  } as unknown as FileSystemFileEntry;
}

function dirEntry(name: string, children: FileSystemEntry[], batch = 2): FileSystemDirectoryEntry {
  return {
    name,
    isFile: false,
    isDirectory: true,
    createReader() {
      let i = 0;
      return {
        readEntries(ok: (entries: FileSystemEntry[]) => void) {
          const next = children.slice(i, i + batch);
          i += batch;
          setTimeout(() => ok(next), 0);
        },
      };
    },
  } as unknown as FileSystemDirectoryEntry;
}

describe('dropped items', () => {
  it('walks a dropped folder through every readEntries batch, keeping relative paths', async () => {
    const tree = dirEntry('photos', [
      fileEntry('a.jpg'),
      dirEntry('2024', [fileEntry('b.jpg'), fileEntry('c.jpg'), fileEntry('d.jpg')]),
      fileEntry('e.jpg'),
    ]);
    const files = await walkDirectory(tree);
    expect(files.map((f) => f.path)).toEqual([
      'photos/a.jpg',
      'photos/2024/b.jpg',
      'photos/2024/c.jpg',
      'photos/2024/d.jpg',
      'photos/e.jpg',
    ]);
    expect(await files[1]!.file.text()).toBe('b.jpg');
  });

  it('turns a drop into one item per top-level file or folder', async () => {
    const plain = new File(['x'], 'notes.txt');
    const folderFile = new File([], 'photos');
    const dt = {
      files: [],
      items: [
        { kind: 'file', webkitGetAsEntry: () => fileEntry('notes.txt'), getAsFile: () => plain },
        {
          kind: 'file',
          webkitGetAsEntry: () => dirEntry('photos', [fileEntry('a.jpg')]),
          getAsFile: () => folderFile,
        },
        { kind: 'string', webkitGetAsEntry: () => null, getAsFile: () => null },
      ],
    } as unknown as DataTransfer;
    const items = itemsFromDataTransfer(dt);
    expect(items.map((i) => i.name)).toEqual(['notes.txt', 'photos']);
    expect(items[0]!.file).toBe(plain);
    expect(items[1]!.file).toBe(folderFile); // Electron sends the folder by its path
    expect((await items[1]!.files()).map((f) => f.path)).toEqual(['photos/a.jpg']);
  });

  it('groups a picked folder (webkitRelativePath) under its top-level name', async () => {
    const inFolder = (path: string) => {
      const f = new File(['x'], path.split('/').at(-1)!);
      Object.defineProperty(f, 'webkitRelativePath', { value: path });
      return f;
    };
    const items = itemsFromFiles([
      inFolder('photos/a.jpg'),
      inFolder('photos/2024/b.jpg'),
      new File(['y'], 'solo.txt'),
    ]);
    expect(items.map((i) => i.name)).toEqual(['photos', 'solo.txt']);
    expect(items[0]!.file).toBeUndefined();
    expect((await items[0]!.files()).map((f) => f.path)).toEqual(['photos/a.jpg', 'photos/2024/b.jpg']);
    expect((await items[1]!.files()).map((f) => f.path)).toEqual(['solo.txt']);
  });
});
