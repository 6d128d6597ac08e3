import { GROUP_NAME, USER_NAME, isDomainName } from '../store/names.js';
import { PolicyError } from './errors.js';

/**
 * Who a rule is about, on either side (src or dst):
 *
 *   `*`                 everybody, local or remote
 *   `bob`               the local user bob (also written `bob@<local domain>`)
 *   `bob@b.example`     the user bob of another domain (federation)
 *   `group:eng`         every member of the group eng
 *   `domain:b.example`  every user of that domain (`domain:<local domain>` = every local user)
 */
export type Selector =
  | { kind: 'any' }
  | { kind: 'user'; user: string; domain?: string }
  | { kind: 'group'; group: string }
  | { kind: 'domain'; domain: string };

export const SELECTOR_HELP =
  '*, a user (bob), a user of another domain (bob@b.example), group:NAME or domain:DOMAIN';

/**
 * Parses selector text, lower-casing it; `bob@<localDomain>` becomes the local user `bob`.
 * Throws a PolicyError saying what is allowed.
 */
export function parseSelector(text: string, localDomain?: string): Selector {
  const s = text.trim().toLowerCase();
  const bad = (why = `expected ${SELECTOR_HELP}`): never => {
    throw new PolicyError(`invalid selector '${text}': ${why}`);
  };
  if (s === '*') return { kind: 'any' };
  if (s.startsWith('group:')) {
    const group = s.slice(6);
    if (!GROUP_NAME.test(group)) bad(`'${group}' is not a valid group name`);
    return { kind: 'group', group };
  }
  if (s.startsWith('domain:')) {
    const domain = s.slice(7);
    if (!isDomainName(domain)) bad(`'${domain}' is not a valid domain`);
    return { kind: 'domain', domain };
  }
  const at = s.indexOf('@');
  if (at < 0) {
    if (!USER_NAME.test(s)) bad();
    return { kind: 'user', user: s };
  }
  const user = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (!USER_NAME.test(user) || !isDomainName(domain)) bad();
  return domain === localDomain ? { kind: 'user', user } : { kind: 'user', user, domain };
}

/** The canonical text of a selector (what is stored and shown). */
export function formatSelector(sel: Selector): string {
  switch (sel.kind) {
    case 'any':
      return '*';
    case 'group':
      return `group:${sel.group}`;
    case 'domain':
      return `domain:${sel.domain}`;
    case 'user':
      return sel.domain === undefined ? sel.user : `${sel.user}@${sel.domain}`;
  }
}

/** Normalises selector text: `Bob@Example.org` → `bob` when example.org is local. */
export function normaliseSelector(text: string, localDomain?: string): string {
  return formatSelector(parseSelector(text, localDomain));
}

/**
 * A group member: a local user or a user of another domain (not `*`, groups or domains: groups do
 * not nest). `bob@<localDomain>` becomes `bob`.
 */
export function normaliseMemberSelector(text: string, localDomain?: string): string {
  let sel: Selector;
  try {
    sel = parseSelector(text, localDomain);
  } catch {
    sel = { kind: 'any' };
  }
  if (sel.kind !== 'user') {
    throw new PolicyError(
      `invalid group member '${text}': expected a user (bob) or a user of another domain (bob@b.example); groups do not nest`,
    );
  }
  return formatSelector(sel);
}
