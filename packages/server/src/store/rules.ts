import type { Statement } from 'better-sqlite3';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';

export type RuleAction = 'allow' | 'deny';

export interface RuleInput {
  action: RuleAction;
  /** Selector text, already validated and normalised by the policy module. */
  src: string;
  dst: string;
}

export interface StoredRule extends RuleInput {
  /** 1-based position as shown by `policy show` and used by `policy remove N`. */
  position: number;
  createdAt: number;
}

interface RuleRow {
  id: number;
  action: RuleAction;
  src: string;
  dst: string;
  created_at: number;
}

function checkSelectorText(s: string): void {
  if (s.length === 0 || s.length > 330 || /[\s\x00-\x1f\x7f]/.test(s)) {
    throw new StoreError('invalid-argument', `invalid selector '${s}'`);
  }
}

/**
 * Connection policy rules, in order. Storage only: selector syntax and meaning belong to
 * `policy/` (use its functions to add rules, so that they are validated).
 */
export class Rules {
  private readonly q: {
    list: Statement<[], RuleRow>;
    insert: Statement<[RuleAction, string, string, number]>;
    remove: Statement<[number]>;
    removeAll: Statement<[]>;
  };

  constructor(private readonly ctx: StoreContext) {
    const db = ctx.db;
    this.q = {
      list: db.prepare('SELECT id, action, src, dst, created_at FROM policy_rules ORDER BY id'),
      insert: db.prepare('INSERT INTO policy_rules (action, src, dst, created_at) VALUES (?, ?, ?, ?)'),
      remove: db.prepare('DELETE FROM policy_rules WHERE id = ?'),
      removeAll: db.prepare('DELETE FROM policy_rules'),
    };
  }

  list(): StoredRule[] {
    return this.q.list.all().map((r, i) => ({
      position: i + 1,
      action: r.action,
      src: r.src,
      dst: r.dst,
      createdAt: r.created_at,
    }));
  }

  /** Appends a rule; returns it with its position. */
  add(rule: RuleInput): StoredRule {
    checkSelectorText(rule.src);
    checkSelectorText(rule.dst);
    return this.ctx.transaction(() => {
      this.q.insert.run(rule.action, rule.src, rule.dst, this.ctx.now());
      this.ctx.changed();
      const all = this.list();
      return all[all.length - 1]!;
    });
  }

  /** Removes the rule at a 1-based position (later rules move up by one). */
  removeAt(position: number): StoredRule {
    return this.ctx.transaction(() => {
      const rows = this.q.list.all();
      const row = Number.isInteger(position) && position >= 1 ? rows[position - 1] : undefined;
      if (!row) {
        throw new StoreError(
          'no-such-rule',
          rows.length === 0
            ? `there is no rule ${position}: the policy has no rules`
            : `there is no rule ${position}: rules are numbered 1 to ${rows.length}`,
        );
      }
      this.q.remove.run(row.id);
      this.ctx.changed();
      return { position, action: row.action, src: row.src, dst: row.dst, createdAt: row.created_at };
    });
  }

  /** @internal Replaces every rule (policy apply); must run inside a transaction. */
  replaceAll(rules: readonly RuleInput[]): void {
    this.q.removeAll.run();
    const now = this.ctx.now();
    for (const r of rules) {
      checkSelectorText(r.src);
      checkSelectorText(r.dst);
      this.q.insert.run(r.action, r.src, r.dst, now);
    }
    this.ctx.changed();
  }
}
