import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { initDataDir } from '../cli/init.js';
import { dataPaths } from '../config/index.js';
import { createLogger } from '../log/logger.js';
import { fingerprint } from '../ca/ca.js';
import { openStore, type PeerTransport, type Store } from '../store/index.js';
import { startServer, type RunningServer, type ServerOptions } from '../server.js';
import { SipTestClient, type ClientOptions } from './sip-client.js';

/**
 * An in-process server on 127.0.0.1 with ephemeral ports and a fresh data folder (headscale's
 * `servertest`): what the server's own tests, the terminal's and e2e build on.
 */
export interface TestServer {
  server: RunningServer;
  dataDir: string;
  domain: string;
  ca: string;
  sip: { host: string; port: number };
  https: { host: string; port: number };
  /** A second connection to the database, as the admin CLI would have. */
  admin: Store;
  /** Every log line the server wrote, as parsed JSON. */
  logs: Record<string, unknown>[];
  addUser(name: string, password?: string, o?: { allowMd5?: boolean }): void;
  /**
   * Resolves once `cond` holds, checking every 10 ms; rejects after `timeoutMs`. For state the server
   * reaches on its own (an admin change reloaded, a binding gone), instead of sleeping and hoping.
   */
  until(cond: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Resolves once the running server knows `dst` and its policy lets `src` reach it (user names): an admin change applied. */
  reachable(src: string, dst: string): Promise<void>;
  /**
   * Makes `other` a federation peer of this server, as `peer add` would (by default over mutual TLS, at
   * its SIP port, with its real CA fingerprint), and resolves once this server has loaded it. With
   * `dns`, without an address: found by DNS (start this server with `dnsServers`).
   */
  peer(
    other: TestServer,
    o?: { caFingerprint?: string; transport?: PeerTransport; port?: number; dns?: boolean },
  ): Promise<void>;
  /** Connects a client for `user` (with the user's password unless given other credentials). */
  client(user: string, o?: Partial<ClientOptions>): Promise<SipTestClient>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  domain?: string;
  policy?: 'allow-all' | 'deny-all';
  server?: Partial<Omit<ServerOptions, 'dataDir'>>;
  /** Reuse an existing data folder (restart tests). */
  dataDir?: string;
}

export const TEST_PASSWORD = (user: string): string => `pw-${user}-correct horse`;

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const domain = o.domain ?? 'example.test';
  const dataDir = o.dataDir ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-srv-')), 'data');
  if (!o.dataDir) {
    initDataDir({
      dataDir,
      domain,
      hosts: ['localhost', '127.0.0.1', '::1'],
      policyDefault: o.policy ?? 'allow-all',
    });
  }
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger('debug', sink); // the production logger, redaction included
  const server = await startServer({
    dataDir,
    sip: { host: '127.0.0.1', port: 0 },
    wss: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger,
    reloadIntervalMs: 100,
    ...o.server,
  });
  const admin = openStore(dataPaths(dataDir).db, { create: false });
  const realm = domain;
  const port = (addr: string) => Number(addr.slice(addr.lastIndexOf(':') + 1));
  const ca = fs.readFileSync(dataPaths(dataDir).caCert, 'utf8');
  const clients: SipTestClient[] = [];
  return {
    server,
    dataDir,
    domain,
    ca,
    logs,
    sip: { host: '127.0.0.1', port: port(server.addresses.sip) },
    https: { host: '127.0.0.1', port: port(server.addresses.wss) },
    admin,
    until,
    // Both the user list and the policy are reloaded state: a rule may allow a user the server does not know yet.
    reachable: (src, dst) =>
      until(
        () =>
          server.context.directory.userExists(dst) &&
          server.context.policy().canReach(`${src}@${domain}`, `${dst}@${domain}`),
        `the server to know ${dst} and allow ${src} → ${dst}`,
      ),
    peer(other, po = {}) {
      admin.peers.add({
        domain: other.domain,
        ...(po.dns ? {} : { host: other.sip.host, port: po.port ?? other.sip.port }),
        caFingerprint: po.caFingerprint ?? fingerprint(other.ca),
        transport: po.transport ?? 'tls',
      });
      return until(() => server.context.peers.get(other.domain) !== undefined, `${other.domain} as a peer`);
    },
    addUser(name, password = TEST_PASSWORD(name), opts = {}) {
      admin.users.add(name, { realm, password, allowMd5: opts.allowMd5 ?? false });
    },
    async client(user, opts = {}) {
      const c = await SipTestClient.connect({
        host: '127.0.0.1',
        port: port(server.addresses.sip),
        ca,
        servername: 'localhost',
        domain,
        user,
        password: TEST_PASSWORD(user),
        ...opts,
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await server.close();
      admin.close();
    },
  };
}
