import { describePath, type ChannelView, type PathVerdict } from '@tsunagu/protocol';
import { useAppState, useAppStore, useBridge } from '../../app/context';
import { EmptyState, ErrorMessage } from '../../components/Notice';
import { useAction } from '../../components/useAction';
import {
  channelStatus,
  isActive,
  latestChannelOf,
  peerKey,
  peerName,
  selectMyAor,
  selectSelected,
} from '../../state/selectors';
import { selectContact } from '../../state/ui';
import { TransferSection } from '../transfers/TransferSection';

/**
 * The channel with the selected contact: its state, and once secure, who is on the other end (as the
 * server asserted it), the verification code to compare aloud, and the files.
 *
 * Test hooks: `data-testid="channel-state"` (e.g. "Secure — verified", "Declined by bob",
 * "Failed: bob is offline"), `data-testid="verification-code"` ("123 456"), `data-testid="channel-peer"`
 * (the asserted identity, `sip:bob@example.org`), `data-testid="channel-issuer"` (whose certificate
 * authority checked the peer's certificate), `data-testid="channel-path"` with `data-secure`
 * ("true" / "false": the signalling path, hop by hop, from the Route-Security header); buttons "Close
 * channel", "Cancel", "Open a secure channel" / "Try again".
 */
export function ChannelPanel() {
  const peer = useAppState(selectSelected);
  if (!peer) {
    return (
      <EmptyState title="No channel open">
        Choose a contact to open a secure channel. Files can be sent once it shows “Secure — verified”.
      </EmptyState>
    );
  }
  return <PeerChannel key={peer} peer={peer} />;
}

function PeerChannel({ peer }: { peer: string }) {
  const bridge = useBridge();
  const store = useAppStore();
  const channel = useAppState((s) => latestChannelOf(s, peer));
  const contact = useAppState((s) => s.contacts.find((c) => peerKey(c.aor) === peer));
  const opening = useAppState((s) => (s.ui.opening?.peer === peer ? s.ui.opening : undefined));
  const myAor = useAppState(selectMyAor);
  const close = useAction();

  const name = contact?.user ?? peerName(peer, myAor);
  const active = isActive(channel);
  const status = channelStatus(channel, name);
  const label = opening?.error
    ? `Failed: ${opening.error}`
    : opening && !active
      ? `Opening a channel to ${name}…`
      : status.label;
  const kind = opening?.error ? 'failed' : opening && !active ? 'connecting' : status.kind;

  const open = () => void selectContact(bridge, store, contact?.user ?? name, contact?.aor ?? `sip:${peer}`);
  const closeChannel = (c: ChannelView) =>
    void close.run(() => bridge.call('channel.close', { channelId: c.id }));

  return (
    <section className="channel-panel" aria-labelledby="channel-title">
      <header className="channel-header">
        <div>
          <h2 id="channel-title">{name}</h2>
          <p className="muted">
            {peer}
            {contact ? ` · ${contact.online ? 'online' : 'offline'}` : ''}
          </p>
        </div>
        <p className={`channel-state state-${kind}`} data-testid="channel-state" role="status">
          {label}
        </p>
      </header>

      {channel?.path ? <ChannelPath path={channel.path} /> : null}

      {channel?.phase === 'secure' ? (
        <SecureDetails
          channel={channel}
          name={name}
          onClose={() => closeChannel(channel)}
          busy={close.busy}
        />
      ) : null}

      {close.error ? <ErrorMessage onDismiss={close.clear}>{close.error}</ErrorMessage> : null}

      <div className="button-row">
        {channel &&
        channel.direction === 'outgoing' &&
        (channel.phase === 'ringing' || channel.phase === 'connecting') ? (
          <button type="button" onClick={() => closeChannel(channel)} disabled={close.busy}>
            Cancel
          </button>
        ) : null}
        {!active && !(opening && !opening.error) ? (
          <button type="button" className="button-primary" onClick={open}>
            {channel || opening?.error ? 'Try again' : 'Open a secure channel'}
          </button>
        ) : null}
      </div>

      {channel ? <TransferSection peer={peer} channel={channel} name={name} /> : null}
    </section>
  );
}

/**
 * The path the channel's signalling took (caller first, then each server): one compact line, and when a
 * hop was not secure, why, in words.
 */
function ChannelPath({ path }: { path: PathVerdict }) {
  return (
    <p
      className={`channel-path ${path.secure ? 'path-secure' : 'path-insecure'}`}
      data-testid="channel-path"
      data-secure={String(path.secure)}
    >
      <span className="muted">Path: </span>
      {path.secure ? (
        <code>{describePath(path)}</code>
      ) : (
        <>
          {path.hops.length > 0 ? <code>{path.hops.join(' → ')}</code> : null}
          {path.hops.length > 0 ? ' — ' : null}
          <strong>not secure end to end</strong>
          {path.reason ? `: ${path.reason}` : null}
        </>
      )}
    </p>
  );
}

function SecureDetails({
  channel,
  name,
  onClose,
  busy,
}: {
  channel: ChannelView;
  name: string;
  onClose: () => void;
  busy: boolean;
}) {
  return (
    <div className="secure-details">
      <dl className="facts">
        <dt>Identity confirmed by your server</dt>
        <dd>
          <code data-testid="channel-peer">{channel.peer}</code>
        </dd>
        <dt>Their certificate</dt>
        <dd data-testid="channel-issuer">
          {channel.issuer
            ? `issued by ${channel.issuer}’s certificate authority`
            : 'pinned by its fingerprint only (their domain’s certificate authority could not be fetched)'}
        </dd>
      </dl>
      {channel.verificationCode ? (
        <div className="verification">
          <p id="verification-hint" className="muted">
            Verification code — read it aloud with {name}; theirs must be the same:
          </p>
          <p
            className="verification-code"
            data-testid="verification-code"
            aria-describedby="verification-hint"
          >
            {channel.verificationCode}
          </p>
        </div>
      ) : null}
      <button type="button" onClick={onClose} disabled={busy}>
        Close channel
      </button>
    </div>
  );
}
