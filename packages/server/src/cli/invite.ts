import { formatJoinLink } from '@tsunagu/protocol';
import type { Command } from 'commander';
import fs from 'node:fs';
import QRCode from 'qrcode';
import { fingerprint } from '../ca/ca.js';
import { formatHostPort } from '../config/address.js';
import type { Config } from '../config/config.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import type { DataPaths } from '../config/paths.js';
import type { Store } from '../store/store.js';
import {
  PROGRAM,
  durationArg,
  formatTime,
  isoTime,
  note,
  out,
  printJson,
  table,
  withData,
  withDataOption,
} from './common.js';
import type { DataOptions } from './common.js';

export interface CreatedJoinLink {
  user: string;
  userCreated: boolean;
  link: string;
  expiresAt: number;
}

/**
 * Creates an invite for `user` (creating the user, without a password, if needed) and its join
 * link: SIP at hosts[0]:sip.port, enrolment (HTTPS) at hosts[0]:wss.port, the CA fingerprint pinned.
 */
export function createJoinLink(
  store: Store,
  config: Config,
  paths: DataPaths,
  user: string,
  ttlMs: number,
): CreatedJoinLink {
  const caFingerprint = fingerprint(fs.readFileSync(paths.caCert, 'utf8'));
  const host = config.hosts[0] ?? config.domain;
  return store.transaction(() => {
    let u = store.users.get(user);
    const userCreated = u === undefined;
    u ??= store.users.add(user, { realm: config.realm });
    const { token, expiresAt } = store.invites.create(u.name, ttlMs);
    const link = formatJoinLink({
      server: formatHostPort({ host, port: config.sip.port }),
      https: formatHostPort({ host, port: config.wss.port }),
      caFingerprint,
      user: u.name,
      token,
      domain: config.domain,
    });
    return { user: u.name, userCreated, link, expiresAt };
  });
}

/** Creates an invite in the data folder `dataDir` (for embedders: the desktop app's local server). */
export function createInvite(dataDir: string, user: string, ttlMs: number): Promise<CreatedJoinLink> {
  return withData({ data: dataDir }, ({ store, config, paths }) =>
    createJoinLink(store, config, paths, user, ttlMs),
  );
}

export function registerInvite(program: Command): void {
  withDataOption(
    program
      .command('invite')
      .argument('<user>', 'the user to invite (created without a password if new)')
      .description('create a one-time join link (and QR code) for a new device of a user')
      .option(
        '--ttl <duration>',
        'how long the link stays valid, e.g. 30m, 24h, 7d (default: invites.defaultTtl of config.json, 24h)',
        durationArg,
      )
      .option('--no-qr', 'do not print a QR code')
      .option('--json', 'print JSON (for scripts)'),
  ).action(async (user: string, opts: DataOptions & { ttl?: number; qr: boolean; json?: boolean }) => {
    await withData(opts, async ({ store, config, paths }) => {
      const ttl = opts.ttl ?? parseDuration(config.invites.defaultTtl);
      const r = createJoinLink(store, config, paths, user, ttl);
      if (opts.json) {
        printJson({
          user: r.user,
          userCreated: r.userCreated,
          link: r.link,
          expiresAt: new Date(r.expiresAt).toISOString(),
        });
        return;
      }
      if (r.userCreated) note(`Created user ${r.user} (no password; this device joins with the link).`);
      out(
        `Join link for ${r.user}@${config.domain}, valid once, for ${formatDuration(ttl)} (until ${formatTime(r.expiresAt)}):`,
      );
      out('');
      out(r.link);
      if (opts.qr && process.stdout.isTTY) {
        out('');
        process.stdout.write(await QRCode.toString(r.link, { type: 'terminal', small: true }));
      }
      out('');
      out('Send it over a channel you trust: whoever opens it first joins as this user.');
    });
  });

  withDataOption(
    program
      .command('invites')
      .description('list invites (pending, redeemed, expired) and failed redemption attempts')
      .option('--json', 'print JSON'),
  ).action(async (opts: DataOptions & { json?: boolean }) => {
    await withData(opts, ({ store }) => {
      const invites = store.invites.list();
      if (opts.json) {
        printJson({
          invites: invites.map((i) => ({
            id: i.id,
            user: i.user,
            status: i.status,
            createdAt: isoTime(i.createdAt),
            expiresAt: isoTime(i.expiresAt),
            redeemedAt: isoTime(i.redeemedAt),
            failedAttempts: i.failedAttempts,
            lastFailure: i.lastFailure,
            lastFailureAt: isoTime(i.lastFailureAt),
          })),
          attempts: store.invites.attempts(50).map((a) => ({ ...a, at: isoTime(a.at) })),
        });
        return;
      }
      if (invites.length === 0) {
        out(`No invites. Create one with: ${PROGRAM} invite NAME`);
        return;
      }
      out(
        table(
          ['ID', 'USER', 'STATUS', 'EXPIRES', 'FAILED ATTEMPTS'],
          invites.map((i) => [
            String(i.id),
            i.user,
            i.status,
            formatTime(i.expiresAt),
            i.failedAttempts === 0
              ? '0'
              : `${i.failedAttempts} (last: ${i.lastFailure ?? '?'} at ${formatTime(i.lastFailureAt)})`,
          ]),
        ),
      );
      const unknown = store.invites.attempts(1000).filter((a) => a.outcome === 'unknown');
      if (unknown.length > 0)
        out(
          `\n${unknown.length} recent attempt(s) with an unknown token (last at ${formatTime(unknown[0]!.at)}).`,
        );
    });
  });
}
