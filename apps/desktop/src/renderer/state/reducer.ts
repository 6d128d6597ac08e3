import type { Snapshot, TerminalEvent, TransferState, TransferView } from '@tsunagu/protocol';
import type { AppState } from './store';

/** Pure functions from the terminal's snapshot and events to the next state. */

const FINAL: ReadonlySet<TransferState> = new Set(['done', 'failed', 'cancelled', 'declined']);

const isFinal = (state: TransferState): boolean => FINAL.has(state);

function byId<T extends { id: string }>(items: T[]): { map: Record<string, T>; ids: string[] } {
  const map: Record<string, T> = {};
  for (const item of items) map[item.id] = item;
  return { map, ids: Object.keys(map) };
}

export function applySnapshot(state: AppState, snap: Snapshot): AppState {
  const channels = byId(snap.channels);
  const transfers = byId(snap.transfers);
  return {
    ...state,
    synced: true,
    syncError: undefined,
    seq: snap.seq,
    account: snap.account,
    connection: snap.connection,
    contacts: snap.contacts,
    channels: channels.map,
    channelIds: channels.ids,
    transfers: transfers.map,
    transferIds: transfers.ids,
    historyStamp: state.historyStamp + 1,
  };
}

export function applyEvent(state: AppState, event: TerminalEvent): AppState {
  const next = { ...state, seq: event.seq };
  switch (event.type) {
    case 'account':
      return { ...next, account: event.data };
    case 'connection':
      return { ...next, connection: event.data };
    case 'contacts':
      return { ...next, contacts: event.data };
    case 'channel': {
      const c = event.data;
      return {
        ...next,
        channels: { ...state.channels, [c.id]: c },
        channelIds: c.id in state.channels ? state.channelIds : [...state.channelIds, c.id],
      };
    }
    case 'transfer': {
      const t: TransferView = event.data;
      const before = state.transfers[t.id];
      const finished = isFinal(t.state) && !(before && isFinal(before.state));
      return {
        ...next,
        transfers: { ...state.transfers, [t.id]: t },
        transferIds: before ? state.transferIds : [...state.transferIds, t.id],
        historyStamp: state.historyStamp + (finished ? 1 : 0),
      };
    }
    default:
      return next; // an event type from a newer terminal: ignore it, keep the sequence
  }
}
