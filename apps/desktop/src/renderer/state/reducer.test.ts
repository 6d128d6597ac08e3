import type { ChannelView, TransferView } from '@tsunagu/protocol';
import { describe, expect, it } from 'vitest';
import { makeSnapshot } from '../bridge/fake';
import { applyEvent, applySnapshot } from './reducer';
import { initialState } from './store';

const channel = (over: Partial<ChannelView> = {}): ChannelView => ({
  id: 'c1',
  direction: 'outgoing',
  peer: 'sip:bob@example.org',
  phase: 'ringing',
  ...over,
});

const transfer = (over: Partial<TransferView> = {}): TransferView => ({
  id: 't1',
  channelId: 'c1',
  direction: 'send',
  name: 'a.txt',
  size: 100,
  bytesDone: 0,
  rate: 0,
  etaSeconds: null,
  state: 'waiting',
  ...over,
});

describe('applySnapshot', () => {
  it('replaces the terminal state and keeps what the page decided', () => {
    const before = { ...initialState(), ui: { ...initialState().ui, selected: 'bob@example.org' } };
    const s = applySnapshot(before, makeSnapshot({ seq: 7, channels: [channel()], transfers: [transfer()] }));
    expect(s.synced).toBe(true);
    expect(s.seq).toBe(7);
    expect(s.channelIds).toEqual(['c1']);
    expect(s.transfers.t1?.name).toBe('a.txt');
    expect(s.ui.selected).toBe('bob@example.org');
    expect(s.historyStamp).toBe(before.historyStamp + 1);
  });
});

describe('applyEvent', () => {
  it('upserts channels in order of appearance', () => {
    let s = applySnapshot(initialState(), makeSnapshot());
    s = applyEvent(s, { seq: 1, type: 'channel', data: channel() });
    s = applyEvent(s, {
      seq: 2,
      type: 'channel',
      data: channel({ id: 'c2', peer: 'sip:carol@example.org' }),
    });
    s = applyEvent(s, {
      seq: 3,
      type: 'channel',
      data: channel({ phase: 'secure', verificationCode: '123 456' }),
    });
    expect(s.channelIds).toEqual(['c1', 'c2']);
    expect(s.channels.c1?.phase).toBe('secure');
    expect(s.seq).toBe(3);
  });

  it('bumps the history stamp once when a transfer finishes', () => {
    let s = applySnapshot(initialState(), makeSnapshot());
    const stamp = s.historyStamp;
    s = applyEvent(s, { seq: 1, type: 'transfer', data: transfer({ state: 'active', bytesDone: 50 }) });
    expect(s.historyStamp).toBe(stamp);
    s = applyEvent(s, { seq: 2, type: 'transfer', data: transfer({ state: 'done', bytesDone: 100 }) });
    s = applyEvent(s, {
      seq: 3,
      type: 'transfer',
      data: transfer({ state: 'done', bytesDone: 100, savedAs: '/x' }),
    });
    expect(s.historyStamp).toBe(stamp + 1);
    expect(s.transferIds).toEqual(['t1']);
  });

  it('replaces account, connection and contacts wholesale', () => {
    let s = applySnapshot(initialState(), makeSnapshot());
    s = applyEvent(s, { seq: 1, type: 'connection', data: { state: 'reconnecting', reason: 'server gone' } });
    s = applyEvent(s, {
      seq: 2,
      type: 'contacts',
      data: [{ user: 'bob', aor: 'sip:bob@example.org', online: true, devices: [] }],
    });
    s = applyEvent(s, {
      seq: 3,
      type: 'account',
      data: { settings: { downloadDir: '/d', acceptFrom: [] }, localServer: false },
    });
    expect(s.connection).toEqual({ state: 'reconnecting', reason: 'server gone' });
    expect(s.contacts.map((c) => c.user)).toEqual(['bob']);
    expect(s.account?.device).toBeUndefined();
  });
});
