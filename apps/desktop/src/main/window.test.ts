// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { createWindowOptions, externalUrl, hardenWebContents, type HardenableContents } from './window.js';

type Listener = (event: { url: string; preventDefault(): void }) => void;

/** Records what the hardening registers and lets a test fire it. */
class FakeContents implements HardenableContents {
  readonly listeners = new Map<string, Listener>();
  openHandler: ((details: { url: string }) => { action: 'deny' }) | undefined;
  requestHandler: ((c: unknown, p: string, cb: (granted: boolean) => void) => void) | undefined;
  checkHandler: ((c: unknown, p: string) => boolean) | undefined;
  readonly opened: string[] = [];

  on(event: string, listener: Listener): this {
    this.listeners.set(event, listener);
    return this;
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void {
    this.openHandler = handler;
  }
  readonly session = {
    setPermissionRequestHandler: (h: NonNullable<FakeContents['requestHandler']>) => {
      this.requestHandler = h;
    },
    setPermissionCheckHandler: (h: NonNullable<FakeContents['checkHandler']>) => {
      this.checkHandler = h;
    },
  };

  /** Fires a navigation event; true when the hardening prevented it. */
  navigate(event: 'will-navigate' | 'will-frame-navigate', url: string): boolean {
    let prevented = false;
    this.listeners.get(event)?.({ url, preventDefault: () => (prevented = true) });
    return prevented;
  }
}

function hardened() {
  const contents = new FakeContents();
  hardenWebContents(contents, 'app://tsunagu', async (url) => {
    contents.opened.push(url);
  });
  return contents;
}

describe('createWindowOptions', () => {
  it('states every security flag and the preload', () => {
    const { webPreferences, show } = createWindowOptions('/app/out/preload/index.cjs');
    expect(webPreferences).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
    });
    expect(webPreferences).not.toHaveProperty('enableBlinkFeatures');
    expect(show).toBe(false);
  });
});

describe('hardenWebContents', () => {
  it.each(['will-navigate', 'will-frame-navigate'] as const)('%s: stays on the app origin', (event) => {
    const c = hardened();
    expect(c.navigate(event, 'app://tsunagu/index.html#contacts')).toBe(false);
    for (const url of [
      'https://evil.example/',
      'app://other/index.html',
      'app://tsunagu@evil/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
    ]) {
      expect(c.navigate(event, url), url).toBe(true);
    }
  });

  it('denies every new window and opens only parsed https: URLs outside', async () => {
    const c = hardened();
    const open = (url: string) => c.openHandler?.({ url });
    expect(open('https://tsunagu.example/help?x=1')).toEqual({ action: 'deny' });
    for (const url of [
      'http://plain.example/',
      'javascript:alert(1)',
      'file:///etc/passwd',
      'app://tsunagu/',
      'https://user:pw@host/',
      'smb://host/share',
    ]) {
      expect(open(url), url).toEqual({ action: 'deny' });
    }
    await Promise.resolve();
    expect(c.opened).toEqual(['https://tsunagu.example/help?x=1']);
  });

  it('prevents webviews from attaching', () => {
    const c = hardened();
    let prevented = false;
    c.listeners.get('will-attach-webview')?.({ url: '', preventDefault: () => (prevented = true) });
    expect(prevented).toBe(true);
  });

  it('grants notifications and nothing else', () => {
    const c = hardened();
    const asked = (permission: string) => {
      let granted: boolean | undefined;
      c.requestHandler?.(undefined, permission, (g) => (granted = g));
      return granted;
    };
    expect(asked('notifications')).toBe(true);
    for (const p of ['media', 'geolocation', 'clipboard-read', 'openExternal', 'fileSystem', 'unknown']) {
      expect(asked(p), p).toBe(false);
      expect(c.checkHandler?.(undefined, p), p).toBe(false);
    }
    expect(c.checkHandler?.(undefined, 'notifications')).toBe(true);
  });
});

describe('externalUrl', () => {
  it('re-serialises https URLs and refuses everything else', () => {
    expect(externalUrl('HTTPS://Example.ORG/a b')).toBe('https://example.org/a%20b');
    expect(externalUrl('http://example.org/')).toBeUndefined();
    expect(externalUrl('javascript:alert(1)')).toBeUndefined();
    expect(externalUrl('')).toBeUndefined();
  });
});
