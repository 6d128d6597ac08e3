import type { PolicyDefault } from '../config/config.js';
import { USER_NAME } from '../store/names.js';
import type { RuleAction } from '../store/rules.js';
import { PolicyError } from './errors.js';
import { parseSelector } from './selector.js';
import type { Selector } from './selector.js';

/**
 * The connection policy (the seed's step 8): may the user `src` reach the user `dst`?
 *
 * Semantics, in this order:
 *   1. A user always reaches itself (its own other devices), whatever the rules say.
 *   2. Otherwise, if ANY deny rule matches (src matches the rule's src AND dst matches its dst),
 *      the answer is no — a deny wins over every allow, wherever the rules stand in the list.
 *   3. Otherwise, if any allow rule matches, yes.
 *   4. Otherwise the default: `allow-all` → yes, `deny-all` → no.
 * Rules are directional: `allow alice → bob` lets alice reach bob, not bob reach alice. The order of
 * rules does not change the result (it is kept for display and for `policy remove N`).
 *
 * A denied peer must be indistinguishable from an unknown one (DESIGN.md "Policy"): callers answer
 * "no" exactly like "no such user". An address that cannot be parsed is never reachable.
 *
 * Evaluation is pure and O(number of rules): selectors are compiled once, groups become Sets.
 */

export interface PolicyRule {
  action: RuleAction;
  src: string;
  dst: string;
}

export interface PolicyModel {
  default: PolicyDefault;
  /** Group name → members (`bob`, `bob@b.example`). */
  groups: ReadonlyMap<string, readonly string[]>;
  /** In display order. */
  rules: readonly PolicyRule[];
}

/** A parsed address: a user of the local domain or of another one. */
export interface Party {
  user: string;
  domain: string;
  local: boolean;
  /** `bob` for a local user, `bob@b.example` for a remote one (the form group members use). */
  key: string;
}

export type DecisionReason = 'self' | 'deny-rule' | 'allow-rule' | 'default' | 'invalid-address';

export interface Decision {
  allowed: boolean;
  reason: DecisionReason;
  /** 1-based position of the deciding rule (for deny-rule / allow-rule). */
  rule?: number;
}

type Matcher = (p: Party) => boolean;
/** How much of a domain a selector names: every user of it, some, or none. */
type DomainScope = (domain: string) => 'all' | 'some' | 'none';

interface CompiledRule {
  position: number;
  src: Matcher;
  dst: Matcher;
  dstScope: DomainScope;
}

/**
 * Parses `alice`, `alice@example.org`, `sip:alice@example.org`, `<sips:alice@example.org:5061;transport=tls>`.
 * Returns undefined for anything else. Lower-cases; a bare name is a local user.
 */
