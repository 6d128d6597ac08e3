import { act, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { createFakeBridge } from '../../bridge/fake';

describe('status bar', () => {
  it('follows the server connection', async () => {
    const { emit } = await renderApp();
    const status = () => screen.getByTestId('connection-status');
    expect(status().dataset.state).toBe('registered');
    expect(status().textContent).toBe('Registered as sip:alice@example.org on sip.example.org:5061');
    await emit({
      type: 'connection',
      data: { state: 'reconnecting', reason: 'connection reset by the server' },
    });
    expect(status().dataset.state).toBe('reconnecting');
    expect(status().textContent).toBe('Reconnecting — connection reset by the server');
    await emit({ type: 'connection', data: { state: 'failed', reason: 'device revoked' } });
    expect(status().textContent).toBe('Failed — device revoked');
    await emit({ type: 'connection', data: { state: 'connecting', server: 'sip.example.org:5061' } });
    expect(status().textContent).toBe('Connecting to sip.example.org:5061…');
  });

  it('shows the daemon link in a browser, and a banner while it is lost', async () => {
    const bridge = createFakeBridge({ host: 'web' });
    await renderApp(bridge);
    expect(screen.getByTestId('bridge-status').textContent).toBe('Connected to the daemon');
    act(() => bridge.setStatus({ state: 'reconnecting', reason: 'lost contact with the daemon' }));
    expect(screen.getByTestId('bridge-status').textContent).toBe(
      'Lost contact with the daemon — reconnecting…',
    );
    expect(screen.getByTestId('connection-status').dataset.state).toBe('daemon-unreachable');
    expect(screen.getByTestId('bridge-banner').textContent).toContain(
      'Lost contact with the daemon — reconnecting…',
    );
    await act(async () => bridge.setStatus({ state: 'open' }));
    expect(screen.queryByTestId('bridge-banner')).toBeNull();
    expect(screen.getByTestId('connection-status').dataset.state).toBe('registered');
  });

  it('has no daemon indicator in Electron', async () => {
    await renderApp(createFakeBridge({ host: 'electron' }));
    expect(screen.queryByTestId('bridge-status')).toBeNull();
  });
});
