import type { Commands } from '@tsunagu/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { DesktopBridge } from '../../preload/contract';
import { createElectronBridge } from './electron';

function desktop(over: Partial<DesktopBridge> = {}): DesktopBridge {
  return {
    host: 'electron',
    call: vi.fn(async () => ({ transferIds: ['t1', 't2'] })) as unknown as DesktopBridge['call'],
    subscribe: vi.fn(() => () => undefined),
    pickFiles: vi.fn(async () => []),
    pathForFile: vi.fn((f: File) => (f.name === 'web-only' ? '' : `/home/alice/${f.name}`)),
    showInFolder: vi.fn(async () => undefined),
    onJoinLink: vi.fn(() => () => undefined),
    ...over,
  };
}

describe('electron bridge', () => {
  it('sends dropped files and folders by their local paths, no upload', async () => {
    const d = desktop();
    const bridge = createElectronBridge(d);
    const item = (name: string) => ({ name, file: new File([], name), files: vi.fn(async () => []) });
    const folder = item('photos');
    const ids = await bridge.sendDropped('c1', [item('a.txt'), folder, item('web-only')]);
    expect(ids).toEqual(['t1', 't2']);
    expect(d.call).toHaveBeenCalledWith('transfer.send', {
      channelId: 'c1',
      paths: ['/home/alice/a.txt', '/home/alice/photos'],
    } satisfies Commands['transfer.send']['params']);
    expect(folder.files).not.toHaveBeenCalled(); // never walks a folder it can name
  });

  it('shows the terminal error, not the IPC wrapping', async () => {
    const d = desktop({
      call: vi.fn(async () => {
        throw new Error("Error invoking remote method 'tsunagu:call': CommandError: bob is offline");
      }) as unknown as DesktopBridge['call'],
    });
    await expect(createElectronBridge(d).call('channel.open', { user: 'bob' })).rejects.toThrow(
      /^bob is offline$/,
    );
  });

  it('is always open and exposes the native extras', () => {
    const bridge = createElectronBridge(desktop());
    expect(bridge.status).toEqual({ state: 'open' });
    expect(bridge.host).toBe('electron');
    expect(typeof bridge.pickFiles).toBe('function');
    expect(typeof bridge.showInFolder).toBe('function');
    expect(bridge.useAccessToken).toBeUndefined();
  });
});
