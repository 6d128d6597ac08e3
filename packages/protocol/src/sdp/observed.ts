/**
 * Name resolution, the seed's steps 10 and 12: the session server tells each terminal the address it
 * observed for the other one. It does so in the standard place for addresses in an offer or answer —
 * an RFC 6544 `a=candidate` line of type `srflx` (server reflexive), added next to the terminal's own
 * `host` candidates of the TCP/TLS channel stream, with the same port (a NAT that preserves ports, a
 * forwarded port, or simply the same address seen from outside).
 */

const SRFLX_TYPE_PREFERENCE = 100;
/** RFC 6544 §4.2: local preference = direction preference (passive: 2) << 13 | other preference. */
const PASSIVE_LOCAL_PREFERENCE = (2 << 13) | 8191;

export function candidatePriority(typePreference: number, localPreference: number, component = 1): number {
  return typePreference * 2 ** 24 + localPreference * 2 ** 8 + (256 - component);
}

interface HostCandidate {
  address: string;
  port: number;
}

const CANDIDATE = /^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ (\S+)(.*)$/i;

/**
 * Returns `sdp` with a server-reflexive candidate for `observedAddress` added to every TCP/TLS media
 * section that has passive host candidates. Unchanged when the observed address is already listed or
 * the SDP has no such section. Line endings are kept as CRLF (RFC 4566 §5).
 */
export function addObservedCandidates(sdp: string, observedAddress: string): string {
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const out: string[] = [];
  let section: { tls: boolean; hosts: HostCandidate[]; addresses: Set<string> } | undefined;
  const flush = () => {
    if (!section?.tls || section.addresses.has(normalise(observedAddress))) return;
    const seen = new Set<number>();
    for (const h of section.hosts) {
      if (seen.has(h.port)) continue;
      seen.add(h.port);
      const priority = candidatePriority(SRFLX_TYPE_PREFERENCE, PASSIVE_LOCAL_PREFERENCE);
      out.push(
        `a=candidate:srflx${seen.size} 1 TCP ${priority} ${observedAddress} ${h.port} typ srflx raddr ${h.address} rport ${h.port} tcptype passive`,
      );
    }
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      flush();
      section = { tls: /^m=\S+ \d+ TCP\/TLS\b/i.test(line), hosts: [], addresses: new Set() };
    } else if (section) {
      const m = CANDIDATE.exec(line);
      if (m && m[3]!.toUpperCase() === 'TCP') {
        section.addresses.add(normalise(m[5]!));
        const passive = /\btcptype (passive|so)\b/i.test(m[8] ?? '');
        if (m[7]!.toLowerCase() === 'host' && passive)
          section.hosts.push({ address: m[5]!, port: Number(m[6]) });
      }
    }
    out.push(line);
  }
  flush();
  return out.join('\r\n') + '\r\n';
}

const normalise = (a: string): string => a.toLowerCase().replace(/^\[|\]$/g, '');
