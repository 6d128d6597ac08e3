import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { canonicalIp, ipFamily } from '@tsunagu/protocol';

/**
 * A test harness: hosts with their own IPv6 addresses, each in its own network namespace, joined by a
 * router namespace. Every host gets one veth pair to the router (`eth0` on its side), its address on its
 * own /64, the router `PREFIX::1` on that /64 and forwarding on, and a default route via the router.
 * Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; `netnsAvailable()` says why not.
 *
 * Namespaces are named `tsn-PID-RANDOM-HOST`: unique per run, and those of a run that was killed before
 * it could clean up are removed by the next `createTopology` (their PID no longer runs).
 */

export interface HostSpec {
  /** A short name: letters, digits and dashes. */
  readonly name: string;
  /** An IPv6 address; no two hosts on the same /64. */
  readonly address: string;
}

export interface RunResult {
  /** The exit code, or null when a signal ended the process (or it never started). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  /** The whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Written to standard input, which is then closed. */
  input?: string;
}

type Stream = 'stdout' | 'stderr';

export interface WaitOptions {
  stream?: Stream;
  from?: number;
}

export interface NsProcess {
  readonly child: ChildProcess;
  /** What it has written so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Settles when the process has exited and its output is read; never rejects. */
  readonly exited: Promise<RunResult>;
  /**
   * The match of `pattern` against the complete lines written to `stream` (default stdout) so far or
   * later, from character `from` on (default 0: a `mark()` taken before an action, to see only what
   * followed it); rejects when the process exits first or after `ms`, with the tail of its output.
   */
  waitFor(pattern: RegExp, ms: number, opts?: WaitOptions): Promise<RegExpMatchArray>;
  /** How much it has written to `stream` so far: a `from` for `waitFor`. */
  mark(stream?: Stream): number;
  /** SIGTERM, SIGKILL after `graceMs`; settles when it has exited. */
  stop(graceMs?: number): Promise<RunResult>;
}

export interface Topology {
  /** The namespace a host (or `router`) runs in. */
  namespace(host: string): string;
  /** Starts `cmd` inside the host's namespace; `close()` stops it if it still runs. */
  exec(host: string, cmd: string, args: readonly string[], opts?: ExecOptions): NsProcess;
  /** Runs `cmd` inside the host's namespace to its end; killed and rejected after `timeoutMs` (30 s). */
  run(
    host: string,
    cmd: string,
    args: readonly string[],
    opts?: ExecOptions & { timeoutMs?: number },
  ): Promise<RunResult>;
  /** Stops every process started here that still runs, then deletes the namespaces. Idempotent. */
  close(): Promise<void>;
}

const PREFIX = 'tsn';
const ROUTER = 'router';
const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/i;

/** Why network namespaces cannot be used here (a reason to skip), or undefined when they can. */
export async function netnsAvailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add); run the tests as root';
  const probe = `${PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}-probe`;
  const added = await ip(['netns', 'add', probe]);
  if (added.code !== 0) return `\`ip netns add\` does not work here: ${failure(added)}`;
  try {
    const veth = await ip(['-n', probe, 'link', 'add', 'name', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    if (veth.code !== 0) return `veth pairs cannot be created here: ${failure(veth)}`;
    return undefined;
  } finally {
    await ip(['netns', 'del', probe]);
  }
}

/**
 * Creates the namespaces, links, addresses and routes, and returns once every host reaches every other
 * through the router. Whatever was created is removed again if any step fails.
 */
export async function createTopology(hosts: readonly HostSpec[]): Promise<Topology> {
  const plan = planTopology(hosts);
  await sweepStale();
  const pdeathsig = (await start('setpriv', ['--pdeathsig', 'KILL', '--', 'true']).exited).code === 0;
  const live = new Set<NsProcess>();
  let closed: Promise<void> | undefined;

  const namespace = (host: string): string => {
    const ns = plan.namespaces.get(host);
    if (ns === undefined) throw new Error(`no host ${host} in this topology`);
    return ns;
  };
  const exec = (host: string, cmd: string, args: readonly string[], opts: ExecOptions = {}) => {
    if (closed) throw new Error('the topology is closed');
    // setpriv: killed with us should we die without cleaning up (`ip netns exec` execs, no fork).
    const inner = pdeathsig ? ['setpriv', '--pdeathsig', 'KILL', '--', cmd] : [cmd];
    const p = start('ip', ['netns', 'exec', namespace(host), ...inner, ...args], opts);
    live.add(p);
    void p.exited.then(() => live.delete(p));
    return p;
  };
  const topology: Topology = {
    namespace,
    exec,
    async run(host, cmd, args, opts = {}) {
      const p = exec(host, cmd, args, opts);
      const ms = opts.timeoutMs ?? 30_000;
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        void p.stop();
      }, ms);
      const r = await p.exited;
      clearTimeout(timer);
      if (late) throw new Error(`${cmd} on ${host} took over ${ms} ms${tail(r)}`);
      return r;
    },
    close() {
      closed ??= (async () => {
        await Promise.all([...live].map((p) => p.stop()));
        await Promise.all([...plan.namespaces.values()].map((ns) => ip(['netns', 'del', ns])));
      })();
      return closed;
    },
  };

  try {
    await build(plan);
    await waitReady(plan);
    await probeRoutes(topology, hosts);
    return topology;
  } catch (e) {
    await topology.close();
    throw e;
  }
}

