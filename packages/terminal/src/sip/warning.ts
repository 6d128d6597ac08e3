import { quote, splitList, unquote } from '@tsunagu/server/sip';

/**
 * The Warning header (RFC 3261 §20.43) with warn-code 399, "miscellaneous warning": how a refusal
 * explains itself to the person behind the other end.
 */

/** Longest warn-text we send or show: it is shown in one line. */
const MAX_WARNING = 300;

/** `Warning: 399 tsunagu "text"` (the warn-agent is a pseudonym, RFC 3261 §20.43). */
export function warningHeader(text: string): string {
  return `Warning: 399 tsunagu ${quote(text.slice(0, MAX_WARNING))}`;
}

/**
 * The warn-text of the first value of a Warning header, unquoted and cut to {@link MAX_WARNING}
 * characters (it comes from the other end, and ends up in messages and logs); undefined when there is none.
 */
export function warningText(value: string | undefined): string | undefined {
  const first = value ? splitList(value)[0] : undefined;
  const m = first ? /^\s*\d{3}\s+\S+\s+("(?:[^"\\]|\\.)*")\s*$/.exec(first) : undefined;
  return m ? unquote(m[1]!).slice(0, MAX_WARNING) : undefined;
}
