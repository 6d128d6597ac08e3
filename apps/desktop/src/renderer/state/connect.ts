import { EventSequence, type TerminalEvent } from '@tsunagu/protocol';
import { errorMessage, type Bridge } from '../bridge/types';
import { applyEvent, applySnapshot } from './reducer';
import type { AppStore } from './store';

/**
 * Feeds the store from the bridge: a snapshot first, then every event in order. A gap in the event
 * sequence, or the bridge coming back after a disconnection, means events may have been missed: fetch
 * a fresh snapshot and continue from its `seq` (events that arrive meanwhile are held, and those the
 * snapshot already covers skipped). Returns a function that disconnects.
 */
export function connectBridge(bridge: Bridge, store: AppStore, o: { retryMs?: number } = {}): () => void {
  const sequence = new EventSequence();
  /** Events that arrived while a snapshot is on its way. */
  let held: TerminalEvent[] | undefined;
  let generation = 0;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const take = (event: TerminalEvent): void => {
    const verdict = sequence.accept(event);
    if (verdict === 'apply') store.setState((s) => applyEvent(s, event));
    else if (verdict === 'resync') void resync();
  };

  async function resync(): Promise<void> {
    const mine = ++generation;
    held = [];
    clearTimeout(retry);
    try {
      const snap = await bridge.call('snapshot', {});
      if (stopped || mine !== generation) return;
      sequence.reset(snap.seq);
      store.setState((s) => applySnapshot(s, snap));
      const pending = held;
      held = undefined;
      for (const event of pending) receive(event); // a gap among them holds the rest again
    } catch (e) {
      if (stopped || mine !== generation) return;
      store.setState({ syncError: errorMessage(e) });
      // Keep holding events; the next snapshot covers them. Retry while the bridge is up; if it went
      // down, its coming back triggers the resync.
      if (bridge.status.state === 'open') retry = setTimeout(() => void resync(), o.retryMs ?? 2000);
    }
  }

  function receive(event: TerminalEvent): void {
    if (held) held.push(event);
    else take(event);
  }

  const offEvents = bridge.subscribe(receive);
  const offStatus = bridge.onStatus((status) => {
    store.setState({ bridge: status });
    if (status.state === 'open') void resync();
  });
  store.setState({ bridge: bridge.status });
  if (bridge.status.state === 'open') void resync();

  return () => {
    stopped = true;
    clearTimeout(retry);
    offEvents();
    offStatus();
  };
}
