/** Test and benchmark helpers: real TLS sockets on 127.0.0.1, real files. Not used by the product. */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';

export interface Credentials {
  key: Buffer;
  cert: Buffer;
}

/** A throwaway self-signed EC certificate for 127.0.0.1, made with the openssl command. */
export async function selfSigned(): Promise<Credentials> {
  const dir = await mkdtemp(join(tmpdir(), 'tsunagu-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=tsunagu-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Two ends of one mutually authenticated TLS 1.3 connection over 127.0.0.1 (both present the same
 * test certificate and pin it), like the channel hands over.
 */
export async function tlsPair(creds: Credentials): Promise<{ client: TLSSocket; server: TLSSocket }> {
  const server = createServer({
    ...creds,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ca: [creds.cert],
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<TLSSocket>((r) => server.once('secureConnection', r));
  const client = connect({
    ...creds,
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    ca: [creds.cert],
    minVersion: 'TLSv1.3',
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((r, j) => client.once('secureConnect', r).once('error', j));
  const serverSide = await accepted;
  server.close();
  return { client, server: serverSide };
}

/** Writes `size` random bytes to `path`; returns their SHA-256. */
export async function randomFile(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(4 << 20, size - done);
      const chunk = randomBytes(n);
      h.update(chunk);
      await fh.write(chunk);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
