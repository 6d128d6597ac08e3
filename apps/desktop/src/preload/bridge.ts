/**
 * `window.tsunagu`: the terminal API over IPC, plus the few desktop-only capabilities. Built from the
 * injected `ipcRenderer` and `webUtils` so it is tested with fakes; the page gets typed functions only,
 * never `ipcRenderer` or a channel name.
 */
import type { IpcRendererEvent } from 'electron';
import { IPC, type DesktopBridge, type IpcReply } from './contract.js';

export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): unknown;
}

export interface WebUtilsLike {
  getPathForFile(file: File): string;
}

/**
 * A failed command as an Error carrying the terminal's code. (The renderer has its own error type;
 * `contextBridge` copies an Error into the page by its message only, so no class could cross anyway:
 * the page sees `code` when it calls the bridge directly, as tests do, and its Electron adapter
 * treats a missing code as a generic failure.)
 */
function commandFailure(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { name: 'CommandError', code });
}

async function request<T>(ipc: IpcRendererLike, channel: string, arg: unknown): Promise<T> {
  const reply = (await ipc.invoke(channel, arg)) as IpcReply<T>;
  if (reply.ok) return reply.result;
  throw commandFailure(reply.error.code, reply.error.message);
}

/** Calls `listener` with the message payload only: the page never sees an `IpcRendererEvent`. */
function listen<T>(ipc: IpcRendererLike, channel: string, listener: (payload: T) => void): () => void {
  const wrapped = (_event: IpcRendererEvent, payload: unknown) => listener(payload as T);
  ipc.on(channel, wrapped);
  return () => {
    ipc.removeListener(channel, wrapped);
  };
}

export function createDesktopBridge(ipc: IpcRendererLike, webUtils: WebUtilsLike): DesktopBridge {
  // A link can arrive before the page subscribes (the app was launched by it): keep the latest until then.
  const joinListeners = new Set<(link: string) => void>();
  let pendingLink: string | undefined;
  listen<string>(ipc, IPC.joinLink, (link) => {
    if (typeof link !== 'string') return;
    if (joinListeners.size === 0) pendingLink = link;
    for (const l of joinListeners) l(link);
  });

  return {
    host: 'electron',
    call: (command, params) => request(ipc, IPC.call, { command, params }),
    subscribe: (listener) => listen(ipc, IPC.event, listener),
    pickFiles: (kind) => request<string[]>(ipc, IPC.pickFiles, kind),
    pathForFile: (file) => webUtils.getPathForFile(file),
    showInFolder: async (path) => {
      await request<void>(ipc, IPC.showInFolder, path);
    },
    onJoinLink: (listener) => {
      joinListeners.add(listener);
      if (pendingLink !== undefined) {
        const link = pendingLink;
        pendingLink = undefined;
        listener(link);
      }
      return () => {
        joinListeners.delete(listener);
      };
    },
  };
}
