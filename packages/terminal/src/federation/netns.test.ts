import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseJoinLink } from '@tsunagu/protocol';
import { createTopology, netnsAvailable, type NsProcess, type Topology } from './netns.js';

/**
 * The seed's own picture (issue 6): terminal 1, server A, server B and terminal 2, each on its own
 * network behind one router, with the real CLIs running as separate processes inside the namespaces.
 * Federation through server B comes later; for now one server carries the call.
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const SERVER_CLI = join(ROOT, 'packages/server/src/cli/main.ts');
const TERMINAL_CLI = join(ROOT, 'packages/terminal/src/cli/main.ts');
const NODE = [process.execPath, '--conditions=tsunagu-source', '--import', 'tsx'];
const ENV = { ...process.env, TSUNAGU_DATA: '', TSUNAGU_PROFILE: '' };
const MiB = 1 << 20;

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

/** Runs a CLI in `host`'s namespace and expects exit 0. */
async function run(host: HostName, main: string, args: readonly string[], timeoutMs = 20_000) {
  const r = await net!.run(host, NODE[0]!, cli(main, args), { cwd: ROOT, env: ENV, timeoutMs });
  assert.equal(r.code, 0, `${args[0]} on ${host}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

/** `tsunagu-server init` with the host's address in the certificate, then `start` on that address. */
async function startServer(host: HostName, domain: string): Promise<ServerRole> {
  const data = join(dir, `server-${host}`);
  const address = addressOf(host);
  await run(host, SERVER_CLI, ['init', '--data', data, '--domain', domain, '--host', address, '--json']);
  const server = net!.exec(
    host,
    NODE[0]!,
    cli(SERVER_CLI, ['start', '--data', data, '--sip', `[${address}]:5061`, '--wss', `[${address}]:5443`]),
    { cwd: ROOT, env: ENV },
  );
  const [line] = await server.waitFor(/^\{"event":"listening".*$/m, 20_000);
  assert.equal((JSON.parse(line) as { sip: string }).sip, `[${address}]:5061`);
  return { host, domain, data, process: server };
}

/** An invite link from the server's admin CLI, redeemed by `tsunagu enroll` on the terminal's host. */
async function enrollTerminal(host: HostName, server: ServerRole, user: string): Promise<TerminalRole> {
  const invite = await run(server.host, SERVER_CLI, [
    'invite',
    user,
    '--data',
    server.data,
    '--json',
    '--no-qr',
  ]);
  const { link } = JSON.parse(invite.stdout) as { link: string };
  assert.equal(parseJoinLink(link).server, `[${addressOf(server.host)}]:5061`, 'the link names the address');
  const profile = join(dir, `${host}-${user}`);
  const enrolled = await run(host, TERMINAL_CLI, ['enroll', link, '--profile', profile]);
  assert.match(enrolled.stdout, new RegExp(`^Joined as sip:${user}@${server.domain.replace(/\./g, '\\.')} `));
  return { host, server, user, profile, downloads: join(dir, `${host}-${user}-downloads`) };
}

/** `tsunagu daemon` accepting channels and files from `acceptFrom`, once it has registered. */
async function startDaemon(t: TerminalRole, acceptFrom: readonly string[]): Promise<void> {
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

/** `tsunagu send` of `size` random bytes from `from` to `to`'s daemon; the bytes that arrive must match. */
async function sendFile(from: TerminalRole, to: TerminalRole, size: number): Promise<void> {
  assert.ok(to.daemon, `${to.user} on ${to.host} runs no daemon`);
  const bytes = randomBytes(size);
  const name = `data-${randomBytes(4).toString('hex')}.bin`;
  const file = join(dir, `${from.host}-${from.user}-outbox`, name);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, bytes);
  const sent = await run(
    from.host,
    TERMINAL_CLI,
    ['send', contact(from, to), file, '--profile', from.profile],
    40_000,
  );
  assert.match(sent.stderr, new RegExp(`secure — verified with sip:${to.user}@`));
  const escaped = name.replace('.', '\\.');
  assert.match(sent.stderr, new RegExp(`✓ ${escaped} .*verified`));
  const [, savedAs] = await to.daemon.waitFor(
    new RegExp(`^file ${escaped} \\(receive\\): done → (.+)$`, 'm'),
    10_000,
  );
  const received = await readFile(savedAs!);
  assert.equal(received.length, size);
  assert.equal(sha256(received), sha256(bytes), 'the bytes that arrived are the bytes sent');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Why this machine cannot build the topology (not root, no `ip netns`): the tests skip, saying so. */
const skip = await netnsAvailable();

describe("the seed's own picture on network namespaces", () => {
  before(async () => {
    if (skip) return;
    dir = await mkdtemp(join(tmpdir(), 'tsunagu-netns-'));
    net = await createTopology(HOSTS);
  });
  after(async () => {
    await net?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'terminal 1 sends a file to terminal 2 through server A; it arrives intact',
    { skip: skip ?? false, timeout: 60_000 },
    async () => {
      const a = await startServer('serverA', 'a.example');
      const [alice, bob] = await Promise.all([
        enrollTerminal('t1', a, 'alice'),
        enrollTerminal('t2', a, 'bob'),
      ]);
      await startDaemon(bob, [alice.user]);
      await sendFile(alice, bob, MiB + randomInt(3 * MiB));
    },
  );
});
