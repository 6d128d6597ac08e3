/// <reference lib="dom" />
/**
 * The desktop UI as a person meets it, in its web twin (`tsunagu daemon --gui` and a Chromium page on
 * its access link), with the end-to-end fixtures' real processes (`e2e/fixtures/world.ts`: a
 * `tsunagu-server` and the daemons, all built from this repository):
 *
 * 1. **Cold start to a usable contact list**: alice is enrolled and bob's daemon is online. Spawn
 *    alice's `tsunagu daemon --gui`; as soon as it prints its GUI line, a fresh browser context opens the
 *    access link; stop when the page shows bob's contact button as online. Split into spawn → GUI line
 *    and page goto → contact online. The daemon is stopped between runs. Beside it, a warm reload of the
 *    page with the daemon already running.
 * 2. **Click to "Secure — verified"** as the UI shows it: alice clicks bob, bob's daemon accepts by
 *    itself (`--accept-from alice`), until alice's `channel-state` reads "Secure — verified". Beside it,
 *    interleaved in the same run, its floor: the same open through alice's daemon's control endpoint
 *    (`channel.open` → the `channel` event with phase 'secure'), without the page.
 *
 *   node --conditions=tsunagu-source --import tsx bench/ui.ts [--cold 20] [--reloads 20] [--opens 50]
 *
 * Needs `npx tsc -b` and `npm run build -w @tsunagu/desktop` first (the CLIs and the renderer), and
 * Chromium launched as the end-to-end tests launch it (`e2e/fixtures/chromium.ts`: /usr/bin/chromium,
 * or CHROMIUM_PATH=path). Page-side moments are taken inside the page (MutationObserver,
 * `performance.now()`), so Playwright's polling adds nothing; when a figure spans Node and the page,
 * both sides use `performance.timeOrigin + performance.now()` (the same wall clock).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import type { TerminalEvent } from '../packages/protocol/src/index.js';
import { nextEvent } from '../packages/terminal/src/core/events.js';
import { connectControl, DAEMON_FILE, type DaemonInfo } from '../packages/terminal/src/daemon/control.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/fixtures/chromium.js';
import { World, type Daemon } from '../e2e/fixtures/world.js';
import { numberOption, stats, type Stats } from './stats.js';

const COLD = numberOption('cold', 20);
const RELOADS = numberOption('reloads', 20);
const OPENS = numberOption('opens', 50);
/** Runs of each kind done first and left out of the figures. */
const WARMUP = numberOption('warmup', 2);

type Api = Awaited<ReturnType<typeof connectControl>>;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the page's. */
const now = () => performance.timeOrigin + performance.now();

const contact = (page: Page, user: string) => page.getByRole('button', { name: new RegExp(`^${user}\\b`) });

/**
 * Runs in every document of a context before the page's own scripts: records the moment (wall clock)
 * the contact list first shows `user` online.
 */
function watchContact(user: string): void {
  const w = window as unknown as { __contactOnline?: number };
  const selector = `[data-testid="contact"][data-user="${user}"] .presence-online`;
  const observer = new MutationObserver(() => {
    if (w.__contactOnline === undefined && document.querySelector(selector)) {
      w.__contactOnline = performance.timeOrigin + performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
}

/** When (wall clock, from inside the page) the current document first showed the contact online. */
async function contactOnlineAt(page: Page): Promise<number> {
  const handle = await page.waitForFunction(
    () => (window as unknown as { __contactOnline?: number }).__contactOnline,
    undefined,
    { timeout: 20_000 },
  );
  return (await handle.jsonValue()) as number;
}

function daemonInfo(d: Daemon): DaemonInfo {
  return JSON.parse(readFileSync(join(d.profileDir, DAEMON_FILE), 'utf8')) as DaemonInfo;
}

async function registered(api: Api): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await api.call('snapshot', {})).connection.state === 'registered') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the daemon did not register within 10 s');
}

const isChannel =
  (pred: (c: Extract<TerminalEvent, { type: 'channel' }>['data']) => boolean) => (e: TerminalEvent) =>
    e.type === 'channel' && pred(e.data);

