import { StoreError } from './errors.js';

/**
 * User names are the local part of an AOR (`alice` in `sip:alice@example.org`): lower-case letters,
 * digits, `.`, `_`, `-`, starting with a letter or digit, at most 64 characters. Input is case-folded,
 * so `Alice` and `alice` are the same user; digest clients must send the lower-case name.
 */
export const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Group names follow the same rule as user names. */
export const GROUP_NAME = USER_NAME;
/** Device ids: `d-k3v9q2xa`, or a slug of the device's name (`alices-laptop`). */
export const DEVICE_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function isUserName(s: string): boolean {
  return USER_NAME.test(s);
}

export function isDomainName(s: string): boolean {
  return DOMAIN.test(s) && !/^\d+$/.test(s.slice(s.lastIndexOf('.') + 1));
}

/** Case-folds and validates a user name; throws a StoreError that says what is allowed. */
export function normaliseUserName(input: string): string {
  const name = input.trim().toLowerCase();
  if (!USER_NAME.test(name)) {
    throw new StoreError(
      'invalid-name',
      `invalid user name '${input}': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

export function normaliseGroupName(input: string): string {
  const name = input.trim().toLowerCase();
  if (!GROUP_NAME.test(name)) {
    throw new StoreError(
      'invalid-name',
      `invalid group name '${input}': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

export function normaliseDeviceId(input: string): string {
  const id = input.trim().toLowerCase();
  if (!DEVICE_ID.test(id)) {
    throw new StoreError(
      'invalid-name',
      `invalid device id '${input}': use 1-32 letters, digits or '-', starting with a letter or digit`,
    );
  }
  return id;
}

/**
 * A group member or rule subject naming one person: a local user (`bob`) or a user of another
 * domain (`bob@b.example`). Returns the lower-case form, or throws.
 */
export function normaliseMember(input: string): string {
  const s = input.trim().toLowerCase();
  const at = s.indexOf('@');
  if (at < 0) {
    if (USER_NAME.test(s)) return s;
  } else if (USER_NAME.test(s.slice(0, at)) && isDomainName(s.slice(at + 1))) {
    return s;
  }
  throw new StoreError(
    'invalid-name',
    `invalid member '${input}': expected a user name (bob) or a user of another domain (bob@b.example)`,
  );
}

const CONTROL = /[\x00-\x1f\x7f]/;

/** A device's display name: 1–64 characters, no control characters, surrounding spaces removed. */
export function normaliseDeviceName(input: string): string {
  const name = input.trim();
  if (name.length === 0 || name.length > 64 || CONTROL.test(name)) {
    throw new StoreError('invalid-argument', 'invalid device name: use 1-64 printable characters');
  }
  return name;
}

/**
 * A `+sip.instance` value (RFC 5626 §4.1), e.g. `<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>`.
 * Stored without the angle brackets or quotes; `urn:uuid:` values are lower-cased (UUIDs compare
 * case-insensitively). At most 256 characters, no control characters or spaces.
 */
export function normaliseInstance(input: string): string {
  let s = input.trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) s = s.slice(1, -1);
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  if (s.length === 0 || s.length > 256 || CONTROL.test(s) || /[\s<>"]/.test(s)) {
    throw new StoreError(
      'invalid-argument',
      'invalid device instance: expected a +sip.instance URN such as <urn:uuid:…>',
    );
  }
  return /^urn:uuid:/i.test(s) ? s.toLowerCase() : s;
}

/**
 * A device id derived from its display name: `Alice's Laptop` → `alice-s-laptop`, at most 24
 * characters, or undefined when nothing usable remains.
 */
export function slugFromName(name: string): string | undefined {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24)
    .replace(/-+$/, '');
  return slug === '' ? undefined : slug;
}
