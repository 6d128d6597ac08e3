import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInvite, createLogger, initDataDir, startServer, type RunningServer } from '@tsunagu/server';
import type { Profile } from '../identity/index.js';

/**
 * "Start a server on this computer": a session server with its embedded database in the profile's
 * `local-server/` folder, run inside the host for a quick trial, with this device as its first user.
 * It listens on loopback by default (a trial should not open ports to the network unasked); its ports
 * are chosen once and kept, so the device's saved server address stays right across restarts.
 */

const INVITE_TTL_MS = 10 * 60_000;

const dataDirOf = (profile: Profile) => join(profile.dir, 'local-server');

export class LocalServer {
  private constructor(
    private readonly dataDir: string,
    private readonly server: RunningServer,
  ) {}

  static configured(profile: Profile): boolean {
    return existsSync(join(dataDirOf(profile), 'config.json'));
  }

  static async create(profile: Profile, o: { host?: string } = {}): Promise<LocalServer> {
    const host = o.host ?? '127.0.0.1';
    const dataDir = dataDirOf(profile);
    if (!LocalServer.configured(profile)) {
      const [sipPort, wssPort] = await freePorts(host, 2);
      initDataDir({ dataDir, domain: localDomain(), hosts: [host], sipPort, wssPort });
    }
    return LocalServer.resume(profile, o);
  }

  static async resume(profile: Profile, o: { host?: string } = {}): Promise<LocalServer> {
    const dataDir = dataDirOf(profile);
    const server = await startServer({
      dataDir,
      // Admin endpoint on loopback, any port: several trial servers may run on one machine.
      admin: { host: o.host ?? '127.0.0.1', port: 0 },
      logger: createLogger('warn'),
    });
    return new LocalServer(dataDir, server);
  }

  /** A one-time join link for this computer's user, who becomes the server's first member. */
  async inviteOwner(): Promise<string> {
    return (await createInvite(this.dataDir, ownerName(), INVITE_TTL_MS)).link;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/**
 * `count` distinct ports free on `host` now: all are held open until each is known, so the kernel cannot
 * hand out one port twice. (Another process may still take one before the server binds it.)
 */
async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen({ host, port: 0 }, () => resolve((s.address() as AddressInfo).port));
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** The OS account name as a user name the server accepts, else "me". */
function ownerName(): string {
  let name = '';
  try {
    name = userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '')
    .replace(/^[^a-z0-9]+/, '');
  return clean.slice(0, 32) || 'me';
}

function localDomain(): string {
  const label = hostname()
    .split('.')[0]!
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .replace(/^-+|-+$/g, '');
  return `${label || 'local'}.tsunagu.test`;
}
