import type { Statement } from 'better-sqlite3';
import type { PolicyDefault } from '../config/config.js';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';

const POLICY_DEFAULT = 'policy.default';

/** Small key/value settings that admins change at run time (config.json holds the rest). */
export class Settings {
  private readonly q: {
    get: Statement<[string], { value: string }>;
    set: Statement<[string, string]>;
  };

  constructor(private readonly ctx: StoreContext) {
    this.q = {
      get: ctx.db.prepare('SELECT value FROM settings WHERE key = ?'),
      set: ctx.db.prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  get(key: string): string | undefined {
    return this.q.get.get(key)?.value;
  }

  set(key: string, value: string): void {
    this.q.set.run(key, value);
    this.ctx.changed();
  }

  /** The connection policy default, or undefined if never set (then config.json's policyDefault applies). */
  policyDefault(): PolicyDefault | undefined {
    const v = this.get(POLICY_DEFAULT);
    return v === 'allow-all' || v === 'deny-all' ? v : undefined;
  }

  setPolicyDefault(value: PolicyDefault): void {
    if (value !== 'allow-all' && value !== 'deny-all') {
      throw new StoreError(
        'invalid-argument',
        `the policy default must be allow-all or deny-all (got '${String(value)}')`,
      );
    }
    this.set(POLICY_DEFAULT, value);
  }
}
