import type { Connection, Endpoint } from '../transport/connection.js';

/** One registered contact of a user: a device reachable down the connection it registered on. */
export interface Binding {
  key: string;
  user: string;
  deviceId: string | undefined;
  /** `+sip.instance` (RFC 5626), e.g. `<urn:uuid:...>`. */
  instance: string | undefined;
  /** The Contact URI as registered. */
  contact: string;
  expiresAt: number;
  conn: Connection;
  /** The terminal's address as this server saw it (the seed's "address" of a terminal). */
  observed: Endpoint;
  callId: string;
  cseq: number;
}

export type LocationListener = (user: string) => void;

/**
 * The location service: user → bindings. In memory on purpose: a binding is only as alive as its
 * connection, and after a restart every terminal re-registers on a new connection anyway.
 */
export class LocationService {
  readonly #byUser = new Map<string, Map<string, Binding>>();
  readonly #byConn = new Map<Connection, Set<Binding>>();
  readonly #listeners: LocationListener[] = [];
  #sweep: NodeJS.Timeout | undefined;
  #count = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Starts the expiry sweep (once a second: presence must change within a second of expiry). */
  start(): void {
    this.#sweep ??= setInterval(() => this.expire(), 1000).unref();
  }

  stop(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  onChange(listener: LocationListener): void {
    this.#listeners.push(listener);
  }

  get size(): number {
    return this.#count;
  }

  bindings(user: string): Binding[] {
    const now = this.now();
    return [...(this.#byUser.get(user)?.values() ?? [])].filter((b) => b.expiresAt > now && !b.conn.closed);
  }

  isOnline(user: string): boolean {
    return this.bindings(user).length > 0;
  }

  users(): string[] {
    return [...this.#byUser.keys()];
  }

  /** Adds or refreshes a binding; a device re-registering from a new connection replaces the old one. */
  put(b: Binding): void {
    let forUser = this.#byUser.get(b.user);
    if (!forUser) this.#byUser.set(b.user, (forUser = new Map()));
    const old = forUser.get(b.key);
    if (old) this.#unlinkConn(old);
    else this.#count++;
    forUser.set(b.key, b);
    let forConn = this.#byConn.get(b.conn);
    if (!forConn) {
      this.#byConn.set(b.conn, (forConn = new Set()));
      b.conn.onClose(() => this.dropConnection(b.conn));
    }
    forConn.add(b);
    if (!old || old.conn !== b.conn) this.#emit(b.user);
  }

  get(user: string, key: string): Binding | undefined {
    return this.#byUser.get(user)?.get(key);
  }

  remove(user: string, key: string): void {
    const b = this.#byUser.get(user)?.get(key);
    if (!b) return;
    this.#delete(b);
    this.#emit(user);
  }

  removeUser(user: string, filter: (b: Binding) => boolean = () => true): void {
    const forUser = this.#byUser.get(user);
    if (!forUser) return;
    let changed = false;
    for (const b of [...forUser.values()]) {
      if (filter(b)) {
        this.#delete(b);
        changed = true;
      }
    }
    if (changed) this.#emit(user);
  }

  dropConnection(conn: Connection): void {
    const set = this.#byConn.get(conn);
    if (!set) return;
    this.#byConn.delete(conn);
    const users = new Set<string>();
    for (const b of set) {
      if (this.#byUser.get(b.user)?.get(b.key) === b) {
        this.#delete(b);
        users.add(b.user);
      }
    }
    for (const u of users) this.#emit(u);
  }

  expire(): void {
    const now = this.now();
    for (const [user, forUser] of this.#byUser) {
      let changed = false;
      for (const b of [...forUser.values()]) {
        if (b.expiresAt <= now) {
          this.#delete(b);
          changed = true;
        }
      }
      if (changed) this.#emit(user);
    }
  }

  #delete(b: Binding): void {
    const forUser = this.#byUser.get(b.user);
    if (forUser?.get(b.key) !== b) return;
    forUser.delete(b.key);
    this.#count--;
    if (forUser.size === 0) this.#byUser.delete(b.user);
    this.#unlinkConn(b);
  }

  #unlinkConn(b: Binding): void {
    const set = this.#byConn.get(b.conn);
    set?.delete(b);
    if (set && set.size === 0) this.#byConn.delete(b.conn);
  }

  #emit(user: string): void {
    for (const l of this.#listeners) l(user);
  }
}
