import type { HistoryEntry } from '@tsunagu/protocol';
import { useEffect, useState } from 'react';
import { useAppState, useBridge } from '../../app/context';
import { errorMessage } from '../../bridge/types';
import { EmptyState, ErrorMessage } from '../../components/Notice';
import { peerName, selectHistoryStamp, selectMyAor } from '../../state/selectors';
import { SavedAs } from '../transfers/TransferRow';
import { formatBytes } from '../transfers/format';

/**
 * Finished transfers, newest first, as the terminal keeps them; fetched again whenever a transfer
 * finishes (the store's historyStamp).
 *
 * Test hooks: a `table` named "Transfer history"; rows `data-testid="history-row"`.
 */
export function HistoryPanel() {
  const bridge = useBridge();
  const stamp = useAppState(selectHistoryStamp);
  const myAor = useAppState(selectMyAor);
  const [entries, setEntries] = useState<HistoryEntry[]>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let live = true;
    bridge.call('history.list', {}).then(
      (r) => {
        if (!live) return;
        setEntries(r.entries);
        setError(undefined);
      },
      (e: unknown) => live && setError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, [bridge, stamp]);

  return (
    <section className="history" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      {error ? <ErrorMessage>Could not load the history: {error}</ErrorMessage> : null}
      {entries === undefined ? (
        error ? null : (
          <p className="muted" role="status">
            Loading…
          </p>
        )
      ) : entries.length === 0 ? (
        <EmptyState title="No transfers yet">Files you send and receive are listed here.</EmptyState>
      ) : (
        <table className="history-table" aria-label="Transfer history">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">File</th>
              <th scope="col">With</th>
              <th scope="col">Size</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e, i) => (
              <tr key={`${e.at}-${i}`} data-testid="history-row">
                <td>
                  <time dateTime={e.at}>{new Date(e.at).toLocaleString()}</time>
                </td>
                <td>
                  <span
                    className="transfer-direction"
                    aria-label={e.direction === 'send' ? 'Sent' : 'Received'}
                  >
                    {e.direction === 'send' ? '↑' : '↓'}
                  </span>{' '}
                  {e.name}
                  {e.savedAs ? <SavedAs path={e.savedAs} name={e.name} /> : null}
                </td>
                <td>{peerName(e.peer, myAor)}</td>
                <td>{formatBytes(e.size)}</td>
                <td className={`state-${e.state}`}>
                  {RESULT[e.state]}
                  {e.reason ? `: ${e.reason}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const RESULT: Record<HistoryEntry['state'], string> = {
  done: 'Done — verified',
  failed: 'Failed',
  cancelled: 'Cancelled',
  declined: 'Declined',
};
