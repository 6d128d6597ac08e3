import type { TransferView } from '@tsunagu/protocol';
import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { BridgeError } from '../../bridge/types';
import { createFakeBridge, makeSnapshot, type FakeBridge } from '../../bridge/fake';

const bob = { user: 'bob', aor: 'sip:bob@example.org', online: true, devices: [] };
const secure = {
  id: 'c1',
  direction: 'outgoing' as const,
  peer: 'sip:bob@example.org',
  phase: 'secure' as const,
  verificationCode: '042 917',
};
const transfer = (over: Partial<TransferView>): TransferView => ({
  id: 't1',
  channelId: 'c1',
  direction: 'send',
  name: 'report.pdf',
  size: 10 * 1024 * 1024,
  bytesDone: 0,
  rate: 0,
  etaSeconds: null,
  state: 'waiting',
  ...over,
});

async function open(transfers: TransferView[] = [], o: { native?: boolean } = {}) {
  const bridge: FakeBridge = createFakeBridge({
    ...o,
    snapshot: makeSnapshot({ contacts: [bob], channels: [secure], transfers }),
  });
  const app = await renderApp(bridge);
  await app.user.click(screen.getByRole('button', { name: /^bob/ }));
  return app;
}

const row = (name: string) =>
  screen.getAllByTestId('transfer-row').find((r) => r.textContent?.includes(name)) as HTMLElement;

describe('transfers', () => {
  it('shows progress, speed and time left, and cancels', async () => {
    const { bridge, user, emit } = await open([transfer({})]);
    expect(within(row('report.pdf')).getByText('Waiting for bob…')).toBeTruthy();
    await emit({
      type: 'transfer',
      data: transfer({ state: 'active', bytesDone: 2.5 * 1024 * 1024, rate: 1024 * 1024, etaSeconds: 7.5 }),
    });
    const r = row('report.pdf');
    const bar = within(r).getByRole('progressbar', { name: 'report.pdf progress' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(r.textContent).toContain('2.5 MB of 10 MB');
    expect(r.textContent).toContain('1.0 MB/s');
    expect(r.textContent).toContain('8 s left');
    await user.click(within(r).getByRole('button', { name: /^Cancel/ }));
    expect(bridge.callsOf('transfer.cancel')).toEqual([{ transferId: 't1' }]);
  });

  it('asks the receiver to accept or decline an offered file', async () => {
    const offered = [
      transfer({ id: 'r1', direction: 'receive', state: 'offered', name: 'a.jpg' }),
      transfer({ id: 'r2', direction: 'receive', state: 'offered', name: 'b.jpg' }),
    ];
    const { bridge, user } = await open(offered);
    expect(row('a.jpg').textContent).toContain('bob offers this file');
    await user.click(within(row('a.jpg')).getByRole('button', { name: /^Accept/ }));
    await user.click(within(row('b.jpg')).getByRole('button', { name: /^Decline/ }));
    expect(bridge.callsOf('transfer.accept')).toEqual([{ transferId: 'r1' }]);
    expect(bridge.callsOf('transfer.decline')).toEqual([{ transferId: 'r2' }]);
    expect(within(row('a.jpg')).queryByRole('button', { name: /^Cancel/ })).toBeNull();
  });

  const received = transfer({
    direction: 'receive',
    state: 'done',
    bytesDone: 10,
    size: 10,
    savedAs: '/home/bob/Downloads/report.pdf',
  });

  it('reveals a received file in Electron', async () => {
    const { bridge, user } = await open([received], { native: true });
    expect(row('report.pdf').textContent).toContain('Received — verified');
    await user.click(screen.getByRole('button', { name: /^Show in folder/ }));
    expect(bridge.nativeCalls).toEqual([['showInFolder', '/home/bob/Downloads/report.pdf']]);
  });

  it('shows where a received file went in a browser', async () => {
    await open([received]);
    expect(screen.getByTestId('saved-as').textContent).toBe('/home/bob/Downloads/report.pdf');
    expect(screen.queryByRole('button', { name: /^Show in folder/ })).toBeNull();
  });

  it('sends files and folders picked in a browser', async () => {
    const { bridge } = await open();
    const file = new File(['hello'], 'notes.txt');
    await act(async () => {
      fireEvent.change(screen.getByTestId('file-input'), { target: { files: [file] } });
    });
    expect(bridge.dropped).toHaveLength(1);
    expect(bridge.dropped[0]!.channelId).toBe('c1');
    expect(bridge.dropped[0]!.items.map((i) => i.name)).toEqual(['notes.txt']);
    expect((screen.getByTestId('folder-input') as HTMLInputElement).webkitdirectory).toBe(true);
  });

  it('sends files dropped on the panel', async () => {
    const { bridge } = await open();
    const file = new File(['x'], 'dropped.txt');
    const dataTransfer = {
      types: ['Files'],
      files: [file],
      items: [{ kind: 'file', getAsFile: () => file, webkitGetAsEntry: () => null }],
    };
    const zone = screen.getByTestId('drop-zone');
    fireEvent.dragEnter(zone, { dataTransfer });
    expect(zone.className).toContain('drop-zone-active');
    await act(async () => {
      fireEvent.drop(zone, { dataTransfer });
    });
    expect(zone.className).not.toContain('drop-zone-active');
    expect(bridge.dropped[0]!.items.map((i) => i.name)).toEqual(['dropped.txt']);
  });

  it('shows "preparing…" while uploading, and an upload failure', async () => {
    const { bridge } = await open();
    let fail: (e: Error) => void = () => {};
    bridge.sendDropped = (_c, _items, onProgress) => {
      onProgress?.({ files: 2, filesDone: 1, bytes: 2048, bytesDone: 1024 });
      return new Promise((_, reject) => (fail = reject));
    };
    await act(async () => {
      fireEvent.change(screen.getByTestId('file-input'), { target: { files: [new File(['x'], 'a.txt')] } });
    });
    expect(screen.getByTestId('upload-status').textContent).toContain(
      'Preparing… 1 of 2 files, 1.0 KB of 2.0 KB',
    );
    await act(async () =>
      fail(new BridgeError('upload-failed', 'uploading a.txt failed (HTTP 507: disk full)')),
    );
    expect(screen.queryByTestId('upload-status')).toBeNull();
    expect(screen.getByRole('alert').textContent).toContain(
      'Could not send: uploading a.txt failed (HTTP 507: disk full)',
    );
  });

  it('uses the native dialog in Electron', async () => {
    const { bridge, user } = await open([], { native: true });
    expect(screen.queryByTestId('file-input')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Send folder…' }));
    expect(bridge.nativeCalls).toEqual([['pickFiles', 'folder']]);
    expect(bridge.callsOf('transfer.send')).toEqual([{ channelId: 'c1', paths: ['/home/alice/photos'] }]);
  });

  it('has a clear empty state', async () => {
    await open();
    expect(screen.getByText('No files yet')).toBeTruthy();
    expect(screen.getByText('Drop files or folders here to send them to bob.')).toBeTruthy();
  });
});
