import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config, PolicyDefault } from '../config/config.js';
import { formatIssues, issueMessages } from '../config/zod-issues.js';
import type { Store } from '../store/store.js';
import type { RuleInput } from '../store/rules.js';
import { GROUP_NAME } from '../store/names.js';
import { PolicyError } from './errors.js';
import { SELECTOR_HELP, normaliseMemberSelector, parseSelector, formatSelector } from './selector.js';

/**
 * The policy file of `tsunagu-server policy apply FILE.json` (and the output of `policy show --json`):
 *
 *   {
 *     "default": "deny-all",
 *     "groups": { "eng": ["alice", "bob"], "partners": ["carol@b.example"] },
 *     "rules": [
 *       { "allow": "group:eng", "to": "group:eng" },
 *       { "deny": "carol", "to": "*" }
 *     ]
 *   }
 *
 * `default` is required; `groups` and `rules` default to empty. Applying a file replaces the default,
 * every group and every rule in one transaction.
 */
export interface PolicyFile {
  default: PolicyDefault;
  groups: Record<string, string[]>;
  rules: ({ allow: string; to: string } | { deny: string; to: string })[];
}

/** A validated, normalised policy, ready to store. */
export interface PolicyDocument {
  default: PolicyDefault;
  groups: Map<string, string[]>;
  rules: RuleInput[];
}

function schema(localDomain: string) {
  const selector = z.string().superRefine((s, ctx) => {
    try {
      parseSelector(s, localDomain);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be ${SELECTOR_HELP} (got ${JSON.stringify(s)})` });
    }
  });
  const rule = z
    .strictObject({ allow: selector.optional(), deny: selector.optional(), to: selector })
    .superRefine((r, ctx) => {
      if ((r.allow === undefined) === (r.deny === undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: `must have exactly one of "allow" or "deny" (the source), and "to"`,
        });
      }
    });
  return z
    .strictObject({
      default: z.enum(['allow-all', 'deny-all']),
      groups: z.record(z.string(), z.array(z.string())).default({}),
      rules: z.array(rule).default([]),
    })
    .superRefine((doc, ctx) => {
      const seen = new Map<string, string>();
      for (const [name, members] of Object.entries(doc.groups)) {
        const lower = name.toLowerCase();
        if (!GROUP_NAME.test(lower)) {
          ctx.addIssue({
            code: 'custom',
            path: ['groups', name],
            message:
              "is not a valid group name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
          });
        } else if (seen.has(lower)) {
          ctx.addIssue({
            code: 'custom',
            path: ['groups', name],
            message: `repeats the group '${seen.get(lower)}'`,
          });
        }
        seen.set(lower, name);
        members.forEach((m, i) => {
          try {
            normaliseMemberSelector(m, localDomain);
          } catch {
            ctx.addIssue({
              code: 'custom',
              path: ['groups', name, i],
              message: `must be a user (bob) or a user of another domain (bob@b.example) (got ${JSON.stringify(m)})`,
            });
          }
        });
      }
      doc.rules.forEach((r, i) => {
        for (const key of ['allow', 'deny', 'to'] as const) {
          const text = r[key as keyof typeof r];
          if (text === undefined) continue;
          let sel;
          try {
            sel = parseSelector(text, localDomain);
          } catch {
            continue; // already reported by the field
          }
          if (sel.kind === 'group' && !seen.has(sel.group)) {
            ctx.addIssue({
              code: 'custom',
              path: ['rules', i, key],
              message: `names the unknown group '${sel.group}' (define it under "groups")`,
            });
          }
        }
      });
    });
}

/**
 * Validates a policy file's text. Every message names the file and the exact place:
 * `policy.json: rules[1].to names the unknown group 'ops' (define it under "groups")`.
 */
export function parsePolicyFile(
  text: string,
  config: Pick<Config, 'domain'>,
  label = 'policy file',
): PolicyDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PolicyError(`${label}: not valid JSON: ${(e as Error).message}`);
  }
  const r = schema(config.domain).safeParse(json, { error: issueMessages });
  if (!r.success) throw new PolicyError(formatIssues(label, r.error));
  const groups = new Map<string, string[]>();
  for (const [name, members] of Object.entries(r.data.groups)) {
    groups.set(
      name.toLowerCase(),
      [...new Set(members.map((m) => normaliseMemberSelector(m, config.domain)))].sort(),
    );
  }
  const rules: RuleInput[] = r.data.rules.map((rule) => {
    const action = rule.allow !== undefined ? 'allow' : 'deny';
    const src = (rule.allow ?? rule.deny)!;
    return {
      action,
      src: formatSelector(parseSelector(src, config.domain)),
      dst: formatSelector(parseSelector(rule.to, config.domain)),
    };
  });
  return { default: r.data.default, groups, rules };
}

/** Reads and validates a policy file from disk. */
export function readPolicyFile(file: string, config: Pick<Config, 'domain'>): PolicyDocument {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PolicyError(
      code === 'ENOENT' ? `${file}: no such file` : `cannot read ${file}: ${(e as Error).message}`,
    );
  }
  return parsePolicyFile(text, config, path.basename(file));
}

export interface ApplyResult {
  groups: number;
  rules: number;
  /** Local users named by groups or rules that do not exist (yet): not errors, but often typos. */
  warnings: string[];
}

/** Replaces the default, every group and every rule in ONE transaction: all or nothing. */
export function applyPolicy(store: Store, doc: PolicyDocument): ApplyResult {
  store.transaction(() => {
    store.settings.setPolicyDefault(doc.default);
    store.groups.replaceAll(doc.groups);
    store.rules.replaceAll(doc.rules);
  });
  return { groups: doc.groups.size, rules: doc.rules.length, warnings: unknownUserWarnings(store, doc) };
}

function unknownUserWarnings(store: Store, doc: PolicyDocument): string[] {
  const known = new Set(store.users.list().map((u) => u.name));
  const warnings: string[] = [];
  for (const [group, members] of doc.groups) {
    for (const m of members)
      if (!m.includes('@') && !known.has(m))
        warnings.push(`group '${group}' names '${m}', who is not a user (yet)`);
  }
  doc.rules.forEach((r, i) => {
    for (const s of [r.src, r.dst]) {
      if (!s.includes('@') && !s.includes(':') && s !== '*' && !known.has(s))
        warnings.push(`rule ${i + 1} names '${s}', who is not a user (yet)`);
    }
  });
  return warnings;
}

/** The stored policy in the file format (what `policy show --json` prints; `policy apply` reads it back). */
export function exportPolicy(store: Store, config: Pick<Config, 'policyDefault'>): PolicyFile {
  const groups: Record<string, string[]> = {};
  for (const g of store.groups.list()) groups[g.name] = g.members;
  return {
    default: store.settings.policyDefault() ?? config.policyDefault,
    groups,
    rules: store.rules
      .list()
      .map((r) => (r.action === 'allow' ? { allow: r.src, to: r.dst } : { deny: r.src, to: r.dst })),
  };
}
