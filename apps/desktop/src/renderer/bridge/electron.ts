import type { DesktopBridge } from '../../preload/contract';
import { BridgeError, errorMessage, type Bridge, type BridgeStatus } from './types';

/**
 * The bridge in Electron: a thin wrapper over what the preload exposes as `window.tsunagu`. Dropped
 * files are real files on this computer, so they are sent by path (no upload).
 */

// Electron wraps an error thrown by an IPC handler as "Error invoking remote method 'ch': Error: msg".
const IPC_PREFIX = /^Error invoking remote method '[^']*': (?:[A-Za-z]*Error: )?/;

function unwrap(e: unknown): BridgeError {
  const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'failed';
  return new BridgeError(code, errorMessage(e).replace(IPC_PREFIX, ''));
}

export function createElectronBridge(desktop: DesktopBridge): Bridge {
  const status: BridgeStatus = { state: 'open' };
  const call: Bridge['call'] = (command, params) =>
    desktop.call(command, params).catch((e: unknown) => {
      throw unwrap(e);
    });
  return {
    host: 'electron',
    status,
    onStatus: () => () => undefined,
    call,
    subscribe: (listener) => desktop.subscribe(listener),
    async sendDropped(channelId, items) {
      const paths = items.flatMap((item) => (item.file ? [desktop.pathForFile(item.file)] : []));
      const usable = paths.filter((p) => p !== '');
      if (usable.length === 0) throw new BridgeError('no-path', 'these items are not files on this computer');
      const { transferIds } = await call('transfer.send', { channelId, paths: usable });
      return transferIds;
    },
    pickFiles: (kind) => desktop.pickFiles(kind),
    showInFolder: (path) => desktop.showInFolder(path),
    onJoinLink: (listener) => desktop.onJoinLink(listener),
    close: () => undefined,
  };
}
