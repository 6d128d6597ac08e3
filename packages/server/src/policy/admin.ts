import type { Config, PolicyDefault } from '../config/config.js';
import type { StoredRule, RuleAction } from '../store/rules.js';
import type { Store } from '../store/store.js';
import { PolicyError } from './errors.js';
import { Policy } from './policy.js';
import type { PolicyModel } from './policy.js';
import { normaliseMemberSelector, normaliseSelector, parseSelector } from './selector.js';

/**
 * Validated policy changes for the CLI and the admin API. Use these rather than the raw store
 * repositories: they normalise selectors (`Bob@<local domain>` → `bob`) and refuse rules that name
 * groups that do not exist.
 */

type DomainConfig = Pick<Config, 'domain'>;

/** Appends a rule `action src → dst`; returns it with its 1-based position. */
export function addRule(
  store: Store,
  config: DomainConfig,
  action: RuleAction,
  src: string,
  dst: string,
): StoredRule {
  const s = normaliseSelector(src, config.domain);
  const d = normaliseSelector(dst, config.domain);
  return store.transaction(() => {
    for (const text of [s, d]) {
      const sel = parseSelector(text, config.domain);
      if (sel.kind === 'group' && !store.groups.get(sel.group)) {
        throw new PolicyError(
          `unknown group '${sel.group}': create it first with \`tsunagu-server group add ${sel.group} MEMBER...\``,
        );
      }
    }
    return store.rules.add({ action, src: s, dst: d });
  });
}

/** Adds members to a group (created if missing). Members: `bob` or `bob@b.example`. */
export function addGroupMembers(
  store: Store,
  config: DomainConfig,
  group: string,
  members: readonly string[],
) {
  if (members.length === 0) throw new PolicyError('name at least one member');
  const list = members.map((m) => normaliseMemberSelector(m, config.domain));
  return store.groups.addMembers(group, list);
}

/** Removes members from a group (the group stays). */
export function removeGroupMembers(
  store: Store,
  config: DomainConfig,
  group: string,
  members: readonly string[],
) {
  const list = members.map((m) => {
    try {
      return normaliseMemberSelector(m, config.domain);
    } catch {
      return m.trim().toLowerCase();
    }
  });
  return store.groups.removeMembers(group, list);
}

export function setPolicyDefault(store: Store, value: PolicyDefault): void {
  store.settings.setPolicyDefault(value);
}

/** 1-based positions of the rules that name this local user directly (src or dst). */
export function rulesNamingUser(store: Store, user: string): number[] {
  const name = user.trim().toLowerCase();
  return store.rules
    .list()
    .filter((r) => r.src === name || r.dst === name)
    .map((r) => r.position);
}

/** The policy model stored in the database (default falls back to config.json's policyDefault). */
export function readPolicyModel(store: Store, config: Pick<Config, 'policyDefault'>): PolicyModel {
  return {
    default: store.settings.policyDefault() ?? config.policyDefault,
    groups: new Map(store.groups.list().map((g) => [g.name, g.members])),
    rules: store.rules.list(),
  };
}

/** Builds the Policy from the database. Throws a PolicyError if the stored policy is invalid. */
export function loadPolicy(store: Store, config: Pick<Config, 'domain' | 'policyDefault'>): Policy {
  return Policy.compile(readPolicyModel(store, config), { localDomain: config.domain });
}
