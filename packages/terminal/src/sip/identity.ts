import { splitList } from '@tsunagu/server/sip';
import { Grammar } from 'sip.js';

/**
 * The identity our server asserts for the other party (RFC 3325 P-Asserted-Identity). The server
 * removes any P-Asserted-Identity a terminal sends and adds the authenticated one to every request it
 * forwards and every response it relays, so on our own pinned, authenticated server connection (the
 * only connection a terminal has) it is trustworthy; From and Contact are not, and are never used for
 * identity.
 */
export interface AssertedIdentity {
  /** User part, lower-case: `bob`. */
  user: string;
  domain: string;
  /** `sip:bob@example.org`. */
  aor: string;
  displayName?: string;
}

/** Reads the first SIP identity from P-Asserted-Identity header values; undefined if there is none. */
export function parseAssertedIdentity(values: readonly string[]): AssertedIdentity | undefined {
  for (const value of values) {
    // A header may list a sip and a tel identity (RFC 3325 §9.1): take the sip one.
    for (const part of splitList(value)) {
      const parsed = Grammar.nameAddrHeaderParse(part);
      const uri = parsed?.uri;
      if (!uri || (uri.scheme !== 'sip' && uri.scheme !== 'sips') || !uri.user) continue;
      const user = uri.user.toLowerCase();
      const domain = uri.host.toLowerCase();
      const displayName = parsed.displayName;
      return { user, domain, aor: `sip:${user}@${domain}`, ...(displayName ? { displayName } : {}) };
    }
  }
  return undefined;
}
