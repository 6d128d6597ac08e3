import type { Statement } from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { normaliseGroupName, normaliseMember } from './names.js';

export interface Group {
  name: string;
  /** Local user names (`bob`) and remote users (`bob@b.example`), sorted. */
  members: string[];
  createdAt: number;
}

/**
 * Named sets of people for the connection policy. Members are checked for syntax only: a group may
 * name users not yet invited, or users of other domains. Removing a local user removes it from
 * every group.
 */
export class Groups {
  private readonly q: {
    list: Statement<[], { name: string; created_at: number }>;
    get: Statement<[string], { name: string; created_at: number }>;
    members: Statement<[string], { member: string }>;
    allMembers: Statement<[], { group_name: string; member: string }>;
    insert: Statement<[string, number]>;
    addMember: Statement<[string, string]>;
    removeMember: Statement<[string, string]>;
    remove: Statement<[string]>;
    removeAll: Statement<[]>;
    rulesUsing: Statement<[string, string], { id: number }>;
    ruleIds: Statement<[], { id: number }>;
  };

  constructor(private readonly ctx: StoreContext) {
    const db = ctx.db;
    this.q = {
      list: db.prepare('SELECT name, created_at FROM groups ORDER BY name'),
      get: db.prepare('SELECT name, created_at FROM groups WHERE name = ?'),
      members: db.prepare('SELECT member FROM group_members WHERE group_name = ? ORDER BY member'),
      allMembers: db.prepare('SELECT group_name, member FROM group_members ORDER BY group_name, member'),
      insert: db.prepare('INSERT INTO groups (name, created_at) VALUES (?, ?)'),
      addMember: db.prepare('INSERT OR IGNORE INTO group_members (group_name, member) VALUES (?, ?)'),
      removeMember: db.prepare('DELETE FROM group_members WHERE group_name = ? AND member = ?'),
      remove: db.prepare('DELETE FROM groups WHERE name = ?'),
      removeAll: db.prepare('DELETE FROM groups'),
      rulesUsing: db.prepare('SELECT id FROM policy_rules WHERE src = ? OR dst = ? ORDER BY id'),
      ruleIds: db.prepare('SELECT id FROM policy_rules ORDER BY id'),
    };
  }

  list(): Group[] {
    const members = new Map<string, string[]>();
    for (const { group_name, member } of this.q.allMembers.all()) {
      const list = members.get(group_name);
      if (list) list.push(member);
      else members.set(group_name, [member]);
    }
    return this.q.list
      .all()
      .map((g) => ({ name: g.name, members: members.get(g.name) ?? [], createdAt: g.created_at }));
  }

  get(name: string): Group | undefined {
    const g = this.q.get.get(name.trim().toLowerCase());
    if (!g) return undefined;
    return {
      name: g.name,
      members: this.q.members.all(g.name).map((m) => m.member),
      createdAt: g.created_at,
    };
  }

  /** Adds members, creating the group if needed. Returns whether it was created and who was new. */
  addMembers(group: string, members: readonly string[]): { created: boolean; added: string[] } {
    const name = normaliseGroupName(group);
    const list = [...new Set(members.map(normaliseMember))];
    return this.ctx.transaction(() => {
      const created = !this.q.get.get(name);
      if (created) this.q.insert.run(name, this.ctx.now());
      const added = list.filter((m) => this.q.addMember.run(name, m).changes === 1);
      this.ctx.changed();
      return { created, added };
    });
  }

  /** Removes members (the group stays, possibly empty). Returns who was removed and who was not a member. */
  removeMembers(group: string, members: readonly string[]): { removed: string[]; notMembers: string[] } {
    const name = group.trim().toLowerCase();
    const list = [...new Set(members.map((m) => m.trim().toLowerCase()))];
    return this.ctx.transaction(() => {
      if (!this.q.get.get(name)) throw new StoreError('no-such-group', `no such group '${name}'`);
      const removed: string[] = [];
      const notMembers: string[] = [];
      for (const m of list) (this.q.removeMember.run(name, m).changes === 1 ? removed : notMembers).push(m);
      if (removed.length > 0) this.ctx.changed();
      return { removed, notMembers };
    });
  }

  /** Deletes a group. Refused while a policy rule names it (`group:NAME`), so no rule dangles. */
  remove(group: string): Group {
    const name = group.trim().toLowerCase();
    return this.ctx.transaction(() => {
      const g = this.get(name);
      if (!g) throw new StoreError('no-such-group', `no such group '${name}'`);
      const using = new Set(this.q.rulesUsing.all(`group:${name}`, `group:${name}`).map((r) => r.id));
      if (using.size > 0) {
        const positions = this.q.ruleIds
          .all()
          .map((r, i) => (using.has(r.id) ? i + 1 : 0))
          .filter((n) => n > 0);
        throw new StoreError(
          'group-in-use',
          `group '${name}' is used by policy rule${positions.length > 1 ? 's' : ''} ${positions.join(', ')}: remove ${positions.length > 1 ? 'them' : 'it'} first (tsunagu-server policy remove N)`,
        );
      }
      this.q.remove.run(name);
      this.ctx.changed();
      return g;
    });
  }

  /** @internal Replaces every group (policy apply); must run inside a transaction. */
  replaceAll(groups: ReadonlyMap<string, readonly string[]>): void {
    this.q.removeAll.run();
    const now = this.ctx.now();
    for (const [group, members] of groups) {
      const name = normaliseGroupName(group);
      this.q.insert.run(name, now);
      for (const m of members) this.q.addMember.run(name, normaliseMember(m));
    }
    this.ctx.changed();
  }
}
