import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseJoinLink } from '@tsunagu/protocol';
import { createTopology, netnsAvailable, type NsProcess, type RunResult, type Topology } from './netns.js';

/**
 * The seed's own picture (issue 6, Fig. 3): terminal 1, server A, server B and terminal 2, each on its
 * own network behind one router, with the real CLIs running as separate processes inside the
 * namespaces. alice@a.example on terminal 1 sends a file to bob@b.example on terminal 2 through both
 * servers, federated the way two admins do it (`ca fingerprint`, `peer add`); then the A–B leg is made
 * untrustworthy twice — a wrong CA fingerprint, plain TCP — and nothing may reach terminal 2.
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const SERVER_CLI = join(ROOT, 'packages/server/src/cli/main.ts');
const TERMINAL_CLI = join(ROOT, 'packages/terminal/src/cli/main.ts');
const NODE = [process.execPath, '--conditions=tsunagu-source', '--import', 'tsx'];
const ENV = { ...process.env, TSUNAGU_DATA: '', TSUNAGU_PROFILE: '' };
const MiB = 1 << 20;
const SIP_PORT = 5061;
/** The plain-TCP federation listener (config.json `federation.tcp`) for the insecure leg. */
const TCP_PORT = 5070;

const HOSTS = [
  { name: 't1', address: '2001:db8:1234::10' },
  { name: 'serverA', address: '2001:db8:6789::5060' },
  { name: 'serverB', address: '2001:db8:abcd::5060' },
  { name: 't2', address: '2001:db8:cdef::10' },
] as const;
type HostName = (typeof HOSTS)[number]['name'];
const addressOf = (host: HostName) => HOSTS.find((h) => h.name === host)!.address;

interface ServerRole {
  host: HostName;
  domain: string;
  data: string;
  /** `tsunagu-server start`; replaced on a restart. */
  process: NsProcess;
}

interface TerminalRole {
  host: HostName;
  server: ServerRole;
  user: string;
  profile: string;
  downloads: string;
  daemon?: NsProcess;
}

let net: Topology | undefined;
let dir: string;

const cli = (main: string, args: readonly string[]) => [...NODE.slice(1), main, ...args];

/** Runs a CLI in `host`'s namespace to its end, whatever its exit code. */
const runAny = (host: HostName, main: string, args: readonly string[], timeoutMs = 20_000) =>
  net!.run(host, NODE[0]!, cli(main, args), { cwd: ROOT, env: ENV, timeoutMs });

