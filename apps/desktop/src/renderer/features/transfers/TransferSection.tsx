import type { ChannelView } from '@tsunagu/protocol';
import { useRef, useState, type DragEvent, type ReactNode } from 'react';
import { useAppShallow, useAppState, useAppStore, useBridge } from '../../app/context';
import { EmptyState, ErrorMessage } from '../../components/Notice';
import { transfersWith } from '../../state/selectors';
import { dismissUploadError, sendItems, sendPicked } from '../../state/ui';
import { itemsFromDataTransfer, itemsFromFiles } from './dropped';
import { formatBytes, percent } from './format';
import { TransferRow } from './TransferRow';

/**
 * The files exchanged with a peer, and (once the channel is secure) the ways to send more: dropping
 * files or folders from the OS, or the "Send files…" / "Send folder…" buttons (the native dialog in
 * Electron, file inputs in a browser).
 *
 * Test hooks: `data-testid="drop-zone"`; web file inputs `data-testid="file-input"` and
 * `data-testid="folder-input"`; "preparing…" upload status `data-testid="upload-status"`; a `list`
 * named "Transfers" of rows `data-testid="transfer-row"`.
 */
export function TransferSection({
  peer,
  channel,
  name,
}: {
  peer: string;
  channel: ChannelView;
  name: string;
}) {
  const transfers = useAppShallow((s) => transfersWith(s, peer));
  const secure = channel.phase === 'secure';

  const list =
    transfers.length === 0 ? (
      <EmptyState title="No files yet">
        {secure
          ? `Drop files or folders here to send them to ${name}.`
          : 'Files can be sent once the channel is secure.'}
      </EmptyState>
    ) : (
      <ul className="transfer-list" aria-label="Transfers">
        {transfers.map((t) => (
          <TransferRow key={t.id} transfer={t} peerName={name} />
        ))}
      </ul>
    );

  return (
    <section className="transfers" aria-labelledby="files-title">
      <h3 id="files-title" className="section-title">
        Files
      </h3>
      {secure ? (
        <DropZone channelId={channel.id} name={name}>
          <UploadStatus channelId={channel.id} />
          {list}
        </DropZone>
      ) : (
        list
      )}
    </section>
  );
}

function DropZone({ channelId, name, children }: { channelId: string; name: string; children: ReactNode }) {
  const bridge = useBridge();
  const store = useAppStore();
  const [over, setOver] = useState(false);
  // dragenter/dragleave fire for every child crossed; count them to know when the pointer really left.
  const depth = useRef(0);
  const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer.types).includes('Files');

  return (
    <div
      className={`drop-zone${over ? ' drop-zone-active' : ''}`}
      data-testid="drop-zone"
      onDragEnter={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        depth.current++;
        setOver(true);
      }}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        depth.current = 0;
        setOver(false);
        void sendItems(bridge, store, channelId, itemsFromDataTransfer(e.dataTransfer));
      }}
    >
      <div className="drop-hint">
        <p>
          Drop files or folders here to send them to <strong>{name}</strong>, or
        </p>
        <SendButtons channelId={channelId} />
      </div>
      {children}
    </div>
  );
}

function SendButtons({ channelId }: { channelId: string }) {
  const bridge = useBridge();
  const store = useAppStore();
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  const pickFiles = bridge.pickFiles?.bind(bridge);

  if (pickFiles) {
    const pick = async (kind: 'files' | 'folder') =>
      sendPicked(bridge, store, channelId, await pickFiles(kind));
    return (
      <div className="button-row">
        <button type="button" onClick={() => void pick('files')}>
          Send files…
        </button>
        <button type="button" onClick={() => void pick('folder')}>
          Send folder…
        </button>
      </div>
    );
  }

  const picked = (input: HTMLInputElement) => {
    const items = itemsFromFiles(Array.from(input.files ?? []));
    input.value = ''; // picking the same file again must fire change again
    void sendItems(bridge, store, channelId, items);
  };
  return (
    <div className="button-row">
      <button type="button" onClick={() => files.current?.click()}>
        Send files…
      </button>
      <button type="button" onClick={() => folder.current?.click()}>
        Send folder…
      </button>
      <input
        ref={files}
        type="file"
        multiple
        hidden
        data-testid="file-input"
        aria-label="Files to send"
        onChange={(e) => picked(e.currentTarget)}
      />
      <input
        ref={(el) => {
          folder.current = el;
          if (el) el.webkitdirectory = true; // no React prop for it
        }}
        type="file"
        hidden
        data-testid="folder-input"
        aria-label="Folder to send"
        onChange={(e) => picked(e.currentTarget)}
      />
    </div>
  );
}

function UploadStatus({ channelId }: { channelId: string }) {
  const store = useAppStore();
  const upload = useAppState((s) => s.ui.uploads[channelId]);
  if (!upload) return null;
  if (upload.error) {
    return (
      <ErrorMessage onDismiss={() => dismissUploadError(store, channelId)}>
        Could not send: {upload.error}
      </ErrorMessage>
    );
  }
  const p = upload.progress;
  return (
    <div className="upload-status" data-testid="upload-status" role="status">
      <span>
        Preparing…
        {p
          ? ` ${p.filesDone} of ${p.files} files, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytes)}`
          : ''}
      </span>
      <progress max={100} value={p ? percent(p.bytesDone, p.bytes) : 0} aria-label="Preparing files" />
    </div>
  );
}