export function parseAor(aor: string, localDomain: string): Party | undefined {
  let s = aor.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  s = s.replace(/^sips?:/i, '');
  s = s.split(/[;?]/, 1)[0] ?? '';
  s = s.toLowerCase();
  const at = s.lastIndexOf('@');
  let user: string;
  let domain: string;
  if (at < 0) {
    user = s;
    domain = localDomain;
  } else {
    user = s.slice(0, at);
    domain = s.slice(at + 1);
    if (domain.startsWith('[')) {
      const close = domain.indexOf(']');
      if (close < 0) return undefined;
      domain = domain.slice(0, close + 1);
    } else {
      domain = domain.replace(/:\d+$/, '');
    }
  }
  if (user.length === 0 || user.length > 256 || domain.length === 0 || /[\s<>"@]/.test(user + domain))
    return undefined;
  const local = domain === localDomain;
  if (local && !USER_NAME.test(user)) return undefined;
  return { user, domain, local, key: local ? user : `${user}@${domain}` };
}

export class Policy {
  readonly defaultAction: PolicyDefault;
  readonly localDomain: string;
  private readonly deny: CompiledRule[] = [];
  private readonly allow: CompiledRule[] = [];

  private constructor(model: PolicyModel, localDomain: string) {
    this.defaultAction = model.default;
    this.localDomain = localDomain;
    const groups = new Map<string, ReadonlySet<string>>();
    for (const [name, members] of model.groups) {
      groups.set(
        name,
        new Set(
          members.map((m) => {
            const p = parseAor(m, localDomain);
            if (!p) throw new PolicyError(`group '${name}': invalid member '${m}'`);
            return p.key;
          }),
        ),
      );
    }
    model.rules.forEach((r, i) => {
      // In this order, so that the first problem of a rule is the one reported.
      const src = this.matcher(this.selector(r.src, i + 1), groups, i + 1);
      const dstSelector = this.selector(r.dst, i + 1);
      const rule = {
        position: i + 1,
        src,
        dst: this.matcher(dstSelector, groups, i + 1),
        dstScope: this.scope(dstSelector, groups),
      };
      (r.action === 'deny' ? this.deny : this.allow).push(rule);
    });
  }

  /** Compiles a policy; throws a PolicyError if a selector is invalid or names an unknown group. */
  static compile(model: PolicyModel, options: { localDomain: string }): Policy {
    return new Policy(model, options.localDomain.toLowerCase());
  }

  /** May `src` reach `dst`? Both are AORs (`alice@example.org`, `sip:…`) or bare local user names. */
  canReach(src: string, dst: string): boolean {
    return this.explain(src, dst).allowed;
  }

  /** canReach, with the reason (for `policy check` and logs). */
  explain(src: string, dst: string): Decision {
    const s = parseAor(src, this.localDomain);
    const d = parseAor(dst, this.localDomain);
    if (!s || !d) return { allowed: false, reason: 'invalid-address' };
    if (s.key === d.key) return { allowed: true, reason: 'self' };
    for (const r of this.deny)
      if (r.src(s) && r.dst(d)) return { allowed: false, reason: 'deny-rule', rule: r.position };
    for (const r of this.allow)
      if (r.src(s) && r.dst(d)) return { allowed: true, reason: 'allow-rule', rule: r.position };
    return { allowed: this.defaultAction === 'allow-all', reason: 'default' };
  }

  /**
   * May `src` reach anyone at all of `domain` — a peer domain, whose users this server cannot list?
   * No if a deny rule for `src` covers the whole domain; else yes if an allow rule for `src` names
   * someone there, or the default allows. It decides which peer domains' contact lists a user's
   * terminal is told to ask for: the peer then lists exactly whom both policies allow.
   */
  mayReachDomain(src: string, domain: string): boolean {
    const s = parseAor(src, this.localDomain);
    if (!s) return false;
    const d = domain.toLowerCase();
    if (this.deny.some((r) => r.src(s) && r.dstScope(d) === 'all')) return false;
    return this.defaultAction === 'allow-all' || this.allow.some((r) => r.src(s) && r.dstScope(d) !== 'none');
  }

  /**
   * The peers `src` may see and reach (its contact list): the entries of `allUsers` (AORs or bare
   * names, returned as given, in the same order) that `src` can reach, without `src` itself.
   */
  visiblePeers(src: string, allUsers: Iterable<string>): string[] {
    const s = parseAor(src, this.localDomain);
    if (!s) return [];
    const out: string[] = [];
    for (const u of allUsers) {
      const d = parseAor(u, this.localDomain);
      if (d && d.key !== s.key && this.canReach(src, u)) out.push(u);
    }
    return out;
  }

  /** Called after matcher(), which has already refused an unknown group. */
  private scope(sel: Selector, groups: ReadonlyMap<string, ReadonlySet<string>>): DomainScope {
    switch (sel.kind) {
      case 'any':
        return () => 'all';
      case 'domain':
        return (d) => (d === sel.domain ? 'all' : 'none');
      case 'user':
        return (d) => (d === (sel.domain ?? this.localDomain) ? 'some' : 'none');
      case 'group': {
        const domains = new Set(
          [...(groups.get(sel.group) ?? [])].map((key) =>
            key.includes('@') ? key.slice(key.lastIndexOf('@') + 1) : this.localDomain,
          ),
        );
        return (d) => (domains.has(d) ? 'some' : 'none');
      }
    }
  }

  private selector(text: string, position: number): Selector {
    try {
      return parseSelector(text, this.localDomain);
    } catch (e) {
      throw new PolicyError(`rule ${position}: ${(e as Error).message}`);
    }
  }

  private matcher(
    sel: Selector,
    groups: ReadonlyMap<string, ReadonlySet<string>>,
    position: number,
  ): Matcher {
    switch (sel.kind) {
      case 'any':
        return () => true;
      case 'user': {
        const key = sel.domain === undefined ? sel.user : `${sel.user}@${sel.domain}`;
        return (p) => p.key === key;
      }
      case 'domain': {
        const domain = sel.domain;
        return (p) => p.domain === domain;
      }
      case 'group': {
        const members = groups.get(sel.group);
        if (!members) throw new PolicyError(`rule ${position}: unknown group '${sel.group}'`);
        return (p) => members.has(p.key);
      }
    }
  }
}
