import type { TerminalApi } from '@tsunagu/protocol';

/**
 * The renderer's view of its host. Components and the store only ever see this interface; whether
 * the terminal sits behind Electron IPC or the daemon's WebSocket is decided once, in `createBridge`.
 */

/** The link between this page and the terminal (always `open` in Electron). */
export type BridgeStatus =
  | { state: 'connecting' }
  | { state: 'open' }
  /** The connection dropped; the bridge is retrying on its own. */
  | { state: 'reconnecting'; reason: string }
  /** Web only: there is no access token, or the daemon refused it; a new link is needed. */
  | { state: 'needs-access'; reason: 'missing' | 'rejected' };

/** A file, with its path relative to what was dropped or picked (`photos/2024/a.jpg`). */
export interface DroppedFile {
  file: File;
  path: string;
}

/** One top-level thing dropped on or picked in the page: a file or a folder. */
export interface DroppedItem {
  /** The top-level name, the first segment of every path in `files()`. */
  name: string;
  /** The browser's File for the item itself (a dropped folder has one too); Electron maps it to a path. */
  file?: File;
  /** Every file inside, read lazily (walking a dropped folder is only needed where files are uploaded). */
  files(): Promise<DroppedFile[]>;
}

/** Upload progress of dropped files on the web host, before the transfers themselves start. */
export interface UploadProgress {
  files: number;
  filesDone: number;
  bytes: number;
  bytesDone: number;
}

export interface Bridge extends TerminalApi {
  readonly host: 'electron' | 'web';
  readonly status: BridgeStatus;
  onStatus(listener: (status: BridgeStatus) => void): () => void;
  /** Sends dropped or picked files over a secure channel; resolves with the transfer ids. */
  sendDropped(
    channelId: string,
    items: DroppedItem[],
    onProgress?: (progress: UploadProgress) => void,
  ): Promise<string[]>;
  /** The native file dialog (Electron); absolute paths for `transfer.send`, empty when cancelled. */
  pickFiles?(kind: 'files' | 'folder'): Promise<string[]>;
  /** Reveals a received file in the OS file manager (Electron). */
  showInFolder?(path: string): Promise<void>;
  /** `tsunagu://join?…` deep links handed to the app by the OS (Electron). */
  onJoinLink?(listener: (link: string) => void): () => void;
  /** Web: use this access token (pasted by the person) and connect again. */
  useAccessToken?(token: string): void;
  /** Stops the bridge (tests, page unload). */
  close(): void;
}

/** A command's failure as the terminal reported it (`message` is meant for the person). */
export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The message to show for a failed command, verbatim when it came from the terminal. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return String(e);
}
