import type { ChannelView } from '@tsunagu/protocol';
import { describe, expect, it, vi } from 'vitest';
import { createFakeBridge, makeSnapshot } from '../bridge/fake';
import { connectBridge } from './connect';
import { createAppStore } from './store';

const settle = () => new Promise((r) => setTimeout(r, 0));

const ringing = (id: string): ChannelView => ({
  id,
  direction: 'incoming',
  peer: 'sip:alice@example.org',
  phase: 'ringing',
});

describe('connectBridge', () => {
  it('loads a snapshot, then applies events in order', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ seq: 4 }) });
    const store = createAppStore();
    connectBridge(bridge, store);
    expect(store.getState().synced).toBe(false);
    await settle();
    expect(store.getState()).toMatchObject({ synced: true, seq: 4 });
    bridge.emit({ type: 'channel', data: ringing('c1') });
    bridge.emit({ type: 'channel', data: { ...ringing('c1'), phase: 'connecting' } });
    expect(store.getState().seq).toBe(6);
    expect(store.getState().channels.c1?.phase).toBe('connecting');
    expect(bridge.callsOf('snapshot')).toHaveLength(1);
  });

  it('holds events that arrive while the snapshot is on its way and skips those it covers', async () => {
    const bridge = createFakeBridge({ snapshot: makeSnapshot({ seq: 0 }) });
    const store = createAppStore();
    let answer: (() => void) | undefined;
    // The terminal emits events between taking the snapshot and the page receiving it.
    bridge.handle('snapshot', async () => {
      const snap = structuredClone(bridge.state);
      await new Promise<void>((r) => (answer = r));
      return snap;
    });
    connectBridge(bridge, store);
    await settle();
    bridge.emit({ type: 'channel', data: ringing('c1') }); // seq 1, after the snapshot (seq 0)
    answer?.();
    await settle();
    expect(store.getState().seq).toBe(1);
    expect(store.getState().channels.c1?.phase).toBe('ringing');

    // A replayed event the snapshot already covers is skipped: not applied, and not taken for a gap.
    bridge.deliver({ seq: 1, type: 'channel', data: { ...ringing('c1'), phase: 'ended' } });
    await settle();
    expect(store.getState().channels.c1?.phase).toBe('ringing');
    expect(bridge.callsOf('snapshot')).toHaveLength(1);
  });

  it('refetches the snapshot after a gap in the sequence', async () => {
    const bridge = createFakeBridge();
    const store = createAppStore();
    connectBridge(bridge, store);
    await settle();
    bridge.emit({ type: 'channel', data: ringing('c1') }, { lost: true }); // seq 1 never arrives
    bridge.emit({ type: 'channel', data: ringing('c2') }); // seq 2: a gap
    expect(store.getState().channels.c2).toBeUndefined(); // not applied over a hole
    await settle();
    expect(bridge.callsOf('snapshot')).toHaveLength(2);
    expect(store.getState().seq).toBe(2);
    expect(Object.keys(store.getState().channels).sort()).toEqual(['c1', 'c2']);
    bridge.emit({ type: 'channel', data: { ...ringing('c2'), phase: 'connecting' } });
    expect(store.getState().channels.c2?.phase).toBe('connecting');
  });

  it('resyncs when the bridge comes back, and shows the bridge state meanwhile', async () => {
    const bridge = createFakeBridge();
    const store = createAppStore();
    connectBridge(bridge, store);
    await settle();
    bridge.setStatus({ state: 'reconnecting', reason: 'lost contact with the daemon' });
    expect(store.getState().bridge).toEqual({
      state: 'reconnecting',
      reason: 'lost contact with the daemon',
    });
    // Meanwhile the terminal moved on; the page saw none of it.
    bridge.emit(
      { type: 'connection', data: { state: 'reconnecting', reason: 'network down' } },
      { lost: true },
    );
    bridge.setStatus({ state: 'open' });
    await settle();
    expect(bridge.callsOf('snapshot')).toHaveLength(2);
    expect(store.getState().connection).toEqual({ state: 'reconnecting', reason: 'network down' });
    expect(store.getState().bridge.state).toBe('open');
  });

  it('reports a failed snapshot and retries it', async () => {
    const bridge = createFakeBridge();
    const store = createAppStore();
    let fail = true;
    bridge.handle('snapshot', () => {
      if (fail) throw new Error('terminal is starting');
      return structuredClone(bridge.state);
    });
    connectBridge(bridge, store, { retryMs: 5 });
    await settle();
    expect(store.getState().syncError).toBe('terminal is starting');
    fail = false;
    await vi.waitFor(() => expect(store.getState()).toMatchObject({ synced: true, syncError: undefined }));
  });

  it('stops listening when disconnected', async () => {
    const bridge = createFakeBridge();
    const store = createAppStore();
    const off = connectBridge(bridge, store);
    await settle();
    off();
    bridge.emit({ type: 'channel', data: ringing('c1') });
    expect(store.getState().channels.c1).toBeUndefined();
  });
});
