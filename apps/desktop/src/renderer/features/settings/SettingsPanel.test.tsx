import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { CA_FINGERPRINT, createFakeBridge, makeSnapshot } from '../../bridge/fake';
import { THEME_KEY } from './theme';

async function openSettings(acceptFrom: string[] = ['carol']) {
  const snap = makeSnapshot();
  snap.account.settings.acceptFrom = acceptFrom;
  const bridge = createFakeBridge({ snapshot: snap });
  // Like the terminal: answer, and publish the new account.
  bridge.handle('settings.update', (change) => {
    const settings = { ...bridge.state.account.settings, ...change };
    bridge.emit({ type: 'account', data: { ...bridge.state.account, settings } });
    return settings;
  });
  const app = await renderApp(bridge);
  await app.user.click(screen.getByRole('button', { name: 'Settings' }));
  return app;
}

describe('settings', () => {
  it('changes the download folder', async () => {
    const { bridge, user } = await openSettings();
    const field = screen.getByLabelText('Download folder') as HTMLInputElement;
    expect(field.value).toBe('/home/alice/Downloads');
    await user.clear(field);
    await user.type(field, '/data/incoming');
    await user.click(screen.getByRole('button', { name: 'Save folder' }));
    expect(bridge.callsOf('settings.update')).toEqual([{ downloadDir: '/data/incoming' }]);
    expect(screen.getByText('Saved. New files go there.')).toBeTruthy();
  });

  it('adds and removes names to accept without asking', async () => {
    const { bridge, user } = await openSettings();
    await user.type(screen.getByLabelText('Add a name'), 'Bob');
    await user.click(screen.getByRole('button', { name: 'Add' }));
    expect(bridge.callsOf('settings.update')).toEqual([{ acceptFrom: ['carol', 'bob'] }]);
    const list = screen.getByRole('list', { name: 'Accepted without asking' });
    expect(
      within(list)
        .getAllByRole('listitem')
        .map((li) => li.textContent?.replace('×', '')),
    ).toEqual(['carol', 'bob']);
    await user.click(screen.getByRole('button', { name: 'Remove carol' }));
    expect(bridge.callsOf('settings.update').at(-1)).toEqual({ acceptFrom: ['bob'] });
  });

  it('refuses a malformed name without calling the terminal', async () => {
    const { bridge, user } = await openSettings([]);
    expect(screen.getByText('Nobody yet: every request asks you first.')).toBeTruthy();
    await user.type(screen.getByLabelText('Add a name'), 'not a name!');
    await user.click(screen.getByRole('button', { name: 'Add' }));
    expect(screen.getByRole('alert').textContent).toMatch(/Enter a user name/);
    expect(bridge.callsOf('settings.update')).toEqual([]);
  });

  it('shows this device', async () => {
    await openSettings();
    const facts = screen.getByTestId('device-info');
    expect(facts.textContent).toContain('sip:alice@example.org');
    expect(facts.textContent).toContain('alice-laptop');
    expect(facts.textContent).toContain('AB:CD:EF:01');
    expect(facts.textContent).toContain(CA_FINGERPRINT);
    expect(facts.textContent).toContain('sip.example.org:5061');
    const cert = screen.getByTestId('certificate-state');
    expect(cert.dataset.state).toBe('ca-issued');
    expect(cert.textContent).toMatch(/^the deployment CA; renewed automatically from /);
  });

  it('switches the theme and remembers it', async () => {
    const { user } = await openSettings();
    const theme = screen.getByRole('group', { name: 'Theme' });
    expect((within(theme).getByLabelText('System') as HTMLInputElement).checked).toBe(true);
    await user.click(within(theme).getByLabelText('Dark'));
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(localStorage.getItem(THEME_KEY)).toBe('dark');
    await user.click(within(theme).getByLabelText('System'));
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(localStorage.getItem(THEME_KEY)).toBeNull();
  });
});
