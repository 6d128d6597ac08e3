import { act, render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { TerminalEvent } from '@tsunagu/protocol';
import { createFakeBridge, type FakeBridge } from '../bridge/fake';
import { connectBridge } from '../state/connect';
import { createAppStore, type AppStore } from '../state/store';
import { App } from './App';
import { AppProvider } from './context';

/** The whole app over a fake terminal, as the component tests drive it. */
export async function renderApp(bridge: FakeBridge = createFakeBridge()) {
  const store: AppStore = createAppStore(bridge.status);
  const user = userEvent.setup();
  let disconnect = () => {};
  await act(async () => {
    disconnect = connectBridge(bridge, store);
  });
  const view = render(
    <AppProvider bridge={bridge} store={store}>
      <App />
    </AppProvider>,
  );
  // The first snapshot is on its way through a microtask; let it land.
  await act(async () => {});
  const emit = (event: Omit<TerminalEvent, 'seq'>) =>
    act(async () => {
      bridge.emit(event);
    });
  return { ...view, bridge, store, user, emit, disconnect };
}
