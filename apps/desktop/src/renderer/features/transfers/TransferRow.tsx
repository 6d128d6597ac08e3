import type { TransferView } from '@tsunagu/protocol';
import { memo } from 'react';
import { useBridge } from '../../app/context';
import { ErrorMessage } from '../../components/Notice';
import { useAction } from '../../components/useAction';
import { formatBytes, formatDuration, formatRate, percent } from './format';

/**
 * One file being sent or received. Memoised: a progress event replaces one transfer's view, so only
 * that row renders again, not every row of the list.
 *
 * Test hooks: `data-testid="transfer-row"` with `data-state` (offered, waiting, active, done, …) and
 * `data-direction`; a `progressbar` named "<file> progress" (aria-valuenow = percent); buttons whose
 * names start with "Accept", "Decline", "Cancel", "Show in folder"; the saved path
 * `data-testid="saved-as"`.
 */
export const TransferRow = memo(function TransferRow({
  transfer: t,
  peerName,
}: {
  transfer: TransferView;
  peerName: string;
}) {
  const bridge = useBridge();
  const action = useAction();
  const pct = t.state === 'done' ? 100 : percent(t.bytesDone, t.size);
  const running = t.state === 'active';
  const decide = t.direction === 'receive' && t.state === 'offered';
  const cancellable = !decide && (t.state === 'offered' || t.state === 'waiting' || t.state === 'active');
  const id = { transferId: t.id };

  return (
    <li
      className={`transfer transfer-${t.state}`}
      data-testid="transfer-row"
      data-state={t.state}
      data-direction={t.direction}
    >
      <div className="transfer-head">
        <span className="transfer-direction" aria-label={t.direction === 'send' ? 'Sending' : 'Receiving'}>
          {t.direction === 'send' ? '↑' : '↓'}
        </span>
        <span className="transfer-name" title={t.name}>
          {t.name}
        </span>
        <span className={`transfer-state state-${t.state}`}>{stateLabel(t, peerName)}</span>
      </div>
      <progress
        max={100}
        value={pct}
        aria-valuenow={pct}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-label={`${t.name} progress`}
      />
      <div className="transfer-meta">
        <span>
          {formatBytes(t.bytesDone)} of {formatBytes(t.size)}
        </span>
        {running ? (
          <>
            <span>{formatRate(t.rate)}</span>
            <span>{formatDuration(t.etaSeconds)} left</span>
          </>
        ) : null}
      </div>
      {t.savedAs ? <SavedAs path={t.savedAs} name={t.name} /> : null}
      {action.error ? <ErrorMessage onDismiss={action.clear}>{action.error}</ErrorMessage> : null}
      {decide || cancellable ? (
        <div className="button-row">
          {decide ? (
            <>
              <button
                type="button"
                className="button-primary"
                aria-label={`Accept ${t.name}`}
                disabled={action.busy}
                onClick={() => void action.run(() => bridge.call('transfer.accept', id))}
              >
                Accept
              </button>
              <button
                type="button"
                aria-label={`Decline ${t.name}`}
                disabled={action.busy}
                onClick={() => void action.run(() => bridge.call('transfer.decline', id))}
              >
                Decline
              </button>
            </>
          ) : (
            <button
              type="button"
              aria-label={`Cancel ${t.name}`}
              disabled={action.busy}
              onClick={() => void action.run(() => bridge.call('transfer.cancel', id))}
            >
              Cancel
            </button>
          )}
        </div>
      ) : null}
    </li>
  );
});

/** Electron reveals the file; in a browser the path is shown, to find on the daemon's computer. */
export function SavedAs({ path, name }: { path: string; name: string }) {
  const bridge = useBridge();
  const action = useAction();
  const show = bridge.showInFolder?.bind(bridge);
  return (
    <div className="saved-as">
      <span className="muted">Saved as </span>
      <code data-testid="saved-as">{path}</code>
      {show ? (
        <button
          type="button"
          className="button-quiet"
          aria-label={`Show in folder: ${name}`}
          onClick={() => void action.run(() => show(path))}
        >
          Show in folder
        </button>
      ) : null}
      {action.error ? <ErrorMessage onDismiss={action.clear}>{action.error}</ErrorMessage> : null}
    </div>
  );
}

function stateLabel(t: TransferView, peer: string): string {
  const why = t.reason ? `: ${t.reason}` : '';
  switch (t.state) {
    case 'offered':
      return t.direction === 'receive' ? `${peer} offers this file` : 'Offered';
    case 'waiting':
      return t.direction === 'send' ? `Waiting for ${peer}…` : 'Waiting…';
    case 'active':
      return `${t.direction === 'send' ? 'Sending' : 'Receiving'} · ${percent(t.bytesDone, t.size)}%`;
    case 'done':
      return t.direction === 'send' ? 'Sent — verified' : 'Received — verified';
    case 'failed':
      return `Failed${why}`;
    case 'cancelled':
      return `Cancelled${why}`;
    case 'declined':
      return t.direction === 'send' ? `Declined by ${peer}` : 'Declined';
    default:
      return String(t.state);
  }
}