const channelEnded = (api: Api) =>
  nextEvent(
    api,
    isChannel((c) => c.phase === 'ended'),
    10_000,
  );

const world = await World.create();
let browser: Browser | undefined;
const contexts = new Set<BrowserContext>();
const apis: Api[] = [];
async function cleanUp(): Promise<void> {
  for (const a of apis) a.close();
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await world.close();
}

// A signal stops the bench between two runs (nothing half-started is left behind); a second one at once.
class Interrupted extends Error {}
let interrupted: string | undefined;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = signal;
    console.error(`${signal}: stopping after this run, then cleaning up`);
  });
}
function checkInterrupted(): void {
  if (interrupted) throw new Interrupted(interrupted);
}

async function newContext(): Promise<BrowserContext> {
  const context = await browser!.newContext({ viewport: { width: 1200, height: 800 } });
  contexts.add(context);
  await context.addInitScript(watchContact, 'bob');
  return context;
}

async function closeContext(context: BrowserContext): Promise<void> {
  contexts.delete(context);
  await context.close();
}

/** 1. Spawn alice's daemon → GUI line → page on the access link → bob shown online. */
async function coldStart(): Promise<{ spawn: number; page: number; total: number }> {
  const context = await newContext();
  const page = await context.newPage();
  const t0 = now();
  const daemon = await world.daemon('alice');
  const t1 = now();
  await page.goto(daemon.link);
  const shown = await contactOnlineAt(page);
  const total = shown - t0;
  // The same, as the end-to-end test sees it (not timed).
  await contact(page, 'bob')
    .filter({ hasText: /online/i })
    .waitFor();
  await closeContext(context);
  await daemon.stop();
  return { spawn: t1 - t0, page: shown - t1, total };
}

/** 1b. The daemon already running: reload the page → bob shown online. */
async function warmReload(page: Page): Promise<number> {
  const t0 = now();
  await page.reload();
  return (await contactOnlineAt(page)) - t0;
}

const channelStateIs = (page: Page, secure: boolean) =>
  page.waitForFunction(
    (want) =>
      /Secure — verified/.test(document.querySelector('[data-testid="channel-state"]')?.textContent ?? '') ===
      want,
    secure,
    { timeout: 10_000 },
  );

/** 2. Click bob → alice's channel-state reads "Secure — verified", timed inside the page. */
async function uiOpen(page: Page, bob: Api): Promise<number> {
  await channelStateIs(page, false);
  await page.evaluate(() => {
    const w = window as unknown as { __open?: Promise<number> };
    w.__open = new Promise<number>((resolve, reject) => {
      let clicked: number | undefined;
      document.addEventListener('click', () => (clicked ??= performance.now()), {
        capture: true,
        once: true,
      });
      const observer = new MutationObserver(() => {
        if (clicked === undefined) return;
        const state = document.querySelector('[data-testid="channel-state"]')?.textContent ?? '';
        if (!/Secure — verified/.test(state)) return;
        const ms = performance.now() - clicked;
        observer.disconnect();
        clearTimeout(timer);
        resolve(ms);
      });
      observer.observe(document.body, { childList: true, subtree: true, characterData: true });
      const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error('no "Secure — verified" within 10 s of the click'));
      }, 10_000);
    });
  });
  await contact(page, 'bob').click();
  const ms = await page.evaluate(() => (window as unknown as { __open: Promise<number> }).__open);
  const ended = channelEnded(bob);
  await page.getByRole('button', { name: 'Close channel' }).click();
  await channelStateIs(page, false);
  await ended;
  return ms;
}

/** 2, floor: the same open through alice's control endpoint, no page involved. */
async function apiOpen(alice: Api, bob: Api): Promise<number> {
  const t0 = performance.now();
  const secure = nextEvent(
    alice,
    isChannel((c) => c.direction === 'outgoing' && c.phase === 'secure'),
    10_000,
  );
  const { channelId } = await alice.call('channel.open', { user: 'bob' });
  const e = await secure;
  const ms = performance.now() - t0;
  if (e.type !== 'channel' || e.data.id !== channelId) throw new Error('a secure event for another channel');
  const ended = channelEnded(bob);
  await alice.call('channel.close', { channelId });
  await ended;
  return ms;
}

