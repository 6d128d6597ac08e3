import { join } from 'node:path';
import { formatJoinLink, type TerminalEvent } from '@tsunagu/protocol';
import type { TestServer } from '@tsunagu/server/testing';
import type { Profile } from '../identity/index.js';
import { credentialsOf, enrolProfile } from './account.js';
import { nextEvent } from './events.js';
import { Terminal, type TerminalOptions } from './terminal.js';

/**
 * For tests and benchmarks: a terminal enrolled on the harness `t` with a real invite link (the user is
 * created if needed), started on loopback with quick reconnection. Not used by the product.
 */
export async function enrolledTerminal(
  t: TestServer,
  dir: string,
  user: string,
  o: Partial<Pick<TerminalOptions, 'acceptFrom' | 'autoAcceptFiles' | 'downloadDir' | 'keepFinished'>> & {
    /** Signalling settings besides the loopback ones (e.g. a short `contactsExpires`). */
    signalling?: TerminalOptions['signalling'];
  } = {},
): Promise<{ terminal: Terminal; profile: Profile }> {
  const profile = await enrolProfile(join(dir, user), inviteLink(t, user));
  const credentials = await credentialsOf(profile);
  if (!credentials) throw new Error('enrolment stored no credentials');
  const terminal = await Terminal.start({
    profile,
    credentials,
    downloadDir: join(dir, `${user}-downloads`),
    ...o,
    ...LOOPBACK,
    signalling: { ...LOOPBACK.signalling, ...o.signalling },
  });
  return { terminal, profile };
}

/** Channel and signalling settings for tests: loopback only, quick reconnection. */
export const LOOPBACK = {
  channel: { addresses: ['127.0.0.1'], localAddresses: ['127.0.0.1'] },
  signalling: { networkWatch: false as const, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } },
};

/** A real one-time invite link for `user` (created if needed) on the harness `t`. */
export function inviteLink(t: TestServer, user: string): string {
  if (!t.admin.users.get(user)) t.admin.users.add(user, { realm: t.domain });
  const { token } = t.admin.invites.create(user, 60_000);
  return formatJoinLink({
    server: `127.0.0.1:${t.sip.port}`,
    https: `127.0.0.1:${t.https.port}`,
    caFingerprint: t.server.caFingerprint,
    user,
    token,
    domain: t.domain,
  });
}

/** Whether `x`'s device holds a certificate from the deployment CA (as its account shows it). */
export const certificateIssued = (x: Terminal): boolean =>
  x.account().device?.certificate?.state === 'ca-issued';

/** Resolves once `x`'s device holds a certificate from the deployment CA (at once if it does). */
export async function untilIssued(x: Terminal, timeoutMs = 10_000): Promise<void> {
  if (!certificateIssued(x)) await nextEvent(x, () => certificateIssued(x), timeoutMs);
}

/** A `nextEvent` predicate: a channel event in `phase`. */
export const channelPhase =
  (phase: string) =>
  (e: TerminalEvent): boolean =>
    e.type === 'channel' && e.data.phase === phase;
