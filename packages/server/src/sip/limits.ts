/** Size limits applied to messages from the network (by the framer and the parser alike). */
export interface Limits {
  /** Start line plus header fields, excluding the empty line that ends them. Over it: 513. */
  maxHeaderBytes: number;
  /** Number of header fields (a comma-joined list counts once). Over it: 400. */
  maxHeaders: number;
  /** One header field, continuation lines included. Over it: 513. */
  maxHeaderLineBytes: number;
  /** Message body. Over it: 413. */
  maxBodyBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxHeaders: 100,
  maxHeaderLineBytes: 8 * 1024,
  maxBodyBytes: 256 * 1024,
});

/** Defaults completed with the given overrides; a limit that is not a non-negative integer is a bug. */
export function resolveLimits(overrides?: Partial<Limits>): Readonly<Limits> {
  if (overrides === undefined) return DEFAULT_LIMITS;
  const l: Limits = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const v = overrides[k];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`SIP limit ${k} must be a non-negative integer`);
    l[k] = v;
  }
  return l;
}
