// @vitest-environment node
import type { OpenDialogOptions } from 'electron';
import { CommandError, type CommandName, type Commands, type TerminalEvent } from '@tsunagu/protocol';
import { describe, expect, it } from 'vitest';
import { IPC } from '../preload/contract.js';
import {
  appSender,
  handleValidated,
  isTrustedSender,
  registerTerminalIpc,
  type HostLike,
  type InvokeEvent,
  type IpcMainLike,
} from './ipc.js';

type Listener = (event: InvokeEvent, ...args: unknown[]) => unknown;

class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** What the renderer's `invoke` would resolve with, sent from `frame`. */
  invoke(channel: string, frame: InvokeEvent['senderFrame'], ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`no handler for ${channel}`);
    return Promise.resolve(handler({ senderFrame: frame }, ...args));
  }
}

const APP_FRAME = { url: 'app://tsunagu/index.html', parent: null };

class FakeHost implements HostLike {
  readonly calls: Array<{ command: CommandName; params: unknown }> = [];
  readonly listeners = new Set<(event: TerminalEvent) => void>();
  received = new Set(['/home/bob/Downloads/report.pdf']);
  fail: Error | undefined;

  async call<N extends CommandName>(
    command: N,
    params: Commands[N]['params'],
  ): Promise<Commands[N]['result']> {
    this.calls.push({ command, params });
    if (this.fail) throw this.fail;
    return { channelId: 'ch1' } as Commands[N]['result'];
  }
  subscribe(listener: (event: TerminalEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  isReceivedFile(path: string): boolean {
    return this.received.has(path);
  }
  emit(event: TerminalEvent): void {
    for (const l of this.listeners) l(event);
  }
}

function setup() {
  const ipcMain = new FakeIpcMain();
  const host = new FakeHost();
  const sent: Array<[string, unknown]> = [];
  const dialogs: OpenDialogOptions[] = [];
  const shown: string[] = [];
  let pick = { canceled: false, filePaths: ['/home/alice/a.txt', '/home/alice/b.txt'] };
  const stop = registerTerminalIpc({
    ipcMain,
    host,
    send: (channel, payload) => sent.push([channel, payload]),
    dialog: {
      showOpenDialog: async (options) => {
        dialogs.push(options);
        return pick;
      },
    },
    shell: { showItemInFolder: (path) => void shown.push(path) },
  });
  const call = (payload: unknown, frame: InvokeEvent['senderFrame'] = APP_FRAME) =>
    ipcMain.invoke(IPC.call, frame, payload);
  return { ipcMain, host, sent, dialogs, shown, stop, call, setPick: (p: typeof pick) => (pick = p) };
}

describe('sender validation', () => {
  it('accepts only the top frame of the app origin', () => {
    expect(isTrustedSender({ senderFrame: APP_FRAME })).toBe(true);
    expect(isTrustedSender({ senderFrame: null })).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: 'app://tsunagu/index.html', parent: APP_FRAME } })).toBe(
      false,
    );
    expect(isTrustedSender({ senderFrame: { url: 'https://evil.example/', parent: null } })).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: 'app://evil/index.html', parent: null } })).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: 'file:///index.html', parent: null } })).toBe(false);
  });

  it('refuses an untrusted sender before the handler runs', async () => {
    const ipcMain = new FakeIpcMain();
    let ran = 0;
    handleValidated(ipcMain, 'ch', () => ++ran);
    for (const frame of [
      null,
      { url: 'app://tsunagu/', parent: APP_FRAME },
      { url: 'https://x.example/', parent: null },
    ]) {
      expect(await ipcMain.invoke('ch', frame)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
    expect(ran).toBe(0);
    expect(await ipcMain.invoke('ch', APP_FRAME)).toEqual({ ok: true, result: 1 });
  });

  it('turns a thrown error into a reply value, keeping its code', async () => {
    const ipcMain = new FakeIpcMain();
    handleValidated(ipcMain, 'coded', () => {
      throw new CommandError('not-found', 'no such user');
    });
    handleValidated(ipcMain, 'plain', async () => {
      throw new Error('disk on fire');
    });
    expect(await ipcMain.invoke('coded', APP_FRAME)).toEqual({
      ok: false,
      error: { code: 'not-found', message: 'no such user' },
    });
    expect(await ipcMain.invoke('plain', APP_FRAME)).toEqual({
      ok: false,
      error: { code: 'internal', message: 'disk on fire' },
    });
  });
});

