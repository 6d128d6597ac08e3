/** What the benches here share: their command-line options and their summary figures. */

/** The value after `--name` on the command line, or undefined when the option is absent. */
function optionValue(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

/** `--name N` from the command line (a finite number, at least 0), else `def`. */
export function numberOption(name: string, def: number): number {
  const value = optionValue(name);
  if (value === undefined) return def;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new Error(`--${name} takes a number (at least 0), not '${value}'`);
  return n;
}

/** `--name a,b,c` from the command line, else `def` split the same way. */
export function listOption(name: string, def: string): string[] {
  return (optionValue(name) ?? def).split(',').filter(Boolean);
}

export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentiles (the smallest sample with at least p of them at or below it), mean, range. */
export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return {
    n: s.length,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    min: s[0]!,
    max: s.at(-1)!,
  };
}
