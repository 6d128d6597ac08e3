import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { canonicalIp, isLinkLocalIpv6, isLoopbackIp, type ChannelCandidate } from '@tsunagu/protocol';

/** At most this many addresses of our own are advertised (the SDP parser accepts 32 candidates). */
export const MAX_CHANNEL_ADDRESSES = 12;

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * This machine's addresses for channel candidates: every non-internal interface address (IPv6 link-
 * local left out: it needs a zone id the peer cannot know), each once, IPv6 first and the families
 * interleaved, at most MAX_CHANNEL_ADDRESSES.
 * Loopback only when there is nothing else. `interfaces` is injectable (tests, and callers that
 * restrict the interfaces used).
 */
export function channelAddresses(interfaces: InterfaceTable = networkInterfaces()): string[] {
  const v6: string[] = [];
  const v4: string[] = [];
  const seen = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (i.internal || isLoopbackIp(i.address) || isLinkLocalIpv6(i.address)) continue;
      const key = canonicalIp(i.address);
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      (i.family === 'IPv6' ? v6 : v4).push(i.address);
    }
  }
  // Families interleaved (RFC 8305 §4), then capped: a host with many IPv6 privacy addresses must not
  // crowd out IPv4, nor push the SDP past its candidate limit.
  const out: string[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (v6[i] !== undefined) out.push(v6[i]!);
    if (v4[i] !== undefined) out.push(v4[i]!);
  }
  return out.length > 0 ? out.slice(0, MAX_CHANNEL_ADDRESSES) : ['127.0.0.1'];
}

/** Every address of this machine, loopback included (to tell whether a peer is on this machine). */
export function allLocalAddresses(interfaces: InterfaceTable = networkInterfaces()): string[] {
  return Object.values(interfaces).flatMap((l) => (l ?? []).map((i) => i.address));
}

/**
 * A peer is "local" (on this machine) when every host candidate it lists is a loopback address or
 * one of ours. Only then are its loopback candidates worth connecting to, and ours worth offering.
 */
export function peerIsLocal(
  candidates: readonly ChannelCandidate[],
  localAddresses: readonly string[],
): boolean {
  const mine = new Set(localAddresses.map((a) => canonicalIp(a)));
  const hosts = candidates.filter((c) => c.type === 'host');
  return hosts.length > 0 && hosts.every((c) => isLoopbackIp(c.address) || mine.has(canonicalIp(c.address)));
}
