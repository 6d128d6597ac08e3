import type { HistoryEntry, TransferView } from '@tsunagu/protocol';
import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { createFakeBridge, makeSnapshot } from '../../bridge/fake';

const entry: HistoryEntry = {
  at: '2026-11-24T10:00:00.000Z',
  direction: 'receive',
  peer: 'sip:bob@example.org',
  name: 'report.pdf',
  size: 2048,
  state: 'done',
  savedAs: '/home/alice/Downloads/report.pdf',
};

const active: TransferView = {
  id: 't1',
  channelId: 'c1',
  direction: 'send',
  name: 'a.txt',
  size: 5,
  bytesDone: 1,
  rate: 1,
  etaSeconds: 4,
  state: 'active',
};

describe('history', () => {
  it('lists finished transfers and refreshes when one finishes', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ transfers: [active] }) });
    let entries = [entry];
    bridge.handle('history.list', () => ({ entries }));
    const { user, emit } = await renderApp(bridge);
    await user.click(screen.getByRole('button', { name: 'History' }));
    const table = await screen.findByRole('table', { name: 'Transfer history' });
    const rows = within(table).getAllByTestId('history-row');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.textContent).toContain('report.pdf');
    expect(rows[0]!.textContent).toContain('bob');
    expect(rows[0]!.textContent).toContain('Done — verified');

    entries = [
      { ...entry, direction: 'send', name: 'a.txt', size: 5, state: 'cancelled', reason: 'cancelled by bob' },
      entry,
    ];
    await emit({ type: 'transfer', data: { ...active, state: 'active', bytesDone: 2 } });
    expect(bridge.callsOf('history.list')).toHaveLength(1); // progress is not a reason to refetch
    await emit({ type: 'transfer', data: { ...active, state: 'cancelled', reason: 'cancelled by bob' } });
    expect(await screen.findByText('Cancelled: cancelled by bob')).toBeTruthy();
    expect(bridge.callsOf('history.list')).toHaveLength(2);
  });

  it('has an empty state and shows a failure', async () => {
    const bridge = createFakeBridge();
    const { user } = await renderApp(bridge);
    await user.click(screen.getByRole('button', { name: 'History' }));
    expect(await screen.findByText('No transfers yet')).toBeTruthy();

    const failing = createFakeBridge();
    failing.handle('history.list', () => {
      throw new Error('history file unreadable');
    });
    const second = await renderApp(failing);
    await second.user.click(screen.getAllByRole('button', { name: 'History' }).at(-1)!);
    expect((await screen.findByRole('alert')).textContent).toContain(
      'Could not load the history: history file unreadable',
    );
  });
});
