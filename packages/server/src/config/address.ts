import { isIP } from 'node:net';
import { ConfigError } from './errors.js';

export interface HostPort {
  /** A host name or an IP address; IPv6 without brackets. */
  host: string;
  port: number;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** True for a DNS host name (letters, digits, hyphens; labels of 1–63; at most 253 characters). Case-insensitive. */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const name = s.toLowerCase();
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  // A name whose last label is all digits would be read as an IPv4 address by many parsers.
  return !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

/** `4` or `6` for an IP address literal (IPv6 without brackets), 0 otherwise. */
export function ipVersion(s: string): 0 | 4 | 6 {
  return isIP(s) as 0 | 4 | 6;
}

/**
 * Normalises a host as a person typed it: lower-case names, IPv6 without brackets. Throws a
 * ConfigError naming `what` when it is neither a host name nor an IP address.
 */
export function normaliseHost(input: string, what = 'host'): string {
  let s = input.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (ipVersion(s) !== 0) return s.toLowerCase();
  if (isHostname(s)) return s.toLowerCase();
  throw new ConfigError(`invalid ${what} '${input}': expected a host name or an IP address`);
}

/**
 * Parses `HOST:PORT`: `127.0.0.1:5061`, `sip.example.org:5061`, `[::1]:0` (IPv6 in brackets).
 * Port 0 means "any free port" and is accepted only with `allowPortZero` (default true, for listening).
 */
export function parseHostPort(text: string, options: { allowPortZero?: boolean } = {}): HostPort {
  const allowZero = options.allowPortZero ?? true;
  const s = text.trim();
  const bad = (why: string): never => {
    throw new ConfigError(`invalid address '${text}': ${why}`);
  };
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) bad('missing ] after the IPv6 address');
    host = s.slice(1, close);
    if (s[close + 1] !== ':') bad('expected [IPv6]:PORT, e.g. [::1]:5061');
    portText = s.slice(close + 2);
    if (ipVersion(host) !== 6) bad(`'${host}' is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) bad('expected HOST:PORT, e.g. 127.0.0.1:5061 or [::1]:5061');
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) bad('an IPv6 address must be written in brackets, e.g. [::1]:5061');
    if (host === '') bad('the host is missing');
    if (ipVersion(host) !== 4 && !isHostname(host))
      bad(`'${host}' is neither a host name nor an IPv4 address`);
  }
  if (!/^\d{1,5}$/.test(portText)) bad(`the port must be a number from ${allowZero ? 0 : 1} to 65535`);
  const port = Number(portText);
  if (port > 65535 || (!allowZero && port === 0))
    bad(`the port must be a number from ${allowZero ? 0 : 1} to 65535`);
  return { host: host.toLowerCase(), port };
}

/** `127.0.0.1:5061`, `[::1]:5061`, `sip.example.org:5061`. */
export function formatHostPort(hp: HostPort): string {
  return ipVersion(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
