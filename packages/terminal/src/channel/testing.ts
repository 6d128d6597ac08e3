import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openProfile } from '../identity/profile.js';
import { channelCredentials, type ChannelCredentials } from './credentials.js';

/**
 * Test and benchmark helpers: real device identities in temporary profile folders, and loopback TCP
 * servers that misbehave in known ways. Nothing here is used by the product code.
 */

export interface TestDevice {
  readonly name: string;
  readonly credentials: ChannelCredentials;
  readonly fingerprint: string;
}

/** `names.length` devices with fresh profiles (RSA-2048, self-signed), and a cleanup function. */
export async function testDevices(
  ...names: string[]
): Promise<{ devices: TestDevice[]; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tsunagu-channel-'));
  const devices = await Promise.all(
    names.map(async (name) => {
      const profile = await openProfile(join(dir, name), { create: true });
      const credentials = channelCredentials(profile.identity);
      return { name, credentials, fingerprint: credentials.fingerprint };
    }),
  );
  return { devices, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A loopback port with nothing listening on it (bound, then closed). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP server that accepts connections and never says anything (a black hole after the SYN). */
export async function silentServer(
  host = '127.0.0.1',
): Promise<{ port: number; sockets: Socket[]; server: Server; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    s.resume(); // read (and drop) whatever comes, so a FIN is seen
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Whether this machine can listen on IPv6 loopback. */
export async function hasIpv6Loopback(): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}
