import fs from 'node:fs';
import {
  Authenticator,
  DEFAULT_THROTTLE,
  type CredentialLookup,
  type ThrottleLimits,
} from './auth/authenticator.js';
import { DigestAuthenticator } from './auth/digest.js';
import { listenAdmin } from './admin/http.js';
import { Metrics } from './admin/metrics.js';
import { X509Certificate } from 'node:crypto';
import { certificateIdentity } from './auth/certificate.js';
import { fingerprint, LocalAuthority, readPassphrase, type CertificateAuthority } from './ca/index.js';
import { connectRemoteAuthority } from './ca/remote.js';
import { Issuance } from './issuance/publish.js';
import { RevocationList } from './issuance/revocation.js';
import { dataPaths, formatHostPort, loadConfig, type HostPort } from './config/index.js';
import { enrollHandler } from './enroll/enroll.js';
import { createLogger, type Logger } from './log/logger.js';
import { loadPolicy } from './policy/index.js';
import { Presence } from './presence/presence.js';
import type { Directory, Limits, ReachPolicy, ServerContext } from './proxy/context.js';
import { Router } from './proxy/router.js';
import { LocationService } from './registrar/location.js';
import { openStore } from './store/index.js';
import { ClientTransactions, ServerTransactions } from './transaction/transactions.js';
import {
  DEFAULT_TRANSPORT_LIMITS,
  formatEndpoint,
  type Connection,
  type TransportLimits,
} from './transport/connection.js';
import { listenTcp, listenTls, type ConnectFn } from './transport/tls.js';
import { PeerLinks } from './federation/links.js';
import { createResolver, DNS_TIMEOUT_MS } from './federation/srv.js';
import { listenWss } from './transport/wss.js';

export interface ServerOptions {
  dataDir: string;
  sip?: HostPort;
  wss?: HostPort;
  admin?: HostPort;
  /** The plain-TCP listener for insecure federation peers (overrides `federation.tcp`). */
  tcp?: HostPort;
  /**
   * The DNS servers that find peers added without an address (`1.2.3.4`, `1.2.3.4:5353`,
   * `[2001:db8::53]:53`; overrides `federation.dns.servers`; default: the system's).
   */
  dnsServers?: string[];
  logLevel?: string;
  logger?: Logger;
  /** Tighter limits for tests; production uses the defaults. */
  transport?: Partial<TransportLimits>;
  throttle?: Partial<ThrottleLimits>;
  ringTimeoutMs?: number;
  /** How often the database is checked for changes made by the admin CLI (and so how fast a revocation spreads). */
  reloadIntervalMs?: number;
  /** The CA key's passphrase when it is encrypted (default: TSUNAGU_CA_PASSPHRASE). */
  caPassphrase?: string;
  /** A certificate authority to use instead of the configured one (tests of the separate CA process). */
  authority?: CertificateAuthority;
}

export interface RunningServer {
  addresses: { sip: string; wss: string; admin: string; tcp?: string };
  caFingerprint: string;
  revocations: RevocationList;
  context: ServerContext;
  presence: Presence;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const config = loadConfig(opts.dataDir);
  const paths = dataPaths(opts.dataDir);
  const log = opts.logger ?? createLogger((opts.logLevel ?? 'info') as 'info');
  // Before anything is opened: a malformed server address throws here.
  const resolver = createResolver(opts.dnsServers ?? config.federation.dns?.servers, DNS_TIMEOUT_MS);
  const creds = {
    key: fs.readFileSync(paths.serverKey, 'utf8'),
    cert: fs.readFileSync(paths.serverCert, 'utf8'),
    ca: fs.readFileSync(paths.caCert, 'utf8'),
  };
  const store = openStore(paths.db, { create: false });
  const realm = config.realm ?? config.domain;

  // Caches of what the SIP hot path reads, dropped whenever the database changes.
  let policy: ReachPolicy = loadPolicy(store, config);
  let userNames: { list: string[]; set: Set<string> } | undefined;
  const userIndex = () => {
    if (!userNames) {
      const list = store.users.list().map((u) => u.name);
      userNames = { list, set: new Set(list) };
    }
    return userNames;
  };
  const deviceCache = new Map<
    string,
    { id: string; name: string; instance: string | undefined; revoked: boolean }[]
  >();
  const directory: Directory = {
    // A Set: every proxied request asks, and a reload asks once per authenticated connection.
    userExists: (user) => userIndex().set.has(user),
    users: () => userIndex().list,
    devices: (user) => {
      let list = deviceCache.get(user);
      if (!list) {
        list = store.devices.list(user).map((d) => ({
          id: d.id,
          name: d.name,
          instance: d.instance ?? undefined,
          revoked: d.revokedAt !== null,
        }));
        deviceCache.set(user, list);
      }
      return list;
    },
    deviceSeen: (user, deviceId, instance, address) => {
      if (deviceId) return deviceId;
      if (!instance) return undefined;
      try {
        const d = store.devices.touch(user, instance, { address });
        deviceCache.delete(user);
        return d.id;
      } catch (err) {
        log.warn({ user, err: (err as Error).message }, 'could not record device');
        return undefined;
      }
    },
  };

