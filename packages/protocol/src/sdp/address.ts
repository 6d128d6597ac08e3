/**
 * IP address literals as they appear in SDP `c=` lines and `a=candidate` lines (RFC 4566 §9, RFC 8839
 * §5.1): IPv4 dotted quads and IPv6 text forms (RFC 4291 §2.2) without zone ids or brackets. Pure
 * TypeScript, no Node APIs, so it runs in browsers too.
 */

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

/** 4 for an IPv4 literal, 6 for an IPv6 literal, 0 for anything else (host names included). */
export function ipFamily(address: string): 0 | 4 | 6 {
  if (IPV4.test(address)) return 4;
  return ipv6Groups(address) ? 6 : 0;
}

/** The eight 16-bit groups of an IPv6 literal, or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (address.length < 2 || address.length > 45 || !address.includes(':')) return undefined;
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string, allowV4Tail: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (allowV4Tail && i === pieces.length - 1 && p.includes('.')) {
        if (!IPV4.test(p)) return undefined;
        const [a, b, c, d] = p.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else if (HEX_GROUP.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  if (halves.length === 1) {
    const groups = parse(address, true);
    return groups?.length === 8 ? groups : undefined;
  }
  const head = parse(halves[0]!, false);
  const tail = parse(halves[1]!, true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * A canonical text form for comparing addresses: IPv4 as is; IPv6 per RFC 5952 (lower case, longest
 * run of zero groups compressed); IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as the IPv4 address it maps,
 * since that is how a dual-stack socket reports an IPv4 peer. Undefined for anything that is not an
 * IP literal.
 */
export function canonicalIp(address: string): string | undefined {
  if (IPV4.test(address)) return address;
  const g = ipv6Groups(address);
  if (!g) return undefined;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopbackIp(address: string): boolean {
  const c = canonicalIp(address);
  return c !== undefined && (c === '::1' || c.startsWith('127.'));
}

/** True for IPv6 link-local fe80::/10, which needs a zone id no SDP peer can know. */
export function isLinkLocalIpv6(address: string): boolean {
  const g = ipv6Groups(address);
  return g !== undefined && (g[0]! & 0xffc0) === 0xfe80;
}
