/**
 * Data-channel file transfer: our engine against a raw TLS socket piping the same file, in one run.
 *
 *   node --conditions=tsunagu-source --import tsx bench/transfer.ts [--size-mib 1024] [--rounds 3]
 *
 * A random file (default 1 GiB) is made in a temporary folder (deleted afterwards). Each round runs a
 * receiver and a sender as two separate processes connected by TLS 1.3 over 127.0.0.1 (mutual TLS, a
 * self-signed P-256 certificate), so each side's peak resident memory (VmHWM) is its own:
 *
 *   ours  TransferSession → TransferSession (offer, accept, stream, SHA-256 on both ends, fsync, rename)
 *   raw   fs.createReadStream(file).pipe(tlsSocket) → tlsSocket.pipe(fs.createWriteStream(out))
 *
 * Time is measured on the receiver, from the secure connection to the file complete on disk (ours:
 * verified and under its final name). Rounds alternate ours/raw; the median of each is reported, and
 * one more run of ours with a file 8× smaller shows whether memory depends on the file size.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { connect, createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { TransferSession, type IncomingTransfer } from '../packages/terminal/src/transfer/index.js';
import { randomFile, selfSigned, sha256File } from '../packages/terminal/src/transfer/testing.js';
import { numberOption } from './stats.js';

type Mode = 'ours' | 'raw';
interface Result {
  seconds: number;
  bytes: number;
  rssKiB: number;
  cpuSeconds: number;
}

const MiB = 1024 * 1024;

function vmHwmKiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : Math.round(process.memoryUsage().rss / 1024);
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function send(m: unknown): void {
  process.send?.(m);
}

// ---------------------------------------------------------------- child processes

async function receiver(mode: Mode, dir: string, certDir: string): Promise<void> {
  const creds = {
    key: readFileSync(join(certDir, 'key.pem')),
    cert: readFileSync(join(certDir, 'cert.pem')),
  };
  const server = createServer({ ...creds, minVersion: 'TLSv1.3', requestCert: true, ca: [creds.cert] });
  server.listen(0, '127.0.0.1', () => send({ port: (server.address() as AddressInfo).port }));
  const socket = await new Promise<TLSSocket>((r) => server.once('secureConnection', r));
  server.close();
  const t0 = performance.now();
  const c0 = cpuSeconds();
  let bytes: number;
  if (mode === 'raw') {
    const out = createWriteStream(join(dir, 'raw.out'));
    socket.pipe(out);
    await new Promise<void>((r) => out.on('finish', () => r()));
    bytes = out.bytesWritten;
  } else {
    const session = new TransferSession(socket, { downloadDir: join(dir, 'ours'), autoAccept: true });
    const t = await new Promise<IncomingTransfer>((r) => session.once('incoming', r));
    const outcome = await t.done;
    if (outcome.status !== 'verified') throw new Error(`receiver: ${JSON.stringify(outcome)}`);
    bytes = t.size;
    await session.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  send({ result: { seconds, bytes, rssKiB: vmHwmKiB(), cpuSeconds: cpuSeconds() - c0 } satisfies Result });
}

async function sender(mode: Mode, file: string, port: number, certDir: string): Promise<void> {
  const creds = {
    key: readFileSync(join(certDir, 'key.pem')),
    cert: readFileSync(join(certDir, 'cert.pem')),
  };
  const socket = connect({
    ...creds,
    host: '127.0.0.1',
    port,
    ca: [creds.cert],
    checkServerIdentity: () => undefined,
  });
  await new Promise((r) => socket.once('secureConnect', r));
  const t0 = performance.now();
  const c0 = cpuSeconds();
  if (mode === 'raw') {
    createReadStream(file).pipe(socket);
    await new Promise((r) => socket.on('close', r));
  } else {
    const session = new TransferSession(socket, { downloadDir: join(file, '..', 'unused') });
    const outcome = await session.sendFile(file).done;
    if (outcome.status !== 'verified') throw new Error(`sender: ${JSON.stringify(outcome)}`);
    await session.close();
  }
  send({
    result: {
      seconds: (performance.now() - t0) / 1000,
      bytes: 0,
      rssKiB: vmHwmKiB(),
      cpuSeconds: cpuSeconds() - c0,
    },
  });
}

// ---------------------------------------------------------------- parent

function child(args: string[]): ChildProcess {
  return fork(new URL(import.meta.url).pathname, args, {
    execArgv: ['--conditions=tsunagu-source', '--import', 'tsx'],
  });
}

function message<T>(p: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (key in m) {
        p.off('message', onMessage);
        resolve(m[key] as T);
      }
    };
    p.on('message', onMessage);
    p.once('exit', (code) => code !== 0 && reject(new Error(`child exited with ${code}`)));
  });
}

async function round(
  mode: Mode,
  file: string,
  dir: string,
  certDir: string,
): Promise<{ recv: Result; send: Result }> {
  const out = await mkdtemp(join(dir, `${mode}-`));
  const r = child(['receiver', mode, out, certDir]);
  const port = await message<number>(r, 'port');
  const s = child(['sender', mode, file, String(port), certDir]);
  const [recv, sent] = await Promise.all([message<Result>(r, 'result'), message<Result>(s, 'result')]);
  r.kill();
  s.kill();
  if (mode === 'ours') {
    const got = await sha256File(join(out, 'ours', basename(file)));
    if (got !== (await sourceSha)) throw new Error('ours: file differs');
  }
  await rm(out, { recursive: true, force: true });
  return { recv, send: sent };
}

let sourceSha: Promise<string>;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const mbps = (r: Result): string => (r.bytes / r.seconds / MiB).toFixed(0);

async function main(): Promise<void> {
  const size = numberOption('size-mib', 1024) * MiB;
  const rounds = numberOption('rounds', 3);
  const dir = await mkdtemp(join(tmpdir(), 'tsunagu-bench-'));
  try {
    const creds = await selfSigned();
    const certDir = join(dir, 'cert');
    await mkdir(certDir);
    await writeFile(join(certDir, 'key.pem'), creds.key);
    await writeFile(join(certDir, 'cert.pem'), creds.cert);
    const file = join(dir, 'source.bin');
    console.log(`making a ${size / MiB} MiB random file…`);
    sourceSha = randomFile(file, size);
    await sourceSha;
    console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Node ${process.version}\n`);
    const results: Record<Mode, { recv: Result; send: Result }[]> = { ours: [], raw: [] };
    for (let i = 0; i < rounds; i++) {
      for (const mode of ['ours', 'raw'] as const) {
        const r = await round(mode, file, dir, certDir);
        results[mode].push(r);
        console.log(
          `round ${i + 1} ${mode.padEnd(4)} ${mbps(r.recv).padStart(5)} MiB/s  ${r.recv.seconds.toFixed(2)} s  ` +
            `peak RSS sender ${(r.send.rssKiB / 1024).toFixed(0)} MiB, receiver ${(r.recv.rssKiB / 1024).toFixed(0)} MiB  ` +
            `CPU s sender ${r.send.cpuSeconds.toFixed(2)}, receiver ${r.recv.cpuSeconds.toFixed(2)}`,
        );
      }
    }
    const summary = (mode: Mode): { rate: number; sendRss: number; recvRss: number } => ({
      rate: median(results[mode].map((r) => r.recv.bytes / r.recv.seconds / MiB)),
      sendRss: Math.max(...results[mode].map((r) => r.send.rssKiB)) / 1024,
      recvRss: Math.max(...results[mode].map((r) => r.recv.rssKiB)) / 1024,
    });
    const ours = summary('ours');
    const raw = summary('raw');
    // Memory against file size: the same engine with a file 8× smaller.
    const smallFile = join(dir, 'source-small.bin');
    sourceSha = randomFile(smallFile, Math.max(MiB, size / 8));
    await sourceSha;
    const small = await round('ours', smallFile, dir, certDir);
    console.log('');
    console.log(`| | throughput (median of ${rounds}) | peak RSS sender | peak RSS receiver |`);
    console.log('|---|---|---|---|');
    console.log(
      `| ours | ${ours.rate.toFixed(0)} MiB/s | ${ours.sendRss.toFixed(0)} MiB | ${ours.recvRss.toFixed(0)} MiB |`,
    );
    console.log(
      `| raw TLS pipe | ${raw.rate.toFixed(0)} MiB/s | ${raw.sendRss.toFixed(0)} MiB | ${raw.recvRss.toFixed(0)} MiB |`,
    );
    {
      console.log(
        `| ours, ${(Math.max(MiB, size / 8) / MiB).toFixed(0)} MiB file | ${mbps(small.recv)} MiB/s | ${(small.send.rssKiB / 1024).toFixed(0)} MiB | ${(small.recv.rssKiB / 1024).toFixed(0)} MiB |`,
      );
    }
    console.log(`\nratio ours/raw: ${(ours.rate / raw.rate).toFixed(2)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'receiver') await receiver(rest[0] as Mode, rest[1] as string, rest[2] as string);
else if (role === 'sender')
  await sender(rest[0] as Mode, rest[1] as string, Number(rest[2]), rest[3] as string);
else await main();
