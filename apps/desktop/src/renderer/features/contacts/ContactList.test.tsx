import type { ContactView } from '@tsunagu/protocol';
import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { BridgeError } from '../../bridge/types';
import { createFakeBridge, makeSnapshot } from '../../bridge/fake';

const contact = (user: string, online: boolean, devices: string[] = []): ContactView => ({
  user,
  aor: `sip:${user}@example.org`,
  online,
  devices: devices.map((name, i) => ({ id: `${user}-${i}`, name, online })),
});

const people = [
  contact('bob', true, ['bob-laptop', 'bob-phone']),
  contact('carol', false),
  contact('dave', true, ['nas']),
];

describe('contact list', () => {
  it('lists contacts with presence and the state of each channel', async () => {
    const bridge = createFakeBridge({
      snapshot: makeSnapshot({
        contacts: people,
        channels: [
          {
            id: 'c1',
            direction: 'outgoing',
            peer: 'sip:dave@example.org',
            phase: 'secure',
            verificationCode: '111 222',
          },
        ],
      }),
    });
    await renderApp(bridge);
    const list = screen.getByRole('list', { name: 'Contacts' });
    const rows = within(list).getAllByRole('button');
    expect(rows.map((r) => r.getAttribute('aria-label'))).toEqual([
      'bob, Online · bob-laptop, bob-phone, Not connected',
      'carol, Offline, Not connected',
      'dave, Online · nas, Secure — verified',
    ]);
  });

  it('filters by name', async () => {
    const { user } = await renderApp(createFakeBridge({ snapshot: makeSnapshot({ contacts: people }) }));
    await user.type(screen.getByRole('searchbox', { name: 'Search contacts' }), 'CA');
    expect(
      within(screen.getByRole('list', { name: 'Contacts' }))
        .getAllByRole('button')
        .map((b) => b.dataset.user),
    ).toEqual(['carol']);
    await user.clear(screen.getByRole('searchbox'));
    await user.type(screen.getByRole('searchbox'), 'zed');
    expect(screen.getByText('No one matches “zed”')).toBeTruthy();
  });

  it('says so when the policy lets this person reach nobody', async () => {
    await renderApp();
    expect(screen.getByText('No contacts yet')).toBeTruthy();
    expect(screen.queryByRole('list', { name: 'Contacts' })).toBeNull();
  });

  it('opens a channel on click and shows it as it comes up', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ contacts: people }) });
    bridge.handle('channel.open', () => {
      bridge.emit({
        type: 'channel',
        data: { id: 'c9', direction: 'outgoing', peer: 'sip:bob@example.org', phase: 'ringing' },
      });
      return { channelId: 'c9' };
    });
    const { user, emit } = await renderApp(bridge);
    await user.click(screen.getByRole('button', { name: /^bob/ }));
    expect(bridge.callsOf('channel.open')).toEqual([{ user: 'bob' }]);
    expect(screen.getByTestId('channel-state').textContent).toBe('Ringing bob…');
    expect(screen.getByRole('button', { name: /^bob/ }).getAttribute('aria-current')).toBe('true');
    await emit({
      type: 'channel',
      data: {
        id: 'c9',
        direction: 'outgoing',
        peer: 'sip:bob@example.org',
        phase: 'secure',
        verificationCode: '042 917',
      },
    });
    expect(screen.getByRole('button', { name: /^bob/ }).getAttribute('aria-label')).toMatch(
      /Secure — verified$/,
    );
    // Clicking again shows the channel that is up instead of ringing a second time.
    await user.click(screen.getByRole('button', { name: /^bob/ }));
    expect(bridge.callsOf('channel.open')).toHaveLength(1);
  });

  it('works from the keyboard: Tab to a contact, Enter opens it', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ contacts: people }) });
    const { user } = await renderApp(bridge);
    screen.getByRole('searchbox', { name: 'Search contacts' }).focus();
    await user.tab();
    expect(document.activeElement?.getAttribute('data-user')).toBe('bob');
    await user.tab();
    await user.keyboard('{Enter}');
    expect(bridge.callsOf('channel.open')).toEqual([{ user: 'carol' }]);
    await user.tab();
    await user.keyboard(' ');
    expect(bridge.callsOf('channel.open')).toEqual([{ user: 'carol' }, { user: 'dave' }]);
  });

  it('still tries an offline contact and shows why it failed', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ contacts: people }) });
    bridge.handle('channel.open', () => {
      throw new BridgeError('offline', 'carol is offline');
    });
    const { user } = await renderApp(bridge);
    const carol = screen.getByRole('button', { name: /^carol, Offline/ });
    await user.click(carol);
    expect(bridge.callsOf('channel.open')).toEqual([{ user: 'carol' }]);
    expect((await screen.findByTestId('channel-state')).textContent).toBe('Failed: carol is offline');
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
  });
});
