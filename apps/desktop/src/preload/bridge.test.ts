// @vitest-environment node
import type { IpcRendererEvent } from 'electron';
import type { TerminalEvent } from '@tsunagu/protocol';
import { describe, expect, it } from 'vitest';
import { createDesktopBridge, type IpcRendererLike } from './bridge.js';
import { IPC, type IpcReply } from './contract.js';

type Listener = (event: IpcRendererEvent, ...args: unknown[]) => void;

class FakeIpcRenderer implements IpcRendererLike {
  readonly invoked: Array<[string, unknown[]]> = [];
  readonly listeners = new Map<string, Set<Listener>>();
  reply: IpcReply = { ok: true, result: null };

  async invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push([channel, args]);
    return this.reply;
  }
  on(channel: string, listener: Listener): this {
    if (!this.listeners.has(channel)) this.listeners.set(channel, new Set());
    this.listeners.get(channel)?.add(listener);
    return this;
  }
  removeListener(channel: string, listener: Listener): this {
    this.listeners.get(channel)?.delete(listener);
    return this;
  }
  /** A message from main, with the event object Electron passes first. */
  emit(channel: string, payload: unknown): void {
    const event = { sender: this, ports: [] } as unknown as IpcRendererEvent;
    for (const l of this.listeners.get(channel) ?? []) l(event, payload);
  }
}

const file = {} as File;

function setup() {
  const ipc = new FakeIpcRenderer();
  const bridge = createDesktopBridge(ipc, { getPathForFile: (f) => (f === file ? '/home/alice/a.txt' : '') });
  return { ipc, bridge };
}

describe('createDesktopBridge', () => {
  it('exposes exactly the DesktopBridge members', () => {
    expect(Object.keys(setup().bridge).sort()).toEqual([
      'call',
      'host',
      'onJoinLink',
      'pathForFile',
      'pickFiles',
      'showInFolder',
      'subscribe',
    ]);
    expect(setup().bridge.host).toBe('electron');
  });

  it('invokes IPC.call with { command, params } and resolves with the result', async () => {
    const { ipc, bridge } = setup();
    ipc.reply = { ok: true, result: { channelId: 'ch1' } };
    await expect(bridge.call('channel.open', { user: 'bob' })).resolves.toEqual({ channelId: 'ch1' });
    expect(ipc.invoked).toEqual([[IPC.call, [{ command: 'channel.open', params: { user: 'bob' } }]]]);
  });

  it('rethrows an error reply as an Error with its code', async () => {
    const { ipc, bridge } = setup();
    ipc.reply = { ok: false, error: { code: 'bad-params', message: '"user" is missing or malformed' } };
    const error = await bridge.call('channel.open', { user: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: 'bad-params', message: '"user" is missing or malformed' });
    await expect(bridge.showInFolder('/etc/passwd')).rejects.toMatchObject({ code: 'bad-params' });
  });

  it('passes events on without the IpcRendererEvent, until unsubscribed', () => {
    const { ipc, bridge } = setup();
    const got: unknown[][] = [];
    const unsubscribe = bridge.subscribe((...args) => got.push(args));
    const event: TerminalEvent = { seq: 1, type: 'contacts', data: [] };
    ipc.emit(IPC.event, event);
    unsubscribe();
    ipc.emit(IPC.event, { ...event, seq: 2 });
    expect(got).toEqual([[event]]);
    expect(ipc.listeners.get(IPC.event)?.size).toBe(0);
  });

  it('picks files, reveals a file and maps dropped files to paths', async () => {
    const { ipc, bridge } = setup();
    ipc.reply = { ok: true, result: ['/home/alice/a.txt'] };
    await expect(bridge.pickFiles('files')).resolves.toEqual(['/home/alice/a.txt']);
    ipc.reply = { ok: true, result: undefined };
    await expect(bridge.showInFolder('/home/alice/Downloads/x.pdf')).resolves.toBeUndefined();
    expect(ipc.invoked).toEqual([
      [IPC.pickFiles, ['files']],
      [IPC.showInFolder, ['/home/alice/Downloads/x.pdf']],
    ]);
    expect(bridge.pathForFile(file)).toBe('/home/alice/a.txt');
    expect(bridge.pathForFile({} as File)).toBe('');
  });

  it('keeps a join link that arrived before the page listened, and drops non-strings', () => {
    const { ipc, bridge } = setup();
    ipc.emit(IPC.joinLink, 'tsunagu://join?v=1&early');
    ipc.emit(IPC.joinLink, { not: 'a link' });
    const got: string[] = [];
    const stop = bridge.onJoinLink((link) => got.push(link));
    ipc.emit(IPC.joinLink, 'tsunagu://join?v=1&later');
    stop();
    ipc.emit(IPC.joinLink, 'tsunagu://join?v=1&after-stop');
    expect(got).toEqual(['tsunagu://join?v=1&early', 'tsunagu://join?v=1&later']);
  });
});
