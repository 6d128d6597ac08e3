import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DownloadStore, PARTIAL_DIR, StoreError } from './store.js';

let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tsunagu-store-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const ID = 'store-test-transfer-0001';

async function store(): Promise<{ s: DownloadStore; dir: string; outside: string }> {
  const base = join(root, `s${++n}`);
  const dir = join(base, 'downloads');
  const outside = join(base, 'outside');
  await mkdir(outside, { recursive: true });
  const s = new DownloadStore(dir);
  await s.init();
  return { s, dir, outside };
}

async function partial(s: DownloadStore, content: string, id = ID): Promise<void> {
  await writeFile(s.partialPath(id), content);
}

describe('download store', () => {
  it('never follows a symbolic link planted in the download folder', async () => {
    const { s, dir, outside } = await store();
    await symlink(outside, join(dir, 'photos'));
    await partial(s, 'x');
    await assert.rejects(s.commit(ID, ['photos', 'a.jpg']), (e: unknown) => e instanceof StoreError);
    assert.deepEqual(await readdir(outside), []);
  });

  it('refuses a file in the way of a folder, and numbers names that are taken', async () => {
    const { s, dir } = await store();
    await writeFile(join(dir, 'docs'), 'a file');
    await partial(s, 'x');
    await assert.rejects(s.commit(ID, ['docs', 'a.txt']), /a file is in the way/);
    await writeFile(join(dir, 'a.txt'), 'mine');
    await writeFile(join(dir, 'a (1).txt'), 'mine too');
    assert.equal(await s.commit(ID, ['a.txt']), join(dir, 'a (2).txt'));
    assert.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'mine');
    assert.equal(await readFile(join(dir, 'a (2).txt'), 'utf8'), 'x');
  });

  it('rejects transfer ids that could name another file', () => {
    const s = new DownloadStore(root);
    for (const id of ['../../etc/passwd', 'short', 'a/b/c/d/e/f/g/h/i/j', 'x'.repeat(65)]) {
      assert.throws(() => s.partialPath(id), StoreError);
    }
  });

  it('chooses a folder name once per group, and prunes old bookkeeping', async () => {
    const { s, dir } = await store();
    await mkdir(join(dir, 'album'));
    assert.equal(await s.groupRoot('group-id-0000000001', 'album', 'p'), 'album (1)');
    assert.equal(await s.groupRoot('group-id-0000000001', 'album', 'p'), 'album (1)');
    const again = new DownloadStore(dir);
    await again.init();
    assert.equal(await again.groupRoot('group-id-0000000001', 'album', 'p'), 'album (1)');
    await partial(s, 'old');
    const old = new Date(Date.now() - 30 * 86400_000);
    await utimes(s.partialPath(ID), old, old);
    assert.equal(await s.prune(7 * 86400_000), 1);
    assert.deepEqual(await readdir(join(dir, PARTIAL_DIR)), ['group-id-0000000001.group']);
  });
});
