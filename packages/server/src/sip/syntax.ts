/**
 * Character classes and small scanners of the RFC 3261 §25.1 grammar, shared by the message parser and
 * the header-value parsers. Everything works on char codes with lookup tables: no regular expressions
 * run over peer-controlled input, so there is no backtracking to exploit.
 */

const SP = 0x20;
const HTAB = 0x09;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
const TOKEN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") {
  TOKEN[c.charCodeAt(0)] = 1;
}

export function isTokenChar(c: number): boolean {
  return TOKEN[c] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

export function isLws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** Index of the first char at or after i that is not SP/HTAB. */
export function skipLws(s: string, i: number): number {
  while (i < s.length && isLws(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the token starting at i (i itself when there is none). */
export function scanToken(s: string, i: number): number {
  while (i < s.length && TOKEN[s.charCodeAt(i)] === 1) i++;
  return i;
}

/**
 * Trims SP and HTAB only. String.prototype.trim would also eat U+FEFF and other Unicode spaces, which
 * are legitimate content in UTF-8 header values (RFC 4475 §3.1.1.2 has a value starting with a BOM).
 */
export function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isLws(s.charCodeAt(a))) a++;
  while (b > a && isLws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Value of a 1*DIGIT string, or Infinity when it has more significant digits than `maxDigits`
 * (so huge values from RFC 4475 §3.1.2.4 never lose precision into a wrong small number).
 * The caller checks isDigits first.
 */
export function digitsValue(s: string, maxDigits = 15): number {
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 0x30) i++;
  return s.length - i > maxDigits ? Infinity : Number(s.slice(i));
}

/**
 * Scans a quoted-string starting at s[i] === '"'. Returns the index just past the closing quote, or -1
 * if it is unterminated or holds a control character outside a quoted-pair.
 * qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII; quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
 */
export function scanQuoted(s: string, i: number): number {
  if (s.charCodeAt(i) !== DQUOTE) return -1;
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) return i + 1;
    if (c === BACKSLASH) {
      i++;
      if (i >= s.length) return -1;
      const e = s.charCodeAt(i);
      if (e === 0x0a || e === 0x0d) return -1;
    } else if ((c < 0x20 && c !== HTAB) || c === 0x7f) return -1;
  }
  return -1;
}

/** Contents of a quoted-string with quoted-pairs resolved; input without quotes is returned as is. */
export function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== DQUOTE || s.charCodeAt(s.length - 1) !== DQUOTE) return s;
  const inner = s.slice(1, -1);
  if (!inner.includes('\\')) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === '\\' && i + 1 < inner.length) out += inner[++i];
    else out += c;
  }
  return out;
}

/**
 * Makes a quoted-string. Quotes, backslashes and control characters become quoted-pairs; CR and LF
 * cannot be represented at all and are dropped (they would split the header).
 */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) continue;
    if (c === DQUOTE || c === BACKSLASH || (c < 0x20 && c !== HTAB) || c === 0x7f) out += '\\';
    out += s[i];
  }
  return out + '"';
}

/** JSON-quoted, shortened copy of peer data for error messages: single-line and bounded. */
export function show(s: string, max = 64): string {
  return JSON.stringify(s.length > max ? s.slice(0, max) + '…' : s);
}

// Objects made by this constructor have a prototype with no properties and no prototype of its own, so
// peer-chosen keys such as "__proto__", "constructor" or "toString" are plain own keys, as with
// Object.create(null); unlike Object.create(null), V8 keeps them in fast (non-dictionary) mode.
const Dict = function () {} as unknown as new () => object;
Dict.prototype = Object.create(null);

/** An empty record safe for keys taken from the network. */
export function dict<V>(): Record<string, V> {
  return new Dict() as Record<string, V>;
}
