import type { AccountView, ChannelView, ConnectionView, ContactView, TransferView } from '@tsunagu/protocol';
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { BridgeStatus, UploadProgress } from '../bridge/types';

/**
 * The renderer's state. Everything but `bridge` and `ui` is a copy of the terminal's state, changed
 * only by its snapshot and events (reducer.ts); `ui` is what this page alone decides (which peer is
 * showing, uploads in progress).
 */
export interface AppState {
  bridge: BridgeStatus;
  /** True once a snapshot has been applied. */
  synced: boolean;
  /** Why the last snapshot could not be fetched (cleared by the next one). */
  syncError: string | undefined;
  /** The last event applied. */
  seq: number;
  account: AccountView | undefined;
  connection: ConnectionView;
  contacts: ContactView[];
  channels: Record<string, ChannelView>;
  /** Channel ids in the order they appeared (the latest channel with a peer is the current one). */
  channelIds: string[];
  transfers: Record<string, TransferView>;
  transferIds: string[];
  /** Bumped whenever a transfer reaches a final state or a snapshot arrives: the history refetches. */
  historyStamp: number;
  ui: UiState;
}

export interface UploadState {
  progress?: UploadProgress;
  error?: string;
}

export type View = 'channel' | 'history' | 'settings';

export interface UiState {
  view: View;
  /** The peer key (`bob@example.org`, see peerKey) whose channel panel is showing. */
  selected: string | undefined;
  /** A `channel.open` in flight, or its refusal, for a peer key. */
  opening: { peer: string; error?: string } | undefined;
  /** Files being prepared (web uploads) per channel id, before their transfers appear. */
  uploads: Record<string, UploadState>;
}

export type AppStore = StoreApi<AppState>;

export function initialState(bridge: BridgeStatus = { state: 'connecting' }): AppState {
  return {
    bridge,
    synced: false,
    syncError: undefined,
    seq: 0,
    account: undefined,
    connection: { state: 'connecting' },
    contacts: [],
    channels: {},
    channelIds: [],
    transfers: {},
    transferIds: [],
    historyStamp: 0,
    ui: { view: 'channel', selected: undefined, opening: undefined, uploads: {} },
  };
}

export function createAppStore(bridge?: BridgeStatus): AppStore {
  return createStore<AppState>()(() => initialState(bridge));
}
