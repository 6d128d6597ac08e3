import type { z } from 'zod';

/**
 * Turns zod issues into short, precise, human sentences: `config.json: sip.port must be an integer
 * from 1 to 65535 (got 70000)`. Used for every file a person edits (config.json, policy files).
 *
 * Schemas give field-specific messages that start with a verb phrase ("must be …"); this error map
 * supplies the generic ones, so every message reads `<label>: <path> <message>`.
 */
export const issueMessages: z.core.$ZodErrorMap = (issue) => {
  const got = describeValue(issue.input);
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${article(issue.expected)} (got ${got})`;
    case 'invalid_value':
      if (issue.input === undefined) {
        return `is required (${issue.values.map((v) => JSON.stringify(v)).join(' or ')})`;
      }
      if (issue.values.length === 1) return `must be ${JSON.stringify(issue.values[0])} (got ${got})`;
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${got})`;
    case 'too_small':
      if (issue.origin === 'array')
        return `must have at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}`;
      if (issue.origin === 'string')
        return issue.minimum === 1
          ? 'must not be empty'
          : `must be at least ${String(issue.minimum)} characters long`;
      return `must be ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)} (got ${got})`;
    case 'too_big':
      if (issue.origin === 'array') return `must have at most ${String(issue.maximum)} entries`;
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters long`;
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)} (got ${got})`;
    case 'unrecognized_keys':
      return `has unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    default:
      return undefined;
  }
};

function article(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'object':
    case 'array':
      return `an ${expected}`;
    case 'boolean':
      return 'true or false';
    default:
      return `a ${expected}`;
  }
}

/** A short description of a value for an error message, never longer than ~40 characters. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': {
      const s = v.length > 40 ? `${v.slice(0, 37)}...` : v;
      return JSON.stringify(s);
    }
    case 'number':
    case 'boolean':
      return String(v);
    case 'undefined':
      return 'nothing';
    case 'object':
      return 'an object';
    default:
      return typeof v;
  }
}

/** `sip.port`, `hosts[0]`, `groups.eng[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** One line per issue (at most `max`), each `<label>: <path> <message>`. */
export function formatIssues(label: string, error: z.ZodError, max = 5): string {
  const lines: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${label}: unknown key '${formatPath([...issue.path, key])}'`);
      continue;
    }
    const where = formatPath(issue.path);
    lines.push(where === '' ? `${label}: ${issue.message}` : `${label}: ${where} ${issue.message}`);
  }
  const shown = lines.slice(0, max);
  if (lines.length > max)
    shown.push(`(${lines.length - max} more problem${lines.length - max > 1 ? 's' : ''})`);
  return shown.join('; ');
}
