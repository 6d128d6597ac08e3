import { errorMessage, type Bridge, type DroppedItem } from '../bridge/types';
import type { AppStore, UploadState, View } from './store';
import { isActive, latestChannelOf, peerKey } from './selectors';

/**
 * What the page itself decides: which peer is showing, and the commands that need a little local
 * bookkeeping around them. The terminal's own state still changes only through its events.
 */

/** Shows a contact's channel, opening a new one unless one is already under way or up. */
export async function selectContact(
  bridge: Bridge,
  store: AppStore,
  user: string,
  aor: string,
): Promise<void> {
  const peer = peerKey(aor);
  const current = latestChannelOf(store.getState(), peer);
  store.setState((s) => ({ ui: { ...s.ui, selected: peer, view: 'channel' } }));
  if (isActive(current)) return;
  store.setState((s) => ({ ui: { ...s.ui, opening: { peer } } }));
  try {
    await bridge.call('channel.open', { user });
    store.setState((s) => (s.ui.opening?.peer === peer ? { ui: { ...s.ui, opening: undefined } } : {}));
  } catch (e) {
    store.setState((s) => ({ ui: { ...s.ui, opening: { peer, error: errorMessage(e) } } }));
  }
}

/** Shows a peer's channel panel without opening anything (an accepted request, say). */
export function showPeer(store: AppStore, peer: string): void {
  store.setState((s) => ({ ui: { ...s.ui, selected: peer, view: 'channel' } }));
}

export function showView(store: AppStore, view: View): void {
  store.setState((s) => ({ ui: { ...s.ui, view } }));
}

function setUpload(store: AppStore, channelId: string, upload: UploadState | undefined): void {
  store.setState((s) => {
    const uploads = { ...s.ui.uploads };
    if (upload) uploads[channelId] = upload;
    else delete uploads[channelId];
    return { ui: { ...s.ui, uploads } };
  });
}

/** Sends dropped or picked files, showing "preparing…" (web uploads) and any failure on the channel. */
export async function sendItems(
  bridge: Bridge,
  store: AppStore,
  channelId: string,
  items: DroppedItem[],
): Promise<void> {
  if (items.length === 0) return;
  setUpload(store, channelId, {});
  try {
    await bridge.sendDropped(channelId, items, (progress) => setUpload(store, channelId, { progress }));
    setUpload(store, channelId, undefined);
  } catch (e) {
    setUpload(store, channelId, { error: errorMessage(e) });
  }
}

/** Sends files the native dialog picked (Electron). */
export async function sendPicked(
  bridge: Bridge,
  store: AppStore,
  channelId: string,
  paths: string[],
): Promise<void> {
  if (paths.length === 0) return; // the person cancelled the dialog
  setUpload(store, channelId, undefined); // clears an earlier failure
  try {
    await bridge.call('transfer.send', { channelId, paths });
  } catch (e) {
    setUpload(store, channelId, { error: errorMessage(e) });
  }
}

export function dismissUploadError(store: AppStore, channelId: string): void {
  setUpload(store, channelId, undefined);
}
