import type Database from 'better-sqlite3';

/** What every repository shares: the connection, a clock, and a way to mark a change. */
export interface StoreContext {
  readonly db: Database.Database;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Records that this connection changed something a reader of the store may cache (see Store.changeCounter). */
  changed(): void;
  /** Runs `fn` in an IMMEDIATE transaction (or a savepoint inside one). */
  transaction<T>(fn: () => T): T;
}
