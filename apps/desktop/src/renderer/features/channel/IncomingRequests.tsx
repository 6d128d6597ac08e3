import type { ChannelView } from '@tsunagu/protocol';
import { useEffect } from 'react';
import { useAppShallow, useAppState, useAppStore, useBridge } from '../../app/context';
import { ErrorMessage } from '../../components/Notice';
import { useAction } from '../../components/useAction';
import { peerKey, peerName, selectIncoming, selectMyAor } from '../../state/selectors';
import { showPeer } from '../../state/ui';

/**
 * Channel requests waiting for an answer, announced as they arrive.
 *
 * Test hooks: each request is a `group` named "Channel request from alice"
 * (`data-testid="incoming-request"`) with the text "alice wants to open a secure channel" and the
 * buttons "Accept" and "Decline".
 */
export function IncomingRequests() {
  const incoming = useAppShallow(selectIncoming);
  const myAor = useAppState(selectMyAor);

  // The window title tells a person in another window that someone is waiting.
  useEffect(() => {
    document.title = incoming.length > 0 ? `(${incoming.length}) Tsunagu` : 'Tsunagu';
  }, [incoming.length]);

  return (
    <div className="incoming" aria-live="assertive" aria-relevant="additions">
      {incoming.map((c) => (
        <IncomingRequest key={c.id} channel={c} name={peerName(c.peer, myAor)} />
      ))}
    </div>
  );
}

function IncomingRequest({ channel, name }: { channel: ChannelView; name: string }) {
  const bridge = useBridge();
  const store = useAppStore();
  const action = useAction();
  const accept = () => {
    showPeer(store, peerKey(channel.peer));
    void action.run(() => bridge.call('channel.accept', { channelId: channel.id }));
  };
  const decline = () => void action.run(() => bridge.call('channel.decline', { channelId: channel.id }));

  return (
    <div
      className="incoming-request"
      role="group"
      aria-label={`Channel request from ${name}`}
      data-testid="incoming-request"
    >
      <p className="incoming-text">
        <strong>{name}</strong> wants to open a secure channel
        <span className="muted incoming-aor"> {peerKey(channel.peer)}</span>
      </p>
      {action.error ? <ErrorMessage>{action.error}</ErrorMessage> : null}
      <div className="button-row">
        <button type="button" className="button-primary" onClick={accept} disabled={action.busy}>
          Accept
        </button>
        <button type="button" onClick={decline} disabled={action.busy}>
          Decline
        </button>
      </div>
    </div>
  );
}
