import type { DesktopBridge } from '../../preload/contract';
import { storeAccessToken, takeAccessToken } from './access';
import { createElectronBridge } from './electron';
import type { Bridge } from './types';
import { createWebBridge } from './web';

export type { Bridge, BridgeStatus, DroppedFile, DroppedItem, UploadProgress } from './types';

declare global {
  interface Window {
    /** Exposed by the Electron preload; absent in a browser. */
    tsunagu?: DesktopBridge;
  }
}

/** Picks the host once, at boot: Electron when the preload is there, else the daemon's web GUI. */
export function createBridge(win: Window = window): Bridge {
  if (win.tsunagu) return createElectronBridge(win.tsunagu);
  const bridge = createWebBridge({
    origin: win.location.origin,
    token: takeAccessToken(win),
    onToken: (token) => storeAccessToken(win, token),
  });
  // A new link pasted into the address bar of this tab only changes the fragment: no reload.
  win.addEventListener('hashchange', () => {
    if (!/[#&]token=/.test(win.location.hash)) return;
    const token = takeAccessToken(win);
    if (token) bridge.useAccessToken?.(token);
  });
  return bridge;
}