try {
  const started = performance.now();
  world.allow('alice', 'bob');
  world.enrol('alice');
  world.enrol('bob');
  const bobDaemon = await world.daemon('bob', { acceptFrom: ['alice'] });
  const bob = await connectControl(daemonInfo(bobDaemon));
  apis.push(bob);
  await registered(bob);
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH=path)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // The signal handlers above close it properly (Playwright's own would kill it and leave its profile).
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: CHROMIUM_ARGS,
  });

  const cold: { spawn: number; page: number; total: number }[] = [];
  for (let i = 0; i < WARMUP + COLD; i++) {
    checkInterrupted();
    const r = await coldStart();
    if (i >= WARMUP) cold.push(r);
  }

  // From here on alice's daemon stays up, with one page on it.
  const aliceDaemon = await world.daemon('alice');
  const alice = await connectControl(daemonInfo(aliceDaemon));
  apis.push(alice);
  await registered(alice);
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(aliceDaemon.link);
  await contactOnlineAt(page);

  const reload: number[] = [];
  for (let i = 0; i < WARMUP + RELOADS; i++) {
    checkInterrupted();
    const ms = await warmReload(page);
    if (i >= WARMUP) reload.push(ms);
  }

  // Interleaved, one of each per round, so that machine noise hits both alike.
  const ui: number[] = [];
  const api: number[] = [];
  for (let i = 0; i < WARMUP + OPENS; i++) {
    checkInterrupted();
    const u = await uiOpen(page, bob);
    const a = await apiOpen(alice, bob);
    if (i >= WARMUP) {
      ui.push(u);
      api.push(a);
    }
  }

  const chromiumVersion = browser.version();
  const figures = {
    cold: {
      spawn: stats(cold.map((r) => r.spawn)),
      page: stats(cold.map((r) => r.page)),
      total: stats(cold.map((r) => r.total)),
    },
    reload: stats(reload),
    ui: stats(ui),
    api: stats(api),
  };
  const rows: [string, Stats][] = [
    ['cold: daemon spawn → GUI line printed', figures.cold.spawn],
    ['cold: page goto → bob shown online', figures.cold.page],
    ['cold: spawn → bob shown online (total)', figures.cold.total],
    ['warm: page reload → bob shown online', figures.reload],
    ['click → "Secure — verified" (UI)', figures.ui],
    ['floor: channel.open → secure (API)', figures.api],
  ];
  const f = (n: number) => n.toFixed(n >= 100 ? 0 : 1).padStart(7);
  console.log(
    `Desktop UI, web twin in Chromium ${chromiumVersion} (headless), Node ${process.version}; ` +
      `${COLD} cold starts, ${RELOADS} reloads, ${OPENS} opens each way (after ${WARMUP} warm-up of each)`,
  );
  console.log(`${''.padEnd(42)}      n   p50 ms  p95 ms  min ms  mean ms`);
  for (const [name, s] of rows) {
    console.log(
      `${name.padEnd(42)} ${String(s.n).padStart(6)} ${f(s.p50)} ${f(s.p95)} ${f(s.min)} ${f(s.mean).padStart(8)}`,
    );
  }
  const { ui: u, api: a } = figures;
  console.log(
    `${'ratio UI / API'.padEnd(42)} ${''.padStart(6)} ${(u.p50 / a.p50).toFixed(2).padStart(7)} ` +
      `${(u.p95 / a.p95).toFixed(2).padStart(7)} ${(u.min / a.min).toFixed(2).padStart(7)} ${(u.mean / a.mean).toFixed(2).padStart(8)}`,
  );
  console.log(`whole bench: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(JSON.stringify({ bench: 'ui', chromium: chromiumVersion, ...figures }));
} catch (e) {
  if (!(e instanceof Interrupted)) throw e;
  process.exitCode = 130;
} finally {
  await cleanUp();
}
