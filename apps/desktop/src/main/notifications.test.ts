// @vitest-environment node
import type { ChannelView, TerminalEvent, TransferView } from '@tsunagu/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Notifier,
  noticeFor,
  summarise,
  type NotificationLike,
  type NotificationText,
} from './notifications.js';

const channel = (data: Partial<ChannelView>): TerminalEvent => ({
  seq: 1,
  type: 'channel',
  data: { id: 'c1', direction: 'incoming', peer: 'sip:bob@example.org', phase: 'ringing', ...data },
});
const transfer = (data: Partial<TransferView>): TerminalEvent => ({
  seq: 2,
  type: 'transfer',
  data: {
    id: 't1',
    channelId: 'c1',
    direction: 'receive',
    name: 'report.pdf',
    size: 10,
    bytesDone: 10,
    rate: 0,
    etaSeconds: null,
    state: 'done',
    ...data,
  },
});

describe('noticeFor', () => {
  it('announces an incoming channel request while it rings', () => {
    expect(noticeFor(channel({}))).toEqual({
      kind: 'channel-request',
      key: 'channel:c1',
      subject: 'sip:bob@example.org',
    });
    for (const data of [
      { direction: 'outgoing' as const },
      { phase: 'secure' as const },
      { phase: 'ended' as const },
    ]) {
      expect(noticeFor(channel(data))).toBeUndefined();
    }
  });

  it('announces an incoming request refused because its path was not secure, not other failures', () => {
    const reason = 'the path does not begin at the caller';
    expect(
      noticeFor(channel({ phase: 'failed', path: { hops: ['2001:db8::5060'], secure: false, reason } })),
    ).toEqual({
      kind: 'refused-insecure',
      key: 'channel:c1',
      subject: 'sip:bob@example.org',
      reason,
    });
    expect(noticeFor(channel({ phase: 'failed', reason: 'bob is offline' }))).toBeUndefined();
    expect(noticeFor(channel({ phase: 'failed', path: { hops: ['a', 'b'], secure: true } }))).toBeUndefined();
    expect(
      noticeFor(channel({ direction: 'outgoing', phase: 'failed', path: { hops: [], secure: false } })),
    ).toBeUndefined();
  });

  it('announces finished and failed transfers, nothing in between', () => {
    expect(noticeFor(transfer({}))).toMatchObject({ kind: 'received', subject: 'report.pdf' });
    expect(noticeFor(transfer({ direction: 'send' }))).toMatchObject({ kind: 'sent' });
    expect(noticeFor(transfer({ state: 'failed', reason: 'hash mismatch' }))).toMatchObject({
      kind: 'failed',
      reason: 'hash mismatch',
    });
    for (const state of ['offered', 'waiting', 'active', 'cancelled', 'declined'] as const) {
      expect(noticeFor(transfer({ state })), state).toBeUndefined();
    }
    expect(noticeFor({ seq: 3, type: 'contacts', data: [] })).toBeUndefined();
    expect(noticeFor({ seq: 4, type: 'connection', data: { state: 'failed' } })).toBeUndefined();
  });
});

describe('summarise', () => {
  const n = (kind: 'received' | 'sent' | 'failed', subject = 'a.txt', reason?: string) => ({
    kind,
    key: `${kind}${subject}`,
    subject,
    ...(reason ? { reason } : {}),
  });

  it('names a single file', () => {
    expect(summarise([n('received', 'report.pdf')])).toEqual({
      title: 'File received',
      body: 'report.pdf (verified)',
    });
    expect(summarise([n('sent')])).toEqual({ title: 'File sent', body: 'a.txt' });
    expect(summarise([n('failed', 'a.txt', 'disk full')])).toEqual({
      title: 'Transfer failed',
      body: 'a.txt: disk full',
    });
  });

  it('counts a folder', () => {
    expect(summarise([n('received', 'a'), n('received', 'b'), n('received', 'c')])).toEqual({
      title: 'Transfers finished',
      body: '3 files received',
    });
    expect(summarise([n('received', 'a'), n('sent', 'b'), n('failed', 'c')])).toEqual({
      title: 'Transfers finished, some failed',
      body: '1 file received, 1 file sent, 1 failed',
    });
  });
});

describe('Notifier', () => {
  afterEach(() => vi.useRealTimers());

  class FakeNotification implements NotificationLike {
    readonly handlers = new Map<string, () => void>();
    shown = false;
    constructor(readonly text: NotificationText) {}
    on(event: string, listener: () => void): this {
      this.handlers.set(event, listener);
      return this;
    }
    show(): void {
      this.shown = true;
    }
  }

  function notifier(focused = false) {
    const shown: FakeNotification[] = [];
    let focusCount = 0;
    const n = new Notifier({
      create: (text) => {
        const f = new FakeNotification(text);
        shown.push(f);
        return f;
      },
      isWindowFocused: () => focused,
      focusWindow: () => void focusCount++,
      batchMs: 100,
    });
    return { n, shown, focusCount: () => focusCount };
  }

  it('shows a refused insecure request at once, saying why', () => {
    const { n, shown } = notifier();
    n.handle(channel({ phase: 'failed', path: { hops: [], secure: false, reason: 'no path at all' } }));
    expect(shown.map((s) => s.text)).toEqual([
      {
        title: 'Insecure channel request refused',
        body: 'sip:bob@example.org tried to open a channel, but the path was not secure end to end: no path at all',
      },
    ]);
  });

  it('shows a channel request at once, once, and focuses the window on click', () => {
    const { n, shown, focusCount } = notifier();
    n.handle(channel({}));
    n.handle(channel({}));
    expect(shown.map((s) => s.text)).toEqual([
      { title: 'Channel request', body: 'sip:bob@example.org wants to open a secure channel' },
    ]);
    expect(shown[0]?.shown).toBe(true);
    shown[0]?.handlers.get('click')?.();
    expect(focusCount()).toBe(1);
  });

  it('gathers transfers finishing together into one notification', () => {
    vi.useFakeTimers();
    const { n, shown } = notifier();
    n.handle(transfer({ id: 'a' }));
    n.handle(transfer({ id: 'b' }));
    n.handle(transfer({ id: 'b' }));
    expect(shown).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(shown.map((s) => s.text.body)).toEqual(['2 files received']);
  });

  it('stays quiet while the window is in front', () => {
    vi.useFakeTimers();
    const { n, shown } = notifier(true);
    n.handle(channel({}));
    n.handle(transfer({}));
    vi.advanceTimersByTime(100);
    expect(shown).toEqual([]);
  });
});
