/**
 * Counts failed authentications per key (a user name, a source address) in a sliding window of two
 * fixed buckets, and blocks a key that exceeded its limit until the window has moved on.
 *
 * While blocked, credentials are not even checked: that is what stops guessing. The price is that an
 * attacker can lock a user out for one window; see docs/security.md.
 */
export class FailureThrottle {
  readonly #buckets = new Map<string, { start: number; current: number; previous: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Seconds until the key may try again, or 0 when it is not blocked. */
  retryAfter(key: string): number {
    const b = this.#bucket(key, false);
    if (!b) return 0;
    const elapsed = this.now() - b.start;
    // Weighted estimate of failures in the last window (the sliding-window-counter approximation).
    const estimate = b.current + b.previous * Math.max(0, 1 - elapsed / this.windowMs);
    if (estimate < this.limit) return 0;
    return Math.max(1, Math.ceil((this.windowMs - elapsed) / 1000));
  }

  fail(key: string): void {
    const b = this.#bucket(key, true)!;
    b.current++;
  }

  #bucket(key: string, create: boolean) {
    const now = this.now();
    let b = this.#buckets.get(key);
    if (b) {
      const windows = Math.floor((now - b.start) / this.windowMs);
      if (windows >= 2) b = undefined;
      else if (windows === 1) b = { start: b.start + this.windowMs, current: 0, previous: b.current };
      if (b) this.#buckets.set(key, b);
      else this.#buckets.delete(key);
    }
    if (!b && create) {
      if (this.#buckets.size >= this.maxKeys) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      b = { start: now, current: 0, previous: 0 };
      this.#buckets.set(key, b);
    }
    return b;
  }
}
