import { ConfigError } from './errors.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Parses a duration such as `90s`, `30m`, `24h`, `7d`, or a sum of them (`1d12h`) into milliseconds.
 * Units: s, m, h, d. No fractions, no spaces, no negative values; `0s` is 0.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (!/^(?:\d+[smhd])+$/.test(s)) {
    throw new ConfigError(
      `invalid duration '${text}': expected a number followed by s, m, h or d (e.g. 90s, 30m, 24h, 7d)`,
    );
  }
  let total = 0;
  for (const m of s.matchAll(/(\d+)([smhd])/g)) {
    const n = Number(m[1]);
    total += n * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  }
  if (!Number.isSafeInteger(total)) throw new ConfigError(`invalid duration '${text}': too long`);
  return total;
}

/** The shortest exact rendering of a duration in ms: 86400000 → `1d`, 5400000 → `1h30m`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration: ${ms}`);
  if (ms === 0) return '0s';
  if (ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out;
}
