import type { ConnectionView } from '@tsunagu/protocol';
import { useAppState, useBridge } from '../../app/context';
import type { BridgeStatus } from '../../bridge/types';
import { selectBridge, selectConnection } from '../../state/selectors';

/**
 * The connection to the session server (and, in a browser, to the daemon), always visible.
 *
 * Test hooks: `data-testid="connection-status"` with `data-state` = the terminal's connection state
 * (registered, connecting, reconnecting, failed, unenrolled) or `daemon-unreachable` while the web
 * page has lost the daemon; `data-testid="bridge-status"` (web) with `data-state` = the bridge state.
 */
export function StatusBar() {
  const bridge = useBridge();
  const status = useAppState(selectBridge);
  const connection = useAppState(selectConnection);
  const down = status.state !== 'open';
  return (
    <footer className="status-bar" role="status" aria-live="polite" aria-label="Connection status">
      <span
        className={`status-item conn-${down ? 'reconnecting' : connection.state}`}
        data-testid="connection-status"
        data-state={down ? 'daemon-unreachable' : connection.state}
      >
        <span className="status-dot" aria-hidden="true" />
        {down ? 'Server connection unknown while the daemon is unreachable' : connectionLabel(connection)}
      </span>
      {bridge.host === 'web' ? (
        <span
          className={`status-item bridge-${status.state}`}
          data-testid="bridge-status"
          data-state={status.state}
        >
          {bridgeLabel(status)}
        </span>
      ) : null}
    </footer>
  );
}

export function connectionLabel(c: ConnectionView): string {
  const server = c.server ? ` ${c.server}` : '';
  switch (c.state) {
    case 'unenrolled':
      return 'Not joined to a server yet';
    case 'connecting':
      return `Connecting to${server || ' the server'}…`;
    case 'registered':
      return `Registered${c.aor ? ` as ${c.aor}` : ''}${server ? ` on${server}` : ''}`;
    case 'reconnecting':
      return `Reconnecting${c.reason ? ` — ${c.reason}` : '…'}`;
    case 'failed':
      return `Failed${c.reason ? ` — ${c.reason}` : ''}`;
    default:
      return String(c.state);
  }
}

export function bridgeLabel(s: BridgeStatus): string {
  switch (s.state) {
    case 'open':
      return 'Connected to the daemon';
    case 'connecting':
      return 'Connecting to the daemon…';
    case 'reconnecting':
      return `${s.reason[0]?.toUpperCase() ?? ''}${s.reason.slice(1)} — reconnecting…`;
    case 'needs-access':
      return 'Needs an access link';
  }
}
