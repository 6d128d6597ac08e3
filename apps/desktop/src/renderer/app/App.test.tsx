import { act, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { createFakeBridge } from '../bridge/fake';
import { renderApp } from './testing';

describe('app screens', () => {
  it('asks for the access link when the web page has no token, and uses a pasted one', async () => {
    const bridge = createFakeBridge({ status: { state: 'needs-access', reason: 'missing' } });
    const use = vi.fn();
    bridge.useAccessToken = use;
    const { user } = await renderApp(bridge);
    expect(screen.getByRole('heading', { name: 'Access link needed' })).toBeTruthy();
    expect(screen.getByText(/This page needs its access link/).textContent).toContain(
      'tsunagu gui --profile DIR',
    );
    await user.type(screen.getByLabelText('Access link'), `${location.origin}/#token=AbCdEfGhIjKlMnOpQrSt`);
    await user.click(screen.getByRole('button', { name: 'Connect' }));
    expect(use).toHaveBeenCalledWith('AbCdEfGhIjKlMnOpQrSt');
  });

  it('explains an expired link', async () => {
    await renderApp(createFakeBridge({ status: { state: 'needs-access', reason: 'rejected' } }));
    expect(screen.getByRole('alert').textContent).toMatch(
      /expired or is wrong — the daemon restarted\? Get a new link with tsunagu gui/,
    );
  });

  it('waits for the daemon before showing anything, then loads', async () => {
    const bridge = createFakeBridge({ status: { state: 'connecting' } });
    await renderApp(bridge);
    expect(screen.getByRole('main').textContent).toBe('Connecting to the daemon…');
    expect(screen.queryByRole('heading', { name: 'Contacts' })).toBeNull();
    await act(async () => bridge.setStatus({ state: 'open' }));
    expect(screen.getByRole('heading', { name: 'Contacts' })).toBeTruthy();
  });

  it('navigates between the views', async () => {
    const { user } = await renderApp();
    const nav = screen.getByRole('navigation', { name: 'Views' });
    expect(nav.querySelector('[aria-current="page"]')?.textContent).toBe('Channel');
    await user.click(screen.getByRole('button', { name: 'Settings' }));
    expect(screen.getByRole('heading', { name: 'Settings' })).toBeTruthy();
    expect(nav.querySelector('[aria-current="page"]')?.textContent).toBe('Settings');
  });
});
