import type { Command } from 'commander';
import {
  UsageError,
  formatTime,
  isoTime,
  out,
  printJson,
  table,
  withData,
  withDataOption,
} from './common.js';
import type { DataOptions } from './common.js';

export function registerDevice(program: Command): void {
  const device = program.command('device').description('list and remove users’ devices');

  withDataOption(
    device
      .command('list')
      .argument('[user]', 'only this user’s devices')
      .description('list devices')
      .option('--json', 'print JSON'),
  ).action(async (user: string | undefined, opts: DataOptions & { json?: boolean }) => {
    await withData(opts, ({ store }) => {
      if (user !== undefined) store.users.require(user);
      const list = store.devices.list(user);
      if (opts.json) {
        printJson(
          list.map((d) => ({
            user: d.user,
            id: d.id,
            name: d.name,
            kind: d.kind,
            instance: d.instance,
            digestUsername: d.digestUsername,
            createdAt: isoTime(d.createdAt),
            lastSeenAt: isoTime(d.lastSeenAt),
            lastAddress: d.lastAddress,
            revokedAt: isoTime(d.revokedAt),
          })),
        );
        return;
      }
      if (list.length === 0) {
        out(user === undefined ? 'No devices yet.' : `${user.toLowerCase()} has no devices yet.`);
        return;
      }
      out(
        table(
          ['DEVICE', 'NAME', 'KIND', 'LAST SEEN', 'ADDRESS'],
          list.map((d) => [
            `${d.user}/${d.id}`,
            d.name,
            d.revokedAt === null ? d.kind : `${d.kind}, revoked`,
            formatTime(d.lastSeenAt),
            d.lastAddress ?? '-',
          ]),
        ),
      );
    });
  });

  withDataOption(
    device
      .command('revoke')
      .argument('<user/device>', 'e.g. alice/laptop (see device list)')
      .description(
        'revoke a device: its secret and certificates stop working, a running server disconnects it, and every online terminal learns it within seconds (the device stays listed as revoked)',
      ),
  ).action(async (spec: string, opts: DataOptions) => {
    const [user, id] = deviceSpec(spec);
    await withData(opts, ({ store }) => {
      const { device: d, certificates } = store.devices.revoke(user, id);
      out(
        `Revoked device ${d.user}/${d.id} (${d.name}) and ${certificates} certificate${certificates === 1 ? '' : 's'}.`,
      );
    });
  });

  withDataOption(
    device
      .command('remove')
      .argument('<user/device>', 'e.g. alice/laptop (see device list)')
      .description('remove a device: its credentials stop working and a running server disconnects it'),
  ).action(async (spec: string, opts: DataOptions) => {
    const [user, id] = deviceSpec(spec);
    await withData(opts, ({ store }) => {
      const d = store.devices.remove(user, id);
      out(`Removed device ${d.user}/${d.id} (${d.name}).`);
    });
  });
}

/** `USER/DEVICE` → [user, device]; a usage error otherwise. */
function deviceSpec(spec: string): [string, string] {
  const slash = spec.indexOf('/');
  if (slash <= 0 || slash === spec.length - 1)
    throw new UsageError(`expected USER/DEVICE, e.g. alice/laptop (got '${spec}')`);
  return [spec.slice(0, slash), spec.slice(slash + 1)];
}
