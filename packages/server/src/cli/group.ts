import type { Command } from 'commander';
import { addGroupMembers, removeGroupMembers } from '../policy/admin.js';
import { PROGRAM, note, out, printJson, table, withData, withDataOption } from './common.js';
import type { DataOptions } from './common.js';

export function registerGroup(program: Command): void {
  const group = program.command('group').description('groups of users for the connection policy');

  withDataOption(
    group
      .command('add')
      .argument('<group>')
      .argument('<member...>', 'user names (bob) or users of other domains (bob@b.example)')
      .description('add members to a group (created if new)'),
  ).action(async (name: string, members: string[], opts: DataOptions) => {
    await withData(opts, ({ store, config }) => {
      const r = addGroupMembers(store, config, name, members);
      const g = name.toLowerCase();
      out(
        `${r.created ? 'Created group' : 'Group'} ${g}: ${r.added.length > 0 ? `added ${r.added.join(', ')}` : 'no new members'}.`,
      );
      const known = new Set(store.users.list().map((u) => u.name));
      const unknown = r.added.filter((m) => !m.includes('@') && !known.has(m));
      if (unknown.length > 0)
        note(`note: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not a user yet`);
    });
  });

  withDataOption(
    group
      .command('remove')
      .argument('<group>')
      .argument('[member...]', 'members to remove; without any, the whole group is deleted')
      .description('remove members from a group, or delete the group'),
  ).action(async (name: string, members: string[], opts: DataOptions) => {
    await withData(opts, ({ store, config }) => {
      if (members.length === 0) {
        const g = store.groups.remove(name);
        out(`Deleted group ${g.name} (${g.members.length} member${g.members.length === 1 ? '' : 's'}).`);
        return;
      }
      const r = removeGroupMembers(store, config, name, members);
      out(
        `Group ${name.toLowerCase()}: ${r.removed.length > 0 ? `removed ${r.removed.join(', ')}` : 'nothing removed'}.`,
      );
      if (r.notMembers.length > 0) note(`note: not members: ${r.notMembers.join(', ')}`);
    });
  });

  withDataOption(
    group.command('list').description('list groups and their members').option('--json', 'print JSON'),
  ).action(async (opts: DataOptions & { json?: boolean }) => {
    await withData(opts, ({ store }) => {
      const groups = store.groups.list();
      if (opts.json) {
        printJson(Object.fromEntries(groups.map((g) => [g.name, g.members])));
        return;
      }
      if (groups.length === 0) {
        out(`No groups. Create one with: ${PROGRAM} group add GROUP MEMBER...`);
        return;
      }
      out(
        table(
          ['GROUP', 'MEMBERS'],
          groups.map((g) => [g.name, g.members.join(', ') || '(empty)']),
        ),
      );
    });
  });
}