/** Runs a CLI in `host`'s namespace and expects exit 0. */
async function run(host: HostName, main: string, args: readonly string[], timeoutMs = 20_000) {
  const r = await runAny(host, main, args, timeoutMs);
  assert.equal(r.code, 0, `${args.join(' ')} on ${host}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

/** `tsunagu-server …` against the server's data folder, on its host. */
const admin = (s: ServerRole, args: readonly string[]) =>
  run(s.host, SERVER_CLI, [...args, '--data', s.data]);

/** A server's log line (JSON on standard error) with this `msg`, written after `from`, parsed. */
async function serverLog(server: NsProcess, msg: string, from: number, ms = 10_000) {
  const pattern = new RegExp(`^\\{.*"msg":${escape(JSON.stringify(msg))}.*\\}$`, 'm');
  const [line] = await server.waitFor(pattern, ms, { stream: 'stderr', from });
  return JSON.parse(line) as Record<string, unknown>;
}

/** `tsunagu-server start` on the host's address, once it listens; `tcp`: its plain-TCP listener. */
async function launch(s: Pick<ServerRole, 'host' | 'data'>) {
  const address = addressOf(s.host);
  const server = net!.exec(
    s.host,
    NODE[0]!,
    cli(SERVER_CLI, [
      'start',
      '--data',
      s.data,
      '--sip',
      `[${address}]:${SIP_PORT}`,
      '--wss',
      `[${address}]:5443`,
    ]),
    { cwd: ROOT, env: ENV },
  );
  const [line] = await server.waitFor(/^\{"event":"listening".*$/m, 20_000);
  assert.equal((JSON.parse(line) as { sip: string }).sip, `[${address}]:${SIP_PORT}`);
  const { tcp } = (await serverLog(server, 'tsunagu-server listening', 0)) as { tcp?: string };
  return { process: server, tcp };
}

/** `tsunagu-server init` with the host's address in the certificate, then `start`. */
async function startServer(host: HostName, domain: string): Promise<ServerRole> {
  const data = join(dir, `server-${host}`);
  await run(host, SERVER_CLI, [
    'init',
    '--data',
    data,
    '--domain',
    domain,
    '--host',
    addressOf(host),
    '--json',
  ]);
  return { host, domain, data, process: (await launch({ host, data })).process };
}

/** Stops the server (it must exit 0 on SIGTERM), lets `change` edit its data folder, starts it again. */
async function restart(s: ServerRole, change: () => Promise<void>) {
  const stopped = await s.process.stop();
  assert.equal(stopped.code, 0, `${s.domain}'s server did not stop cleanly${stopped.stderr.slice(-2000)}`);
  await change();
  const started = await launch(s);
  s.process = started.process;
  return started;
}

/** What the admin reads out to the other admin: `tsunagu-server ca fingerprint`. */
async function caFingerprint(s: ServerRole): Promise<string> {
  const fp = (await admin(s, ['ca', 'fingerprint'])).stdout.trim();
  assert.match(fp, /^sha256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  return fp;
}

/** `peer add` of `peer`'s domain at `s`, at `peer`'s address (`--insecure-tcp`: the TCP listener's port). */
async function addPeer(s: ServerRole, peer: ServerRole, fingerprint: string, insecureTcp = false) {
  const address = `[${addressOf(peer.host)}]:${insecureTcp ? TCP_PORT : SIP_PORT}`;
  const args = ['peer', 'add', peer.domain, '--address', address, '--ca-fingerprint', fingerprint];
  const r = await admin(s, insecureTcp ? [...args, '--insecure-tcp'] : args);
  const over = insecureTcp ? 'plain TCP \\(not secure\\)' : 'TLS';
  assert.match(
    r.stdout,
    new RegExp(
      `^Added peer ${escape(peer.domain)}: ${escape(address)} over ${over}, CA ${fingerprint}$`,
      'm',
    ),
  );
}

/** config.json `federation.tcp`: the plain-TCP listener for insecure peers, on the server's address. */
async function listenTcp(s: ServerRole) {
  const file = join(s.data, 'config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  config.federation = { tcp: { listen: addressOf(s.host), port: TCP_PORT } };
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
}

/** An invite link from the server's admin CLI, redeemed by `tsunagu enroll` on the terminal's host. */
async function enrollTerminal(host: HostName, server: ServerRole, user: string): Promise<TerminalRole> {
  const invite = await admin(server, ['invite', user, '--json', '--no-qr']);
  const { link } = JSON.parse(invite.stdout) as { link: string };
  assert.equal(
    parseJoinLink(link).server,
    `[${addressOf(server.host)}]:${SIP_PORT}`,
    'the link names the address',
  );
  const profile = join(dir, `${host}-${user}`);
  const enrolled = await run(host, TERMINAL_CLI, ['enroll', link, '--profile', profile]);
  assert.match(enrolled.stdout, new RegExp(`^Joined as sip:${user}@${escape(server.domain)} `));
  return { host, server, user, profile, downloads: join(dir, `${host}-${user}-downloads`) };
}

/** `tsunagu daemon` accepting channels and files from `acceptFrom`, once it has registered. */
async function startDaemon(t: TerminalRole, acceptFrom: readonly string[]): Promise<void> {
  await mkdir(t.downloads, { recursive: true });
  t.daemon = net!.exec(
    t.host,
    NODE[0]!,
    cli(TERMINAL_CLI, [
      'daemon',
      '--profile',
      t.profile,
      '--downloads',
      t.downloads,
      '--accept-from',
      ...acceptFrom,
    ]),
    { cwd: ROOT, env: ENV },
  );
  await t.daemon.waitFor(/^connection: registered$/m, 20_000);
}

/** How `from` names `to`: a user name on its own server, `user@domain` on another. */
const contact = (from: TerminalRole, to: TerminalRole) =>
  from.server === to.server ? to.user : `${to.user}@${to.server.domain}`;

const aor = (t: TerminalRole) => `sip:${t.user}@${t.server.domain}`;

/** A fresh file of `size` random bytes in `from`'s outbox. */
async function outgoingFile(from: TerminalRole, size: number) {
  const bytes = randomBytes(size);
  const name = `data-${randomBytes(4).toString('hex')}.bin`;
  const file = join(dir, `${from.host}-${from.user}-outbox`, name);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, bytes);
  return { bytes, name, file };
}

/** `tsunagu send FILE` from `from` to `to`, whatever its exit code. */
const send = (from: TerminalRole, to: TerminalRole, file: string): Promise<RunResult> =>
  runAny(from.host, TERMINAL_CLI, ['send', contact(from, to), file, '--profile', from.profile], 40_000);

/** The CLI's path line (protocol describePath): `A → B → C (secure)`. */
const pathText = (hops: readonly string[], secure: boolean) =>
  `${hops.length > 0 ? hops.join(' → ') : 'no hops'} (${secure ? 'secure' : 'not secure end to end'})`;

/** What the receiving end holds: its downloads folder. */
const downloads = async (t: TerminalRole) => (await readdir(t.downloads)).sort();

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Why this machine cannot build the topology (not root, no `ip netns`): the tests skip, saying so. */
const skip = await netnsAvailable();

describe("the seed's Fig. 3 on network namespaces: two domains, federated", () => {
  let a: ServerRole;
  let b: ServerRole;
  let alice: TerminalRole;
  let bob: TerminalRole;
  /** The CA fingerprints as each admin printed them. */
  let fingerprints: { a: string; b: string };
  /** The path of a call from terminal 1 to terminal 2: terminal 1, server A, server B. */
  const secureHops = (['t1', 'serverA', 'serverB'] as const).map(addressOf);

  before(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'tsunagu-netns-'));
    net = await createTopology(HOSTS);
    [a, b] = await Promise.all([startServer('serverA', 'a.example'), startServer('serverB', 'b.example')]);
    const [fa, fb] = await Promise.all([caFingerprint(a), caFingerprint(b)]);
    fingerprints = { a: fa, b: fb };
    assert.notEqual(fingerprints.a, fingerprints.b);
    // Each admin adds the other while the servers run: they pick it up from the database.
    const marks = [a.process.mark('stderr'), b.process.mark('stderr')];
    await Promise.all([addPeer(a, b, fingerprints.b), addPeer(b, a, fingerprints.a)]);
    await Promise.all([
      serverLog(a.process, 'configuration reloaded from the database', marks[0]!),
      serverLog(b.process, 'configuration reloaded from the database', marks[1]!),
    ]);
    [alice, bob] = await Promise.all([enrollTerminal('t1', a, 'alice'), enrollTerminal('t2', b, 'bob')]);
    await startDaemon(bob, [`${alice.user}@${a.domain}`]);
  });
  after(async () => {
    await net?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'terminal 1 sends a file to bob@b.example through servers A and B; it arrives intact, and both ends saw the secure path',
    { skip: skip ?? false, timeout: 60_000 },
    async () => {
      // Terminal 1 lists bob of the peer domain (A allows all, and so does B), online, by full address.
      const listed = await run(alice.host, TERMINAL_CLI, ['contacts', '--json', '--profile', alice.profile]);
      const contacts = JSON.parse(listed.stdout) as { user: string; online: boolean }[];
      assert.ok(
        contacts.some((c) => c.user === `${bob.user}@${b.domain}` && c.online),
        `terminal 1's contacts: ${listed.stdout}`,
      );
      const { bytes, name, file } = await outgoingFile(alice, MiB + randomInt(3 * MiB));
      const from = bob.daemon!.mark();
      const sent = await send(alice, bob, file);
      assert.equal(sent.code, 0, `send: exit ${sent.code}\n${sent.stdout}${sent.stderr}`);
      assert.match(
        sent.stderr,
        new RegExp(
          `^secure — verified with ${escape(aor(bob))};.*; certificate issued by b\\.example's CA$`,
          'm',
        ),
        'bob’s certificate checked against B’s CA, fetched through A',
      );
      assert.match(
        sent.stderr,
        new RegExp(`^path: ${escape(pathText(secureHops, true))}$`, 'm'),
        'the caller saw terminal 1 → A → B, secure',
      );
      assert.match(sent.stderr, new RegExp(`✓ ${escape(name)} .*verified`));

      const [, savedAs] = await bob.daemon!.waitFor(
        new RegExp(`^file ${escape(name)} \\(receive\\): done → (.+)$`, 'm'),
        10_000,
        { from },
      );
      const received = await readFile(savedAs!);
      assert.equal(received.length, bytes.length);
      assert.equal(sha256(received), sha256(bytes), 'the bytes that arrived are the bytes sent');
      await bob.daemon!.waitFor(
        new RegExp(
          `^channel \\S+ with ${escape(aor(alice))}: secure; path: ${escape(pathText(secureHops, true))}; certificate issued by a\\.example's CA$`,
          'm',
        ),
        1000,
        { from },
      );
    },
  );

  it(
    "a peer with the wrong CA: A holds its own CA's fingerprint for b.example; the send fails with 502 Peer Not Trusted, A logs why, nothing reaches terminal 2",
    { skip: skip ?? false, timeout: 60_000 },
    async () => {
      await restart(a, async () => {
        await admin(a, ['peer', 'remove', b.domain]);
        await addPeer(a, b, fingerprints.a);
      });
      const held = await downloads(bob);
      const { file } = await outgoingFile(alice, 64 * 1024);
      const fromDaemon = bob.daemon!.mark();
      const fromLog = a.process.mark('stderr');
      const sent = await send(alice, bob, file);
      assert.notEqual(sent.code, 0, `the send must fail\n${sent.stdout}${sent.stderr}`);
      assert.match(
        sent.stderr,
        new RegExp(`no secure channel to ${escape(contact(alice, bob))}: .*\\(502 Peer Not Trusted\\)`),
      );
      const failed = await serverLog(a.process, 'federation link failed', fromLog);
      assert.equal(failed.peer, b.domain);
      assert.match(String(failed.err), /CA configured for b\.example/);
      assert.doesNotMatch(
        bob.daemon!.stdout.slice(fromDaemon),
        /^channel /m,
        'terminal 2 heard of no channel',
      );
      assert.deepEqual(await downloads(bob), held, 'no file on terminal 2');
    },
  );

  it(
    'one hop made insecure: the A–B leg as plain TCP; terminal 2 refuses, the send fails naming the path as not secure, nothing arrives',
    { skip: skip ?? false, timeout: 60_000 },
    async () => {
      const fromDaemon = bob.daemon!.mark();
      // Both admins: the leg as plain TCP to the other's TCP listener, opened in config.json.
      const [listenA, listenB] = await Promise.all([
        restart(a, async () => {
          await listenTcp(a);
          await admin(a, ['peer', 'remove', b.domain]);
          await addPeer(a, b, fingerprints.b, true);
        }),
        restart(b, async () => {
          await listenTcp(b);
          await admin(b, ['peer', 'remove', a.domain]);
          await addPeer(b, a, fingerprints.a, true);
        }),
      ]);
      assert.equal(listenA.tcp, `[${addressOf('serverA')}]:${TCP_PORT}`);
      assert.equal(listenB.tcp, `[${addressOf('serverB')}]:${TCP_PORT}`);
      // Terminal 2's daemon lost B with the restart: it registers again by itself.
      await bob.daemon!.waitFor(/^connection: registered$/m, 20_000, { from: fromDaemon });

      const held = await downloads(bob);
      const { name, file } = await outgoingFile(alice, 64 * 1024);
      const from = bob.daemon!.mark();
      const [fromA, fromB] = [a.process.mark('stderr'), b.process.mark('stderr')];
      const sent = await send(alice, bob, file);
      assert.notEqual(sent.code, 0, `the send must fail\n${sent.stdout}${sent.stderr}`);
      // The caller learns no hops: the 606 came back over the TCP leg, so A forwarded none of its values.
      assert.match(
        sent.stderr,
        new RegExp(
          `no secure channel to ${escape(contact(alice, bob))}: .*the path is not secure end to end.*; path: ${escape(pathText([], false))}$`,
          'm',
        ),
      );
      // Terminal 2 saw the request and refused it: only its own server vouched for the path.
      await bob.daemon!.waitFor(
        new RegExp(
          `^channel \\S+ with ${escape(aor(alice))}: failed \\(the path is not secure end to end: [^)]*\\); path: ${escape(pathText([addressOf('serverB')], false))}$`,
          'm',
        ),
        5000,
        { from },
      );
      assert.doesNotMatch(bob.daemon!.stdout.slice(from), new RegExp(`${escape(name)}|: secure`));
      // The servers say why: A opened the leg as plain TCP, B could not vouch for what came over it.
      assert.equal(
        (await serverLog(a.process, 'federation link open over plain TCP (not secure)', fromA)).peer,
        b.domain,
      );
      const dropped = await serverLog(
        b.process,
        'Route-Security values not vouched for: not forwarded',
        fromB,
      );
      assert.equal(dropped.problem, 'the link it came over is not secure');
      assert.equal(dropped.routeSecurity, `[${addressOf('t1')}], [${addressOf('serverA')}]`);
      assert.deepEqual(await downloads(bob), held, 'no file on terminal 2');
    },
  );
});
