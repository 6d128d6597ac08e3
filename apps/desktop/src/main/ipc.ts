/**
 * The terminal's API served over IPC to the app window. Every handler goes through one wrapper that
 * checks who is asking (checklist item 17: the top frame of a page on the app origin) and turns every
 * outcome into an `IpcReply` value; every argument is validated before it reaches the terminal.
 */
import { isAbsolute } from 'node:path';
import type { OpenDialogOptions } from 'electron';
import { CommandError, parseCommand, type TerminalApi } from '@tsunagu/protocol';
import { IPC, type IpcReply } from '../preload/contract.js';
import { isAppUrl } from './protocol.js';

/** What the main process needs of the terminal; `TerminalHost` from @tsunagu/terminal is one. */
export interface HostLike extends TerminalApi {
  /** True when `path` is a file this terminal wrote (a verified received file). */
  isReceivedFile(path: string): boolean;
}

export interface SenderFrame {
  readonly url: string;
  readonly parent: unknown;
}

export interface InvokeEvent {
  readonly senderFrame: SenderFrame | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: InvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface DialogLike {
  showOpenDialog(options: OpenDialogOptions): Promise<{ canceled: boolean; filePaths: string[] }>;
}

export interface ShellLike {
  showItemInFolder(path: string): void;
}

/** The app window's web contents, as far as pushing messages to it goes. */
export interface AppContents {
  isDestroyed(): boolean;
  getURL(): string;
  send(channel: string, ...args: unknown[]): void;
}

export type Send = (channel: string, payload: unknown) => void;

/** A message may come only from the app page itself: not a sub-frame, not another origin, not a dead frame. */
export function isTrustedSender(event: InvokeEvent): boolean {
  const frame = event.senderFrame;
  return frame !== null && frame.parent === null && isAppUrl(frame.url);
}

function errorReply(e: unknown): IpcReply<never> {
  const code =
    typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'internal';
  const message = e instanceof Error ? e.message : String(e);
  return { ok: false, error: { code, message } };
}

/** `ipcMain.handle` for the app page only; the handler's result or error comes back as an `IpcReply`. */
export function handleValidated(
  ipcMain: IpcMainLike,
  channel: string,
  handler: (...args: unknown[]) => unknown,
): void {
  ipcMain.handle(channel, async (event, ...args): Promise<IpcReply> => {
    if (!isTrustedSender(event)) {
      return { ok: false, error: { code: 'forbidden', message: 'IPC is only served to the app page' } };
    }
    try {
      return { ok: true, result: await handler(...args) };
    } catch (e) {
      return errorReply(e);
    }
  });
}

/** Sends to the app window only, and only while it shows the app (never to a page it was navigated to). */
export function appSender(contents: () => AppContents | undefined): Send {
  return (channel, payload) => {
    const c = contents();
    if (c && !c.isDestroyed() && isAppUrl(c.getURL())) c.send(channel, payload);
  };
}

const MAX_PATH = 4096;

function localPath(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_PATH ||
    value.includes('\0') ||
    !isAbsolute(value)
  ) {
    throw new CommandError('bad-params', 'expected an absolute path');
  }
  return value;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export interface TerminalIpcOptions {
  ipcMain: IpcMainLike;
  host: HostLike;
  /** Pushes to the app window (see `appSender`). */
  send: Send;
  dialog: DialogLike;
  shell: ShellLike;
}

/** Serves the terminal to the app window; returns a function that stops serving it. */
export function registerTerminalIpc({ ipcMain, host, send, dialog, shell }: TerminalIpcOptions): () => void {
  handleValidated(ipcMain, IPC.call, (payload) => {
    const { command, params } = isRecord(payload) ? payload : {};
    const request = parseCommand({ id: 0, command, params });
    return host.call(request.command, request.params);
  });

  handleValidated(ipcMain, IPC.pickFiles, async (kind) => {
    if (kind !== 'files' && kind !== 'folder')
      throw new CommandError('bad-params', 'expected "files" or "folder"');
    const picked = await dialog.showOpenDialog({
      properties: kind === 'files' ? ['openFile', 'multiSelections'] : ['openDirectory'],
    });
    return picked.canceled ? [] : picked.filePaths;
  });

  handleValidated(ipcMain, IPC.showInFolder, (value) => {
    const path = localPath(value);
    // The renderer may only reveal what the terminal itself received, never probe the disk.
    if (!host.isReceivedFile(path))
      throw new CommandError('not-received', 'only received files can be shown');
    shell.showItemInFolder(path);
  });

  const unsubscribe = host.subscribe((event) => send(IPC.event, event));

  return () => {
    unsubscribe();
    for (const channel of [IPC.call, IPC.pickFiles, IPC.showInFolder]) ipcMain.removeHandler(channel);
  };
}