describe('IPC.call', () => {
  it('passes a valid command to the host', async () => {
    const { host, call } = setup();
    expect(await call({ command: 'channel.open', params: { user: 'bob' } })).toEqual({
      ok: true,
      result: { channelId: 'ch1' },
    });
    expect(host.calls).toEqual([{ command: 'channel.open', params: { user: 'bob' } }]);
  });

  it('answers malformed calls with an error value and never reaches the host', async () => {
    const { host, call } = setup();
    const bad: Array<[unknown, string]> = [
      [undefined, 'unknown-command'],
      ['snapshot', 'unknown-command'],
      [{ command: 'fs.delete', params: {} }, 'unknown-command'],
      [{ command: 'channel.open', params: { user: '../../etc' } }, 'bad-params'],
      [{ command: 'channel.open', params: [] }, 'bad-request'],
      [{ command: 'transfer.send', params: { channelId: 'c1', paths: [] } }, 'bad-params'],
      [{ command: 'account.join', params: { link: 'https://evil.example/' } }, 'bad-params'],
    ];
    for (const [payload, code] of bad) {
      expect(await call(payload), JSON.stringify(payload)).toMatchObject({ ok: false, error: { code } });
    }
    expect(host.calls).toEqual([]);
  });

  it('reports the host failing as an error value', async () => {
    const { host, call } = setup();
    host.fail = new CommandError('unreachable', 'bob is offline');
    expect(await call({ command: 'channel.open', params: { user: 'bob' } })).toEqual({
      ok: false,
      error: { code: 'unreachable', message: 'bob is offline' },
    });
  });

  it('is refused to a sub-frame', async () => {
    const { host, call } = setup();
    const reply = await call(
      { command: 'snapshot', params: {} },
      { url: 'app://tsunagu/', parent: APP_FRAME },
    );
    expect(reply).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(host.calls).toEqual([]);
  });
});

describe('IPC.pickFiles', () => {
  it('opens the dialog for files or a folder and returns the paths', async () => {
    const { ipcMain, dialogs, setPick } = setup();
    expect(await ipcMain.invoke(IPC.pickFiles, APP_FRAME, 'files')).toEqual({
      ok: true,
      result: ['/home/alice/a.txt', '/home/alice/b.txt'],
    });
    expect(dialogs[0]?.properties).toEqual(['openFile', 'multiSelections']);
    setPick({ canceled: true, filePaths: ['/ignored'] });
    expect(await ipcMain.invoke(IPC.pickFiles, APP_FRAME, 'folder')).toEqual({ ok: true, result: [] });
    expect(dialogs[1]?.properties).toEqual(['openDirectory']);
  });

  it('refuses anything but "files" or "folder"', async () => {
    const { ipcMain, dialogs } = setup();
    for (const kind of [undefined, 'openFile', { kind: 'files' }]) {
      expect(await ipcMain.invoke(IPC.pickFiles, APP_FRAME, kind)).toMatchObject({
        ok: false,
        error: { code: 'bad-params' },
      });
    }
    expect(dialogs).toEqual([]);
  });
});

describe('IPC.showInFolder', () => {
  it('reveals a file the terminal received', async () => {
    const { ipcMain, shown } = setup();
    expect(await ipcMain.invoke(IPC.showInFolder, APP_FRAME, '/home/bob/Downloads/report.pdf')).toEqual({
      ok: true,
      result: undefined,
    });
    expect(shown).toEqual(['/home/bob/Downloads/report.pdf']);
  });

  it('refuses paths the terminal did not write, and malformed ones', async () => {
    const { ipcMain, shown } = setup();
    for (const [path, code] of [
      ['/home/bob/.ssh/id_ed25519', 'not-received'],
      ['/home/bob/Downloads', 'not-received'],
      ['report.pdf', 'bad-params'],
      ['', 'bad-params'],
      ['/home/bob/Downloads/report.pdf\0', 'bad-params'],
      [42, 'bad-params'],
      [`/${'a'.repeat(5000)}`, 'bad-params'],
    ] as const) {
      expect(await ipcMain.invoke(IPC.showInFolder, APP_FRAME, path)).toMatchObject({
        ok: false,
        error: { code },
      });
    }
    expect(shown).toEqual([]);
  });
});

describe('events and teardown', () => {
  const event: TerminalEvent = { seq: 7, type: 'contacts', data: [] };

  it('pushes every host event on IPC.event', () => {
    const { host, sent } = setup();
    host.emit(event);
    expect(sent).toEqual([[IPC.event, event]]);
  });

  it('stops serving and stops listening when disposed', () => {
    const { host, ipcMain, sent, stop } = setup();
    stop();
    expect(ipcMain.handlers.size).toBe(0);
    host.emit(event);
    expect(sent).toEqual([]);
  });

  it('sends to the window only while it shows the app', () => {
    const got: unknown[] = [];
    let url = 'app://tsunagu/index.html';
    let destroyed = false;
    const contents = {
      isDestroyed: () => destroyed,
      getURL: () => url,
      send: (...args: unknown[]) => void got.push(args),
    };
    let current: typeof contents | undefined = undefined;
    const send = appSender(() => current);
    send(IPC.event, 1);
    current = contents;
    send(IPC.event, 2);
    url = 'https://evil.example/';
    send(IPC.event, 3);
    url = 'app://tsunagu/';
    destroyed = true;
    send(IPC.event, 4);
    expect(got).toEqual([[IPC.event, 2]]);
  });
});
