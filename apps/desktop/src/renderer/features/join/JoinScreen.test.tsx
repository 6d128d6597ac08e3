import { formatJoinLink } from '@tsunagu/protocol';
import { act, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { BridgeError } from '../../bridge/types';
import { CA_FINGERPRINT, createFakeBridge, makeSnapshot } from '../../bridge/fake';

const LINK = formatJoinLink({
  server: 'sip.example.org:5061',
  https: 'sip.example.org:5443',
  caFingerprint: CA_FINGERPRINT,
  user: 'alice',
  token: 'invite-token-0123456789abcdef',
  domain: 'example.org',
});

function unjoined(o: { native?: boolean } = {}) {
  const base = makeSnapshot();
  return createFakeBridge({
    ...o,
    snapshot: makeSnapshot({
      account: { settings: base.account.settings, localServer: false },
      connection: { state: 'unenrolled' },
    }),
  });
}

describe('join screen', () => {
  it('shows the server and CA fingerprint the link pins, then joins with it', async () => {
    const { bridge, user } = await renderApp(unjoined());
    await user.click(screen.getByLabelText('Invite link'));
    await user.paste(LINK);
    const check = screen.getByTestId('join-check');
    expect(check.textContent).toContain('Checking server sip.example.org:5061 against CA fingerprint');
    expect(check.textContent).toContain(CA_FINGERPRINT);
    expect(check.textContent).toContain('alice@example.org');
    await user.click(screen.getByRole('button', { name: 'Join' }));
    expect(bridge.callsOf('account.join')).toEqual([{ link: LINK }]);
  });

  it('rejects a broken link before it reaches the terminal', async () => {
    const { bridge, user } = await renderApp(unjoined());
    await user.click(screen.getByLabelText('Invite link'));
    await user.paste(LINK.replace('ca=sha256', 'ca=md5'));
    await user.click(screen.getByRole('button', { name: 'Join' }));
    expect(screen.getByRole('alert').textContent).toMatch(/invalid 'ca'/);
    expect(bridge.callsOf('account.join')).toEqual([]);
  });

  it("shows the terminal's refusal verbatim", async () => {
    const bridge = unjoined();
    const refusal =
      'the server at sip.example.org:5061 presented a CA with fingerprint sha256:00:11… — not the one in the link';
    bridge.handle('account.join', () => {
      throw new BridgeError('ca-mismatch', refusal);
    });
    const { user } = await renderApp(bridge);
    await user.click(screen.getByLabelText('Invite link'));
    await user.paste(LINK);
    await user.click(screen.getByRole('button', { name: 'Join' }));
    expect((await screen.findByRole('alert')).textContent).toBe(refusal);
  });

  it('switches to the app once the terminal reports the joined account', async () => {
    const bridge = unjoined();
    const { emit } = await renderApp(bridge);
    expect(screen.getByRole('heading', { name: 'Welcome to Tsunagu' })).toBeTruthy();
    await emit({ type: 'account', data: makeSnapshot().account });
    expect(screen.queryByLabelText('Invite link')).toBeNull();
    expect(screen.getByRole('heading', { name: 'Contacts' })).toBeTruthy();
  });

  it('prefills the field from a deep link (Electron)', async () => {
    const bridge = unjoined({ native: true });
    await renderApp(bridge);
    act(() => bridge.joinLink(LINK));
    expect((screen.getByLabelText('Invite link') as HTMLTextAreaElement).value).toBe(LINK);
    expect(screen.getByTestId('join-check')).toBeTruthy();
  });

  it('starts a local server for a quick trial', async () => {
    const { bridge, user } = await renderApp(unjoined());
    await user.click(screen.getByRole('button', { name: 'Start a server on this computer' }));
    expect(bridge.callsOf('account.startLocalServer')).toEqual([{}]);
  });
});
