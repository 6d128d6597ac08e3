import {
  describePath,
  type ChannelView,
  type TerminalApi,
  type TerminalEvent,
  type TransferView,
} from '@tsunagu/protocol';
import { nextEvent } from '../core/events.js';
import type { TerminalHost } from '../core/host.js';

/**
 * The CLI's send and daemon loops: thin shells over the Terminal's API, reading only its events.
 */

/** `path: 2001:db8::10 → 2001:db8::5060 (secure)` (or not secure end to end); empty when not known. */
export const pathLine = (c: ChannelView): string => (c.path ? `path: ${describePath(c.path)}` : '');

/** How the peer's certificate was checked, besides its signalled fingerprint. */
export const issuerLine = (c: ChannelView): string =>
  c.issuer ? `certificate issued by ${c.issuer}'s CA` : 'certificate pinned by its fingerprint only';

/** A byte count as people read it in the CLI's lines. */
export const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

function progressLine(v: TransferView): string {
  const pct = v.size > 0 ? Math.floor((100 * v.bytesDone) / v.size) : 100;
  const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
  const eta = v.etaSeconds === null ? '' : ` ${Math.ceil(v.etaSeconds)} s left`;
  return `${v.name.slice(-32).padEnd(32)} [${bar}] ${String(pct).padStart(3)}% ${mib(v.rate)}/s${eta}`;
}

/**
 * Opens a channel to `contact`, sends `paths`, and waits until every file is verified by the receiver
 * or has failed. Progress goes to `progress` (redrawn in place on a terminal). Returns the number of
 * files that did not arrive verified.
 */
export async function sendFiles(
  terminal: TerminalApi,
  contact: string,
  paths: readonly string[],
  progress: NodeJS.WriteStream,
): Promise<number> {
  // Subscribe before asking, so no event of the new channel can be missed.
  const early: TerminalEvent[] = [];
  const offEarly = terminal.subscribe((e) => early.push(e));
  const { channelId } = await terminal.call('channel.open', { user: contact });
  offEarly();
  try {
    const settledPhase = (e: TerminalEvent): e is ChannelEvent =>
      e.type === 'channel' &&
      e.data.id === channelId &&
      e.data.phase !== 'ringing' &&
      e.data.phase !== 'connecting';
    const settled = early.find(settledPhase) ?? (await nextEvent(terminal, settledPhase, 120_000));
    const path = pathLine(settled.data);
    if (settled.data.phase !== 'secure') {
      throw new Error(
        `no secure channel to ${contact}: ${settled.data.reason ?? settled.data.phase}` +
          (path ? `; ${path}` : ''),
      );
    }
    progress.write(
      `secure — verified with ${settled.data.peer}; verification code ${settled.data.verificationCode}; ` +
        `${issuerLine(settled.data)}\n` +
        (path ? `${path}\n` : ''),
    );
    return await sendOver(terminal, channelId, paths, progress);
  } finally {
    // Whatever happened (a refused send, no answer): a daemon would keep the channel otherwise.
    terminal.call('channel.close', { channelId }).catch(() => undefined);
  }
}

type ChannelEvent = Extract<TerminalEvent, { type: 'channel' }>;

/** Sends `paths` over the secure channel and waits for every file's end; returns how many failed. */
async function sendOver(
  terminal: TerminalApi,
  channelId: string,
  paths: readonly string[],
  progress: NodeJS.WriteStream,
): Promise<number> {
  const finals = new Map<string, TransferView>();
  const tty = progress.isTTY === true;
  // Unknown until transfer.send answers; views that arrive before are kept in `seen`.
  let ids: string[] | undefined = undefined;
  let finish: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  const seen: TransferView[] = [];
  const onView = (v: TransferView) => {
    if (!ids) {
      seen.push(v); // until the ids are known
      return;
    }
    if (!ids.includes(v.id) || finals.has(v.id)) return;
    if (tty) progress.write(`\r${progressLine(v)}`);
    if (v.state === 'done' || v.state === 'failed' || v.state === 'cancelled' || v.state === 'declined') {
      finals.set(v.id, v);
      progress.write(
        `${tty ? '\r' : ''}${v.state === 'done' ? '✓' : '✗'} ${v.name} ${v.state === 'done' ? `(${mib(v.size)}, verified)` : `— ${v.state}${v.reason ? `: ${v.reason}` : ''}`}\n`,
      );
      if (finals.size === ids.length) finish();
    }
  };
  const off = terminal.subscribe((e) => e.type === 'transfer' && onView(e.data));
  try {
    ids = (await terminal.call('transfer.send', { channelId, paths: [...paths] })).transferIds;
    for (const v of seen.splice(0)) onView(v);
    if (ids.length > 0) await allDone;
  } finally {
    off();
  }
  return [...finals.values()].filter((v) => v.state !== 'done').length;
}

/** Runs until SIGINT/SIGTERM, printing what happens, one line per event that matters to a person. */
export async function runDaemon(host: TerminalHost, log: (line: string) => void): Promise<void> {
  const s = host.snapshot();
  log(
    s.account.device
      ? `running as ${s.account.device.aor} with ${s.account.device.server}`
      : 'not joined to a server yet: join from the web GUI',
  );
  if (s.account.device) log(`connection: ${s.connection.state}`);
  let joined = s.account.device !== undefined;
  /** Each transfer's last logged state: a file's end comes as more than one event. */
  const logged = new Map<string, string>();
  host.subscribe((e) => {
    // Once: every later settings change is an account event with the device too.
    if (e.type === 'account' && e.data.device && !joined) {
      joined = true;
      log(`joined as ${e.data.device.aor}`);
    }
    if (e.type === 'connection')
      log(`connection: ${e.data.state}${e.data.reason ? ` (${e.data.reason})` : ''}`);
    if (e.type === 'channel') {
      // The path once it is known and matters: a request ringing, a channel secure, one refused for it.
      const c = e.data;
      const path =
        c.phase === 'ringing' || c.phase === 'secure' || c.path?.secure === false ? pathLine(c) : '';
      const issuer = c.phase === 'secure' ? `; ${issuerLine(c)}` : '';
      log(
        `channel ${c.id} with ${c.peer}: ${c.phase}${c.reason ? ` (${c.reason})` : ''}${path ? `; ${path}` : ''}${issuer}`,
      );
    }
    if (e.type === 'transfer' && e.data.state !== 'active' && logged.get(e.data.id) !== e.data.state) {
      logged.set(e.data.id, e.data.state);
      if (logged.size > 1000) logged.delete(logged.keys().next().value!);
      log(
        `file ${e.data.name} (${e.data.direction}): ${e.data.state}${e.data.savedAs ? ` → ${e.data.savedAs}` : ''}`,
      );
    }
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await host.stop();
}