interface Plan {
  /** Host name (and `router`) → namespace. */
  namespaces: Map<string, string>;
  links: { host: string; address: string; gateway: string; routerIf: string }[];
}

function planTopology(hosts: readonly HostSpec[]): Plan {
  const run = `${PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const namespaces = new Map([[ROUTER, `${run}-${ROUTER}`]]);
  const prefixes = new Set<string>();
  const links = hosts.map((h, i) => {
    if (!HOST_NAME.test(h.name) || namespaces.has(h.name))
      throw new Error(`host name '${h.name}': expected a unique short name of letters, digits and dashes`);
    const prefix = prefix64(h.address);
    if (prefixes.has(prefix)) throw new Error(`${h.address}: another host is on ${prefix}::/64 already`);
    prefixes.add(prefix);
    const gateway = canonicalIp(`${prefix}::1`)!;
    if (gateway === canonicalIp(h.address))
      throw new Error(`${h.address} is the router's address on its /64`);
    namespaces.set(h.name, `${run}-${h.name}`);
    return { host: h.name, address: h.address, gateway, routerIf: `r${i}` };
  });
  return { namespaces, links };
}

/** The first four groups of an IPv6 address, e.g. `2001:db8:1234:0`. */
function prefix64(address: string): string {
  const c = canonicalIp(address);
  if (c === undefined || ipFamily(c) !== 6) throw new Error(`${address}: not an IPv6 address`);
  const [head = '', tail] = c.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  return [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t].slice(0, 4).join(':');
}

