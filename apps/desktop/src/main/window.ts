/**
 * The app window's settings and the rules every web contents lives by (Electron security checklist
 * items 2–4, 6, 8–14): the page is sandboxed, isolated from the preload, and can neither navigate
 * away from the app origin, open windows, embed webviews nor obtain permissions.
 */
import type { BrowserWindowConstructorOptions } from 'electron';
import { hasOrigin } from './protocol.js';

export function createWindowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    title: 'Tsunagu',
    width: 1040,
    height: 720,
    minWidth: 640,
    minHeight: 480,
    // Shown on 'ready-to-show', so the window never flashes empty.
    show: false,
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath,
      // Stated although they are the defaults: a unit test holds them in place.
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
      // A file dropped outside the drop zone must not navigate the window to file://.
      navigateOnDragDrop: false,
      enableWebSQL: false,
    },
  };
}

interface NavigationEvent {
  readonly url: string;
  preventDefault(): void;
}

/** The part of `WebContents` the hardening touches (fakes implement just this). */
export interface HardenableContents {
  on(event: 'will-navigate' | 'will-frame-navigate', listener: (event: NavigationEvent) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
  readonly session: {
    setPermissionRequestHandler(
      handler: (contents: unknown, permission: string, callback: (granted: boolean) => void) => void,
    ): void;
    setPermissionCheckHandler(handler: (contents: unknown, permission: string) => boolean): void;
  };
}

/** Only `https:` URLs leave the app, and only as the parsed, re-serialised URL (no credentials). */
export function externalUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && u.username === '' && u.password === '' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/** What the page may ask for: notifications. Nothing else (camera, geolocation, clipboard-read…). */
export const isPermissionAllowed = (permission: string): boolean => permission === 'notifications';

export function hardenWebContents(
  contents: HardenableContents,
  appOrigin: string,
  openExternal: (url: string) => Promise<void>,
): void {
  const stayInApp = (event: NavigationEvent) => {
    if (!hasOrigin(event.url, appOrigin)) event.preventDefault();
  };
  contents.on('will-navigate', stayInApp);
  contents.on('will-frame-navigate', stayInApp);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    const external = externalUrl(url);
    if (external !== undefined) openExternal(external).catch(() => undefined);
    return { action: 'deny' };
  });
  contents.session.setPermissionRequestHandler((_contents, permission, callback) =>
    callback(isPermissionAllowed(permission)),
  );
  contents.session.setPermissionCheckHandler((_contents, permission) => isPermissionAllowed(permission));
}
