import type { Command } from 'commander';
import { rulesNamingUser } from '../policy/admin.js';
import {
  PROGRAM,
  UsageError,
  isoTime,
  formatTime,
  note,
  out,
  printJson,
  readPassword,
  table,
  withData,
  withDataOption,
} from './common.js';
import type { DataOptions } from './common.js';

interface JsonOpt extends DataOptions {
  json?: boolean;
}

export function registerUser(program: Command): void {
  const user = program
    .command('user')
    .description('manage users (their passwords are stored only as digest hashes)');

  withDataOption(
    user
      .command('add')
      .argument('<name>', 'user name: lower-case letters, digits, ".", "_", "-"')
      .description('add a user; without a password the user can join only with an invite')
      .option('--password-stdin', 'read the password from standard input (one line)')
      .option('--allow-md5', 'also allow MD5 digest, for legacy SIP clients (SHA-256 is always allowed)')
      .option(
        '--md5-only',
        'challenge with MD5 alone, for legacy clients that give up on SHA-256 (implies --allow-md5)',
      ),
  ).action(
    async (
      name: string,
      opts: DataOptions & { passwordStdin?: boolean; allowMd5?: boolean; md5Only?: boolean },
    ) => {
      const password = opts.passwordStdin ? await readPassword(name.toLowerCase()) : undefined;
      await withData(opts, ({ store, config }) => {
        const u = store.users.add(name, {
          realm: config.realm,
          ...(password !== undefined ? { password } : {}),
          allowMd5: opts.allowMd5 ?? false,
          md5Only: opts.md5Only ?? false,
        });
        if (u.hasPassword) {
          const digest = u.md5Only
            ? ' (MD5 digest only, for a legacy client)'
            : u.md5Ready
              ? ' (SHA-256 and MD5 digest)'
              : '';
          out(`Added user ${u.name} (${u.name}@${config.domain}) with a password${digest}.`);
        } else {
          out(
            `Added user ${u.name} (${u.name}@${config.domain}) without a password: ${u.name} can join only with an invite:`,
          );
          out(`  ${PROGRAM} invite ${u.name}`);
          if (u.allowMd5)
            out(
              `MD5 digest is allowed, but works only once a password is set (${PROGRAM} user passwd ${u.name} --password-stdin).`,
            );
        }
      });
    },
  );

  withDataOption(user.command('list').description('list users').option('--json', 'print JSON')).action(
    async (opts: JsonOpt) => {
      await withData(opts, ({ store }) => {
        const devices = new Map<string, number>();
        for (const d of store.devices.list()) devices.set(d.user, (devices.get(d.user) ?? 0) + 1);
        const users = store.users.list();
        if (opts.json) {
          printJson(
            users.map((u) => ({
              name: u.name,
              hasPassword: u.hasPassword,
              allowMd5: u.allowMd5,
              md5Ready: u.md5Ready,
              md5Only: u.md5Only,
              devices: devices.get(u.name) ?? 0,
              createdAt: isoTime(u.createdAt),
              passwordChangedAt: isoTime(u.passwordChangedAt),
            })),
          );
          return;
        }
        if (users.length === 0) {
          out(`No users yet. Add one with: ${PROGRAM} invite NAME`);
          return;
        }
        out(
          table(
            ['USER', 'PASSWORD', 'MD5', 'DEVICES', 'CREATED'],
            users.map((u) => [
              u.name,
              u.hasPassword ? 'yes' : 'no',
              u.allowMd5 ? (u.md5Ready ? (u.md5Only ? 'only' : 'yes') : 'needs password') : 'no',
              String(devices.get(u.name) ?? 0),
              formatTime(u.createdAt),
            ]),
          ),
        );
      });
    },
  );

  withDataOption(
    user
      .command('remove')
      .argument('<name>')
      .description('remove a user with its devices, invites and group memberships'),
  ).action(async (name: string, opts: DataOptions) => {
    await withData(opts, ({ store }) => {
      const rules = rulesNamingUser(store, name);
      const r = store.users.remove(name);
      const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
      out(
        `Removed user ${r.user.name} (${plural(r.devices, 'device')}, ${plural(r.invites, 'invite')}, ${plural(r.groupMemberships, 'group membership')}). A running server closes its connections within a second.`,
      );
      if (rules.length > 0) {
        note(
          `note: policy rule${rules.length > 1 ? 's' : ''} ${rules.join(', ')} still name${rules.length > 1 ? '' : 's'} ${r.user.name}; ${rules.length > 1 ? 'they apply' : 'it applies'} again if a user ${r.user.name} is created (remove with: ${PROGRAM} policy remove N)`,
        );
      }
    });
  });

  withDataOption(
    user
      .command('passwd')
      .argument('<name>')
      .description('set a user’s password (read from standard input)')
      .option('--password-stdin', 'read the password from standard input (one line); required')
      .option('--allow-md5', 'also store an MD5 digest credential for legacy clients')
      .option('--no-allow-md5', 'store only the SHA-256 credential (default: keep the current MD5 setting)'),
  ).action(async (name: string, opts: DataOptions & { passwordStdin?: boolean; allowMd5?: boolean }) => {
    if (!opts.passwordStdin) {
      throw new UsageError(
        'user passwd needs --password-stdin: the password is read from standard input, never from the command line',
      );
    }
    // Check the user exists before asking for a password.
    await withData(opts, ({ store }) => store.users.require(name));
    const password = await readPassword(name.toLowerCase());
    await withData(opts, ({ store, config }) => {
      const current = store.users.require(name);
      const u = store.users.setPassword(name, config.realm, password, opts.allowMd5 ?? current.allowMd5);
      out(`Password of ${u.name} set${u.md5Ready ? ' (SHA-256 and MD5 digest)' : ' (SHA-256 digest)'}.`);
    });
  });

  withDataOption(
    user
      .command('md5')
      .argument('<name>')
      .argument('<on|off|only>')
      .description(
        'allow (on) or forbid (off) MD5 digest for a user (legacy SIP clients), or offer it alone (only: for clients that give up on a SHA-256 challenge); off erases the MD5 credential',
      ),
  ).action(async (name: string, onOff: string, opts: DataOptions) => {
    if (onOff !== 'on' && onOff !== 'off' && onOff !== 'only') {
      throw new UsageError(`expected on, off or only (got '${onOff}')`);
    }
    await withData(opts, ({ store }) => {
      let u = store.users.setAllowMd5(name, onOff !== 'off');
      if (u.allowMd5) u = store.users.setMd5Only(name, onOff === 'only');
      if (u.md5Only) out(`${u.name} is challenged with MD5 alone.`);
      if (!u.allowMd5) out(`MD5 digest is off for ${u.name}; its MD5 credential was erased.`);
      else if (u.md5Ready) out(`MD5 digest is on for ${u.name}.`);
      else {
        out(
          `MD5 digest is allowed for ${u.name}, but there is no MD5 credential yet: the password must be set again:`,
        );
        out(`  ${PROGRAM} user passwd ${u.name} --password-stdin`);
      }
    });
  });
}
