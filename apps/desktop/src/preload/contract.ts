import type { TerminalApi } from '@tsunagu/protocol';

/**
 * What main and preload agree on, and what the renderer sees as `window.tsunagu` in Electron. The
 * preload exposes exactly this object through `contextBridge` — typed functions only, never
 * `ipcRenderer` itself or a generic send. Types only here (no value import of electron), so the
 * renderer may import it.
 */
export interface DesktopBridge extends TerminalApi {
  readonly host: 'electron';
  /** The native open dialog; absolute paths, empty when the person cancels. */
  pickFiles(kind: 'files' | 'folder'): Promise<string[]>;
  /** The local path of a file or folder dropped from the OS (`webUtils.getPathForFile`); '' if none. */
  pathForFile(file: File): string;
  /** Reveals a received file in the OS file manager (only paths the terminal itself wrote). */
  showInFolder(path: string): Promise<void>;
  /** `tsunagu://join?…` links the OS handed to the app (deep links), for the join screen. */
  onJoinLink(listener: (link: string) => void): () => void;
}

/** IPC channel names; main accepts nothing else. */
export const IPC = {
  call: 'tsunagu:call',
  event: 'tsunagu:event',
  pickFiles: 'tsunagu:pick-files',
  showInFolder: 'tsunagu:show-in-folder',
  joinLink: 'tsunagu:join-link',
} as const;

/**
 * How main answers every `invoke`: Electron keeps only an Error's message across IPC (and
 * `contextBridge`), so failures travel as values and the preload turns them back into errors.
 */
export type IpcReply<T = unknown> =
  { ok: true; result: T } | { ok: false; error: { code: string; message: string } };
