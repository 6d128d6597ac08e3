import type { ChannelView } from '@tsunagu/protocol';
import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../../app/testing';
import { createFakeBridge, makeSnapshot } from '../../bridge/fake';

const bob = { user: 'bob', aor: 'sip:bob@example.org', online: true, devices: [] };
const channel = (over: Partial<ChannelView>): ChannelView => ({
  id: 'c1',
  direction: 'outgoing',
  peer: 'sip:bob@example.org',
  phase: 'ringing',
  ...over,
});

async function withChannel(c: ChannelView) {
  const bridge = createFakeBridge({ snapshot: makeSnapshot({ contacts: [bob], channels: [c] }) });
  const app = await renderApp(bridge);
  await app.user.click(screen.getByRole('button', { name: /^bob/ }));
  return app;
}

describe('incoming request', () => {
  const incoming = channel({ id: 'in1', direction: 'incoming', peer: 'sip:alice@example.org' });

  it('asks, and accepting opens that channel', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ channels: [incoming] }) });
    const { user, emit } = await renderApp(bridge);
    const prompt = screen.getByRole('group', { name: 'Channel request from alice' });
    expect(prompt.textContent).toContain('alice wants to open a secure channel');
    await user.click(within(prompt).getByRole('button', { name: 'Accept' }));
    expect(bridge.callsOf('channel.accept')).toEqual([{ channelId: 'in1' }]);
    expect(screen.getByRole('heading', { name: 'alice' })).toBeTruthy();
    await emit({ type: 'channel', data: { ...incoming, phase: 'connecting' } });
    expect(screen.queryByRole('group', { name: /Channel request/ })).toBeNull();
    expect(screen.getByTestId('channel-state').textContent).toBe('Connecting…');
  });

  it('declines', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ channels: [incoming] }) });
    const { user } = await renderApp(bridge);
    await user.click(screen.getByRole('button', { name: 'Decline' }));
    expect(bridge.callsOf('channel.decline')).toEqual([{ channelId: 'in1' }]);
  });
});

describe('channel panel', () => {
  it('shows a secure channel: verified, the asserted peer, the code to read aloud, and closes it', async () => {
    const { bridge, user } = await withChannel(channel({ phase: 'secure', verificationCode: '042 917' }));
    expect(screen.getByTestId('channel-state').textContent).toBe('Secure — verified');
    expect(screen.getByTestId('channel-peer').textContent).toBe('sip:bob@example.org');
    expect(screen.getByTestId('verification-code').textContent).toBe('042 917');
    expect(screen.getByTestId('channel-issuer').textContent).toContain('fingerprint only');
    expect(screen.getByTestId('drop-zone')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Close channel' }));
    expect(bridge.callsOf('channel.close')).toEqual([{ channelId: 'c1' }]);
  });

  it('names the certificate authority that checked the peer’s certificate (another domain’s, across)', async () => {
    await withChannel(channel({ phase: 'secure', verificationCode: '042 917', issuer: 'b.example' }));
    expect(screen.getByTestId('channel-issuer').textContent).toBe(
      'issued by b.example’s certificate authority',
    );
  });

  it.each([
    [{ phase: 'declined' as const }, 'Declined by bob'],
    [{ phase: 'failed' as const, reason: 'bob is offline' }, 'Failed: bob is offline'],
    [{ phase: 'ended' as const, reason: 'closed by the peer' }, 'Ended: closed by the peer'],
  ])('says how a channel ended (%o)', async (over, text) => {
    await withChannel(channel(over));
    expect(screen.getByTestId('channel-state').textContent).toBe(text);
    expect(screen.queryByTestId('drop-zone')).toBeNull();
  });

  it('shows nothing selected at first', async () => {
    await renderApp(createFakeBridge({ snapshot: makeSnapshot({ contacts: [bob] }) }));
    expect(screen.getByText('No channel open')).toBeTruthy();
  });

  it('lets the caller cancel while it rings', async () => {
    const { bridge, user } = await withChannel(channel({ phase: 'ringing' }));
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(bridge.callsOf('channel.close')).toEqual([{ channelId: 'c1' }]);
  });
});

describe('channel path (Route-Security)', () => {
  it('shows a secure path hop by hop', async () => {
    await withChannel(
      channel({
        phase: 'secure',
        verificationCode: '042 917',
        path: { hops: ['2001:db8::10', '2001:db8::5060'], secure: true },
      }),
    );
    const path = screen.getByTestId('channel-path');
    expect(path.getAttribute('data-secure')).toBe('true');
    expect(path.textContent).toBe('Path: 2001:db8::10 → 2001:db8::5060 (secure)');
  });

  it('says clearly when the path is not secure end to end, and why', async () => {
    const reason = 'the path does not begin at the caller: a hop was not secure';
    await withChannel(
      channel({
        phase: 'failed',
        reason: `the path is not secure end to end: ${reason}`,
        path: { hops: ['2001:db8::5060'], secure: false, reason },
      }),
    );
    const path = screen.getByTestId('channel-path');
    expect(path.getAttribute('data-secure')).toBe('false');
    expect(path.textContent).toBe(`Path: 2001:db8::5060 — not secure end to end: ${reason}`);
    expect(screen.getByTestId('channel-state').textContent).toContain('not secure end to end');
    expect(screen.queryByTestId('drop-zone')).toBeNull();
  });

  it('an answer that carried no path at all', async () => {
    await withChannel(
      channel({ phase: 'failed', path: { hops: [], secure: false, reason: 'the answer carried no path' } }),
    );
    expect(screen.getByTestId('channel-path').textContent).toBe(
      'Path: not secure end to end: the answer carried no path',
    );
  });

  it('shows nothing while the path is not known yet', async () => {
    await withChannel(channel({ phase: 'ringing' }));
    expect(screen.queryByTestId('channel-path')).toBeNull();
  });
});
