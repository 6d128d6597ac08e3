import type { ChannelView, ContactView, TransferView } from '@tsunagu/protocol';
import type { AppState } from './store';

/**
 * Reading the state. Selectors return values already in the state (or arrays of them, for
 * `useShallow`), so components re-render only when what they show changed.
 */

/** A peer's key: its AOR without scheme, lower-case (`bob@example.org`); contacts and channels meet here. */
export const peerKey = (aor: string): string =>
  aor
    .trim()
    .replace(/^sips?:/i, '')
    .toLowerCase();

/** How to name a peer: the user name within our own domain, the full address outside it. */
export function peerName(aor: string, myAor?: string): string {
  const key = peerKey(aor);
  const [user, domain] = key.split('@');
  const mine = myAor ? peerKey(myAor).split('@')[1] : undefined;
  return domain === undefined || domain === mine ? (user ?? key) : key;
}

export const selectBridge = (s: AppState) => s.bridge;
export const selectConnection = (s: AppState) => s.connection;
export const selectAccount = (s: AppState) => s.account;
export const selectMyAor = (s: AppState) => s.account?.device?.aor ?? s.connection.aor;
export const selectContacts = (s: AppState) => s.contacts;
export const selectSelected = (s: AppState) => s.ui.selected;
export const selectHistoryStamp = (s: AppState) => s.historyStamp;
export const selectView = (s: AppState) => s.ui.view;

/** A channel under way or up: opening another to the same peer would only duplicate it. */
export const isActive = (c: ChannelView | undefined): c is ChannelView =>
  c !== undefined && (c.phase === 'ringing' || c.phase === 'connecting' || c.phase === 'secure');

/** The current (latest) channel with a peer. */
export function latestChannelOf(
  s: Pick<AppState, 'channels' | 'channelIds'>,
  peer: string,
): ChannelView | undefined {
  for (let i = s.channelIds.length - 1; i >= 0; i--) {
    const c = s.channels[s.channelIds[i]!];
    if (c && peerKey(c.peer) === peer) return c;
  }
  return undefined;
}

/** Channel requests waiting for the person's answer. */
export const selectIncoming = (s: AppState): ChannelView[] =>
  s.channelIds
    .map((id) => s.channels[id]!)
    .filter((c) => c.direction === 'incoming' && c.phase === 'ringing');

/** Every transfer with a peer, over all its channels (a resumed transfer moves to a new channel). */
export function transfersWith(s: AppState, peer: string): TransferView[] {
  const channels = new Set(s.channelIds.filter((id) => peerKey(s.channels[id]!.peer) === peer));
  return s.transferIds.map((id) => s.transfers[id]!).filter((t) => channels.has(t.channelId));
}

export type ChannelStatusKind =
  'idle' | 'ringing' | 'incoming' | 'connecting' | 'secure' | 'failed' | 'declined' | 'ended';

export interface ChannelStatus {
  kind: ChannelStatusKind;
  label: string;
}

/** A channel's state in words, as the contact list and the channel panel show it. */
export function channelStatus(c: ChannelView | undefined, name: string): ChannelStatus {
  if (!c) return { kind: 'idle', label: 'Not connected' };
  const why = c.reason ? `: ${c.reason}` : '';
  switch (c.phase) {
    case 'ringing':
      return c.direction === 'incoming'
        ? { kind: 'incoming', label: `${name} wants to open a secure channel` }
        : { kind: 'ringing', label: `Ringing ${name}…` };
    case 'connecting':
      return { kind: 'connecting', label: 'Connecting…' };
    case 'secure':
      return { kind: 'secure', label: 'Secure — verified' };
    case 'failed':
      return { kind: 'failed', label: `Failed${why}` };
    case 'declined':
      return { kind: 'declined', label: c.direction === 'outgoing' ? `Declined by ${name}` : 'You declined' };
    case 'ended':
      return { kind: 'ended', label: `Ended${why}` };
    default:
      return { kind: 'idle', label: String(c.phase) };
  }
}

/** Contacts whose user name (or address) contains the query, by name (rows never jump on presence). */
export function filterContacts(contacts: ContactView[], query: string): ContactView[] {
  const q = query.trim().toLowerCase();
  return contacts
    .filter((c) => q === '' || c.user.toLowerCase().includes(q) || peerKey(c.aor).includes(q))
    .sort((a, b) => a.user.localeCompare(b.user));
}