  const connections = new Map<string, Connection>();
  const location = new LocationService();
  const serverTx = new ServerTransactions();
  const clientTx = new ClientTransactions();
  const metrics = new Metrics({
    connections: () => connections.size,
    bindings: () => location.size,
    transactions: () => serverTx.size + clientTx.size,
  });
  const digest = new DigestAuthenticator(realm, config.digest.nonceTtlSeconds * 1000);
  // Every REGISTER looks its credentials up: keep them in memory until the database changes.
  const credentialCache = new Map<string, ReturnType<CredentialLookup>>();
  const auth = new Authenticator(
    digest,
    (username) => {
      if (credentialCache.has(username)) return credentialCache.get(username);
      const c = store.credentialsFor(username, realm);
      const found = c ? { credentials: c, allowMd5: c.ha1.MD5 !== undefined } : undefined;
      if (credentialCache.size >= 100_000) credentialCache.clear();
      credentialCache.set(username, found);
      return found;
    },
    config.domain,
    metrics,
    log.child({ module: 'auth' }),
    { ...DEFAULT_THROTTLE, ...opts.throttle },
  );
  const limits: Limits = {
    registration: config.registration,
    ringTimeoutMs: opts.ringTimeoutMs ?? 60_000,
    maxContactsPerRegister: 10,
  };
  const transportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...opts.transport };
  const sipAddr = opts.sip ?? { host: config.sip.listen, port: config.sip.port };
  const wssAddr = opts.wss ?? { host: config.wss.listen, port: config.wss.port };
  const adminAddr = opts.admin ?? { host: config.admin.listen, port: config.admin.port };

  // The SIP listener opens the outbound links; it exists only further down.
  let connect: ConnectFn = () => Promise.reject(new Error('the server is not listening yet'));
  const peers = new PeerLinks({
    connect: (to, o) => connect(to, o),
    log: log.child({ module: 'federation' }),
    metrics,
    timeoutMs: transportLimits.handshakeTimeoutMs,
    dns: { resolver, timeoutMs: DNS_TIMEOUT_MS },
  });
  peers.configure(store.peers.list());
  const ctx: ServerContext = {
    domain: config.domain,
    realm,
    // IPv6 addresses appear bracketed in URIs (RFC 5118).
    localHosts: new Set([
      config.domain,
      ...config.hosts,
      ...config.hosts.filter((h) => h.includes(':')).map((h) => `[${h}]`),
    ]),
    advertised: '', // set once the SIP port is known
    log: log.child({ module: 'sip' }),
    directory,
    policy: () => policy,
    location,
    serverTx,
    clientTx,
    auth,
    metrics,
    limits,
    peers,
    connection: (id) => connections.get(id),
  };
  let authority: CertificateAuthority;
  try {
    authority =
      opts.authority ??
      (config.ca.remote
        ? await connectRemoteAuthority(config.ca.remote, creds)
        : LocalAuthority.open(paths, opts.caPassphrase ?? readPassphrase({})));
  } catch (err) {
    store.close();
    throw err;
  }
  const revocations = new RevocationList(store, authority, log.child({ module: 'revocation' }));
  const issuance = new Issuance(ctx, {
    authority,
    validityDays: config.ca.validityDays,
    perDevicePerHour: config.ca.perDevicePerHour,
    maxInFlight: 64,
    device: (conn) => {
      const id = conn.identity;
      if (!id) return undefined;
      const deviceId =
        id.deviceId ?? ctx.location.bindings(id.user).find((b) => b.conn === conn && b.deviceId)?.deviceId;
      // From the database, not the cache: a device enrolled a moment ago may not be in it yet.
      const device = deviceId ? store.devices.get(id.user, deviceId) : undefined;
      return device && device.revokedAt === null ? { id: device.id, instance: device.instance } : undefined;
    },
    issuedSince: (user, device, since) => store.certificates.issuedSince(user, device, since),
    record: (subject, issued) =>
      store.certificates.record({
        serial: issued.serial,
        fingerprint: issued.fingerprint,
        user: subject.user,
        device: subject.deviceId,
        instance: subject.instance,
        pem: issued.certPem,
        notBefore: issued.notBefore.getTime(),
        notAfter: issued.notAfter.getTime(),
      }),
  });
  const presence = new Presence(ctx, {
    caPem: creds.ca,
    revoked: () => revocations.fingerprints(),
    keys: (user) =>
      store.certificates.current(user).map((c) => {
        const x = new X509Certificate(c.pem);
        return {
          device: c.device,
          name: directory.devices(user).find((d) => d.id === c.device)?.name ?? c.device,
          fingerprint: c.fingerprint,
          notAfter: new Date(c.notAfter).toISOString(),
          certificate: c.pem,
          publicKey: x.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        };
      }),
  });
  const router = new Router(ctx, presence, issuance);
  location.onChange(() => presence.changed());
  const events = {
    onForeignCertificate: (c: Connection, chain: X509Certificate[]) => peers.recognise(c, chain),
    onMessage: (c: Connection, m: Parameters<Router['onMessage']>[1]) => router.onMessage(c, m),
    onBadMessage: (c: Connection, raw: Buffer, e: Error & { status?: number }) =>
      router.onBadMessage(c, raw, e),
    onConnection: (c: Connection) => {
      if (c.clientCertificate) {
        const bound = certificateIdentity(c.clientCertificate, config.domain, (fp) => {
          const rec = store.certificates.byFingerprint(fp);
          if (!rec) return undefined;
          const device = store.devices.get(rec.user, rec.device);
          return { ...rec, revoked: rec.revokedAt !== null || !device || device.revokedAt !== null };
        });
        if (bound && 'identity' in bound) c.identity = bound.identity;
        else if (bound) c.refusal = bound.refusal;
      }
      connections.set(c.id, c);
      c.onClose(() => connections.delete(c.id));
    },
  };

  const sip = await listenTls(
    sipAddr.host,
    sipAddr.port,
    creds,
    transportLimits,
    events,
    log.child({ module: 'tls' }),
  );
  connect = sip.connect;
  const tcpAddr =
    opts.tcp ??
    (config.federation.tcp
      ? { host: config.federation.tcp.listen, port: config.federation.tcp.port }
      : undefined);
  const tcp = tcpAddr
    ? await listenTcp(
        tcpAddr.host,
        tcpAddr.port,
        transportLimits,
        {
          ...events,
          onConnection: (c) => {
            peers.adoptTcp(c);
            if (!c.closed) events.onConnection(c);
          },
        },
        log.child({ module: 'tcp' }),
        (remote) => peers.tcpPeer(remote) !== undefined,
      )
    : undefined;
  const advertisedHost = config.hosts[0] ?? config.domain;
  ctx.advertised = formatHostPort({ host: advertisedHost, port: sip.address.port });
  ctx.localHosts.add(sip.address.address.includes(':') ? `[${sip.address.address}]` : sip.address.address);
  let wss: Awaited<ReturnType<typeof listenWss>> | undefined;
  let admin: Awaited<ReturnType<typeof listenAdmin>> | undefined;
  try {
    const enroll = enrollHandler({
      domain: config.domain,
      realm,
      caPem: creds.ca,
      crl: () => revocations.crl(),
      log: log.child({ module: 'enroll' }),
      redeem: (r) => {
        try {
          const out = store.enrollWithInvite(r.user, r.token, { name: r.name, instance: r.instance });
          return out.status === 'ok' ? { device: out.device.id, secret: out.secret } : undefined;
        } catch {
          return undefined;
        }
      },
    });
    wss = await listenWss(
      wssAddr.host,
      wssAddr.port,
      creds,
      transportLimits,
      events,
      enroll,
      log.child({ module: 'wss' }),
    );
    admin = await listenAdmin(adminAddr.host, adminAddr.port, metrics, () => ({
      ok: true,
      detail: { connections: connections.size, bindings: location.size },
    }));
  } catch (err) {
    await sip.close();
    await tcp?.close();
    await wss?.close();
    await authority.close();
    store.close();
    throw err;
  }
  location.start();
  serverTx.start();

  // The admin CLI writes to the same database while we run: notice and apply without a restart.
  let seen = store.changeCounter();
  const reload = setInterval(() => {
    const now = store.changeCounter();
    if (now === seen) return;
    seen = now;
    try {
      policy = loadPolicy(store, config);
      userNames = undefined;
      deviceCache.clear();
      credentialCache.clear();
      revocations.reload();
      peers.configure(store.peers.list());
      revokeRemoved();
      presence.changed();
      log.info('configuration reloaded from the database');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reload failed; keeping the previous policy');
    }
  }, opts.reloadIntervalMs ?? 500);
  reload.unref();

  /** A removed or revoked user, device or certificate loses its registrations and connections at once. */
  function revokeRemoved(): void {
    for (const conn of connections.values()) {
      const id = conn.identity;
      if (!id) continue;
      const device = id.deviceId ? directory.devices(id.user).find((d) => d.id === id.deviceId) : undefined;
      const gone =
        !directory.userExists(id.user) ||
        (id.deviceId && (!device || device.revoked)) ||
        (id.certificate && revocations.has(id.certificate));
      if (gone) {
        location.dropConnection(conn);
        conn.close('credentials revoked');
        log.info({ user: id.user, device: id.deviceId }, 'closed connection of a removed user or device');
      }
    }
  }

  const addresses = {
    sip: formatEndpoint(sip.address),
    wss: formatEndpoint(wss.address),
    admin: formatEndpoint(admin.address),
    ...(tcp ? { tcp: formatEndpoint(tcp.address) } : {}),
  };
  log.info({ ...addresses, domain: config.domain }, 'tsunagu-server listening');

  let closing: Promise<void> | undefined;
  return {
    addresses,
    caFingerprint: fingerprint(creds.ca),
    revocations,
    context: ctx,
    presence,
    close: () =>
      (closing ??= (async () => {
        clearInterval(reload);
        presence.stop();
        location.stop();
        serverTx.stop();
        await Promise.all([sip.close(), tcp?.close(), wss!.close(), admin!.close()]);
        await authority.close();
        store.close();
        log.info('tsunagu-server stopped');
      })()),
  };
}
