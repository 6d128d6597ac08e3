import { useAppState, useAppStore } from './context';
import { ErrorMessage } from '../components/Notice';
import { AccessScreen } from '../features/access/AccessScreen';
import { ChannelPanel } from '../features/channel/ChannelPanel';
import { IncomingRequests } from '../features/channel/IncomingRequests';
import { ContactList } from '../features/contacts/ContactList';
import { HistoryPanel } from '../features/history/HistoryPanel';
import { JoinScreen } from '../features/join/JoinScreen';
import { SettingsPanel } from '../features/settings/SettingsPanel';
import { StatusBar, bridgeLabel } from '../features/status/StatusBar';
import { selectBridge, selectMyAor, selectView } from '../state/selectors';
import type { View } from '../state/store';
import { showView } from '../state/ui';

/**
 * The screens: the access link (web, without a token), loading, joining (first run), then the app:
 * contacts on the left, the channel / history / settings on the right, the status bar below.
 *
 * Test hooks: navigation buttons "Channel", "History", "Settings" (`aria-current="page"` on the
 * current one); `data-testid="bridge-banner"` while the daemon is unreachable.
 */
export function App() {
  const bridge = useAppState(selectBridge);
  const synced = useAppState((s) => s.synced);
  const syncError = useAppState((s) => s.syncError);
  const joined = useAppState((s) => s.account?.device !== undefined);

  if (bridge.state === 'needs-access') {
    return (
      <div className="app">
        <AccessScreen reason={bridge.reason} />
      </div>
    );
  }
  if (!synced) {
    return (
      <div className="app">
        <main className="centered-screen" aria-busy="true">
          <p className="muted" role="status">
            {bridge.state === 'open' ? 'Loading…' : bridgeLabel(bridge)}
          </p>
          {syncError ? <ErrorMessage>{syncError}</ErrorMessage> : null}
        </main>
        <StatusBar />
      </div>
    );
  }
  return (
    <div className="app">
      <BridgeBanner />
      {joined ? <MainScreen /> : <JoinScreen />}
      <StatusBar />
    </div>
  );
}

function BridgeBanner() {
  const bridge = useAppState(selectBridge);
  if (bridge.state !== 'reconnecting' && bridge.state !== 'connecting') return null;
  return (
    <div className="banner banner-warning" role="alert" data-testid="bridge-banner">
      {bridgeLabel(bridge)} What you see may be out of date.
    </div>
  );
}

const VIEWS: Array<[View, string]> = [
  ['channel', 'Channel'],
  ['history', 'History'],
  ['settings', 'Settings'],
];

function MainScreen() {
  const store = useAppStore();
  const view = useAppState(selectView);
  const me = useAppState(selectMyAor);
  return (
    <>
      <header className="app-header">
        <span className="app-title">Tsunagu</span>
        <span className="muted app-me">{me}</span>
        <nav aria-label="Views" className="app-nav">
          {VIEWS.map(([v, label]) => (
            <button
              key={v}
              type="button"
              className="nav-button"
              aria-current={view === v ? 'page' : undefined}
              onClick={() => showView(store, v)}
            >
              {label}
            </button>
          ))}
        </nav>
      </header>
      <IncomingRequests />
      <div className="app-body">
        <aside className="sidebar" aria-label="Contacts">
          <ContactList />
        </aside>
        <main className="content">
          {view === 'channel' ? <ChannelPanel /> : view === 'history' ? <HistoryPanel /> : <SettingsPanel />}
        </main>
      </div>
    </>
  );
}
