/**
 * Disk full on the receiver, for real: the download folder is a 2 MiB tmpfs mounted for the test
 * (needs root; skipped, saying why, where mount is not permitted).
 *
 * Rule under test: the file that hits ENOSPC fails on both sides with code 'disk-full'; its partial
 * file is kept, truncated to the bytes written before the failure (resumable once there is room);
 * files already received are untouched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { PARTIAL_DIR } from './store.js';
import { TransferSession } from './session.js';
import type { IncomingTransfer } from './transfer.js';
import { randomFile, selfSigned, sha256File, tlsPair } from './testing.js';

let base: string;
let mounted: string | undefined;
let skip: string | false = false;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'tsunagu-diskfull-'));
  const mnt = join(base, 'small-disk');
  await mkdir(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
    mounted = mnt;
  } catch (e) {
    skip = `cannot mount a small tmpfs here (${String((e as { stderr?: Buffer }).stderr ?? e).trim()}): needs root`;
  }
});

after(async () => {
  if (mounted) execFileSync('umount', [mounted]);
  await rm(base, { recursive: true, force: true });
});

it('disk full on the receiver: both sides get disk-full, the partial is kept, finished files untouched', async (t) => {
  if (skip !== false || !mounted) return t.skip(skip || 'no tmpfs');
  const downloads = join(mounted, 'downloads');
  const src = join(base, 'src');
  await mkdir(src);
  const smallSha = await randomFile(join(src, 'small.bin'), 300_000);
  await randomFile(join(src, 'big.bin'), 3_000_000);
  const creds = await selfSigned();
  const { client, server } = await tlsPair(creds);
  const a = new TransferSession(client, { downloadDir: join(base, 'a') });
  const b = new TransferSession(server, { downloadDir: downloads, autoAccept: true });
  const incoming = (): Promise<IncomingTransfer> => new Promise((r) => b.once('incoming', r));

  let inc = incoming();
  const first = await a.sendFile(join(src, 'small.bin')).done;
  assert.equal(first.status, 'verified');
  await (
    await inc
  ).done;

  inc = incoming();
  const sent = a.sendFile(join(src, 'big.bin'));
  const received = await inc;
  const [so, ro] = await Promise.all([sent.done, received.done]);
  assert.equal(so.status, 'failed');
  assert.equal(ro.status, 'failed');
  const sp = so.status === 'failed' ? so.problem : undefined;
  const rp = ro.status === 'failed' ? ro.problem : undefined;
  assert.deepEqual(
    { code: sp?.code, by: sp?.by, resumable: sp?.resumable },
    { code: 'disk-full', by: 'peer', resumable: true },
  );
  assert.deepEqual(
    { code: rp?.code, by: rp?.by, resumable: rp?.resumable },
    { code: 'disk-full', by: 'local', resumable: true },
  );
  assert.match(sp?.message ?? '', /receiver's disk is full/);

  // The finished file is intact; the partial file is kept (smaller than the file) for a later resume.
  assert.equal(await sha256File(join(downloads, 'small.bin')), smallSha);
  const part = await stat(join(downloads, PARTIAL_DIR, `${sent.transferId}.part`));
  assert.ok(part.size > 0 && part.size < 3_000_000, `partial of ${part.size} bytes`);
  assert.deepEqual((await readdir(downloads)).sort(), [PARTIAL_DIR, 'small.bin']);

  // The channel still works for what fits.
  await rm(join(downloads, PARTIAL_DIR, `${sent.transferId}.part`));
  await randomFile(join(src, 'tiny.bin'), 100);
  assert.equal((await a.sendFile(join(src, 'tiny.bin')).done).status, 'verified');
  await Promise.all([a.close(), b.close()]);
});