async function build(plan: Plan): Promise<void> {
  const ns = (host: string) => plan.namespaces.get(host)!;
  await batch(
    undefined,
    [...plan.namespaces.values()].map((n) => `netns add ${n}`),
  );
  await batch(ns(ROUTER), [
    'link set lo up',
    ...plan.links.flatMap((l) => [
      `link add ${l.routerIf} type veth peer name eth0 netns ${ns(l.host)}`,
      `addr add ${l.gateway}/64 dev ${l.routerIf} nodad`,
      `link set ${l.routerIf} up`,
    ]),
  ]);
  await check(
    start('ip', ['netns', 'exec', ns(ROUTER), 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']).exited,
    'enable forwarding in the router',
  );
  await Promise.all(
    plan.links.map((l) =>
      batch(ns(l.host), [
        'link set lo up',
        `addr add ${l.address}/64 dev eth0 nodad`,
        'link set eth0 up',
        `route add default via ${l.gateway} dev eth0`,
      ]),
    ),
  );
}

interface IpLink {
  ifname: string;
  flags: string[];
  addr_info?: { family: string; local: string; tentative?: boolean; dadfailed?: boolean }[];
}

/** Until every global address is usable (not tentative) on a link that is up at both ends. */
async function waitReady(plan: Plan, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  const wanted = [
    ...plan.links.map((l) => ({ ns: plan.namespaces.get(l.host)!, ifname: 'eth0', address: l.address })),
    ...plan.links.map((l) => ({ ns: plan.namespaces.get(ROUTER)!, ifname: l.routerIf, address: l.gateway })),
  ];
  for (;;) {
    const pending: string[] = [];
    for (const w of wanted) {
      const r = await check(
        start('ip', ['-j', '-n', w.ns, 'addr', 'show', 'dev', w.ifname]).exited,
        'ip addr',
      );
      const link = (JSON.parse(r.stdout) as IpLink[])[0];
      const addr = link?.addr_info?.find((a) => canonicalIp(a.local) === canonicalIp(w.address));
      if (addr?.dadfailed) throw new Error(`${w.address} in ${w.ns}: duplicate address detected`);
      if (!link?.flags.includes('LOWER_UP') || !addr || addr.tentative)
        pending.push(`${w.address} (${w.ns})`);
    }
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`addresses not usable after ${ms} ms: ${pending.join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Proves the routes with a TCP connection from every host to every other on a closed port: a reset
 * (ECONNREFUSED) came back through the router; a timeout or an unreachable error did not.
 */
const PROBE = `
const net = require('node:net');
Promise.all(process.argv.slice(1).map((host) => new Promise((done) => {
  const s = net.connect({ host, port: 9, timeout: 3000 });
  s.on('connect', () => { s.destroy(); done(''); });
  s.on('timeout', () => { s.destroy(); done(host + ': no answer'); });
  s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? '' : host + ': ' + e.code));
}))).then((r) => { const bad = r.filter(Boolean); if (bad.length) { console.error(bad.join('; ')); process.exit(1); } });
`;

async function probeRoutes(topology: Topology, hosts: readonly HostSpec[]): Promise<void> {
  await Promise.all(
    hosts.map(async (h) => {
      const others = hosts.filter((o) => o !== h).map((o) => o.address);
      if (others.length === 0) return;
      const r = await topology.run(h.name, process.execPath, ['-e', PROBE, ...others], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`${h.name} does not reach the other hosts: ${r.stderr.trim()}`);
    }),
  );
}

/** Removes the namespaces of earlier runs whose process no longer exists. */
async function sweepStale(): Promise<void> {
  const list = await ip(['netns', 'list']);
  const stale = list.stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => {
      const pid = new RegExp(`^${PREFIX}-(\\d+)-[0-9a-f]+-`).exec(name)?.[1];
      return pid !== undefined && Number(pid) !== process.pid && !alive(Number(pid));
    });
  await Promise.all(stale.map((name) => ip(['netns', 'del', name])));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `ip [-n NS] -batch -` with these commands; throws with ip's message when one fails. */
async function batch(ns: string | undefined, commands: readonly string[]): Promise<void> {
  const args = [...(ns ? ['-n', ns] : []), '-batch', '-'];
  await check(start('ip', args, { input: `${commands.join('\n')}\n` }).exited, `ip ${args.join(' ')}`);
}

const ip = (args: readonly string[]): Promise<RunResult> => start('ip', args).exited;

async function check(result: Promise<RunResult>, what: string): Promise<RunResult> {
  const r = await result;
  if (r.code !== 0) throw new Error(`${what}: ${failure(r)}`);
  return r;
}

const failure = (r: RunResult) => r.stderr.trim() || `exit ${r.code ?? r.signal}`;

/** The last lines of a process's output, for error messages. */
const tail = (r: { stdout: string; stderr: string }) => {
  const text = `${r.stdout}${r.stderr}`.trimEnd().split('\n').slice(-15).join('\n');
  return text ? `; its last output:\n${text}` : '';
};

function start(cmd: string, args: readonly string[], opts: ExecOptions = {}): NsProcess {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout.on('data', (c: Buffer) => ((text.stdout += c.toString()), notify()));
  child.stderr.on('data', (c: Buffer) => ((text.stderr += c.toString()), notify()));
  child.stdin.on('error', () => undefined); // a process that exits without reading its input
  child.stdin.end(opts.input ?? '');
  const exited = new Promise<RunResult>((resolve) => {
    child.once('error', (e) => {
      text.stderr += `${cmd}: ${e.message}\n`;
      resolve({ code: null, signal: null, ...text });
    });
    child.once('close', (code, signal) => resolve({ code, signal, ...text }));
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    notify();
  });

  return {
    child,
    get stdout() {
      return text.stdout;
    },
    get stderr() {
      return text.stderr;
    },
    exited,
    mark(stream = 'stdout') {
      return text[stream].length;
    },
    waitFor(pattern, ms, { stream = 'stdout', from = 0 } = {}) {
      return new Promise((resolve, reject) => {
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(look);
          f();
        };
        const look = () => {
          const s = text[stream];
          const m = s.slice(from, s.lastIndexOf('\n') + 1).match(pattern);
          if (m) done(() => resolve(m));
          else if (ended)
            done(() => reject(new Error(`${cmd} exited before ${pattern} appeared${tail(text)}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} from ${cmd} within ${ms} ms${tail(text)}`))),
          ms,
        );
        waiters.add(look);
        look();
      });
    },
    async stop(graceMs = 5000) {
      if (!ended) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
