/**
 * OS notifications for what needs the person while the window is not in front: a channel request, one
 * refused because its path was not secure end to end, and finished transfers. `noticeFor` decides from one terminal event; `summarise` turns the transfers
 * that finished close together (a folder is many files) into one notification; `Notifier` shows them.
 */
import type { TerminalEvent } from '@tsunagu/protocol';

export type NoticeKind = 'channel-request' | 'refused-insecure' | 'received' | 'sent' | 'failed';

export interface Notice {
  kind: NoticeKind;
  /** Same key, same notice: an event repeated with the same state is not announced twice. */
  key: string;
  /** The peer (channel request) or the file name (transfers). */
  subject: string;
  reason?: string;
}

export interface NotificationText {
  title: string;
  body: string;
}

export function noticeFor(event: TerminalEvent): Notice | undefined {
  if (event.type === 'channel') {
    const c = event.data;
    if (c.direction === 'incoming' && c.phase === 'ringing') {
      return { kind: 'channel-request', key: `channel:${c.id}`, subject: c.peer };
    }
    // Refused by the terminal itself (Route-Security): the person should know someone tried.
    if (c.direction === 'incoming' && c.phase === 'failed' && c.path?.secure === false) {
      return {
        kind: 'refused-insecure',
        key: `channel:${c.id}`,
        subject: c.peer,
        ...(c.path.reason ? { reason: c.path.reason } : {}),
      };
    }
    return undefined;
  }
  if (event.type === 'transfer') {
    const t = event.data;
    const key = `transfer:${t.id}:${t.state}`;
    if (t.state === 'done')
      return { kind: t.direction === 'receive' ? 'received' : 'sent', key, subject: t.name };
    if (t.state === 'failed')
      return { kind: 'failed', key, subject: t.name, ...(t.reason ? { reason: t.reason } : {}) };
  }
  return undefined;
}

const MAX_SUBJECT = 120;
const clip = (s: string) => (s.length > MAX_SUBJECT ? `${s.slice(0, MAX_SUBJECT - 1)}…` : s);
const files = (n: number) => (n === 1 ? '1 file' : `${n} files`);

/** One notification for transfer notices that finished together (never empty). */
export function summarise(notices: readonly Notice[]): NotificationText {
  const of = (kind: NoticeKind) => notices.filter((n) => n.kind === kind);
  const [received, sent, failed] = [of('received'), of('sent'), of('failed')];
  const only = notices.length === 1 ? notices[0] : undefined;
  if (only?.kind === 'received') return { title: 'File received', body: `${clip(only.subject)} (verified)` };
  if (only?.kind === 'sent') return { title: 'File sent', body: clip(only.subject) };
  if (only?.kind === 'failed') {
    return {
      title: 'Transfer failed',
      body: only.reason ? `${clip(only.subject)}: ${clip(only.reason)}` : clip(only.subject),
    };
  }
  const parts = [
    received.length ? `${files(received.length)} received` : '',
    sent.length ? `${files(sent.length)} sent` : '',
    failed.length ? `${failed.length} failed` : '',
  ].filter(Boolean);
  return {
    title: failed.length ? 'Transfers finished, some failed' : 'Transfers finished',
    body: parts.join(', '),
  };
}

export function channelRequestText(notice: Notice): NotificationText {
  if (notice.kind === 'refused-insecure') {
    return {
      title: 'Insecure channel request refused',
      body:
        `${clip(notice.subject)} tried to open a channel, but the path was not secure end to end` +
        (notice.reason ? `: ${clip(notice.reason)}` : ''),
    };
  }
  return { title: 'Channel request', body: `${clip(notice.subject)} wants to open a secure channel` };
}

export interface NotificationLike {
  on(event: 'click', listener: () => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  show(): void;
}

export interface NotifierOptions {
  create(text: NotificationText): NotificationLike;
  /** When the window is in front, the page shows it all; no OS notification. */
  isWindowFocused(): boolean;
  focusWindow(): void;
  /** How long finished transfers are gathered into one notification. */
  batchMs?: number;
}

const SEEN_LIMIT = 2000;

export class Notifier {
  readonly #o: Required<NotifierOptions>;
  readonly #seen = new Set<string>();
  // Shown notifications are referenced until closed: a collected one loses its click handler.
  readonly #live = new Set<NotificationLike>();
  #batch: Notice[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: NotifierOptions) {
    this.#o = { batchMs: 1500, ...options };
  }

  handle(event: TerminalEvent): void {
    const notice = noticeFor(event);
    if (!notice || this.#seen.has(notice.key)) return;
    if (this.#seen.size >= SEEN_LIMIT) this.#seen.clear();
    this.#seen.add(notice.key);
    if (notice.kind === 'channel-request' || notice.kind === 'refused-insecure') {
      this.#show(channelRequestText(notice));
      return;
    }
    this.#batch.push(notice);
    this.#timer ??= setTimeout(() => this.#flush(), this.#o.batchMs);
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#batch = [];
  }

  #flush(): void {
    this.#timer = undefined;
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length > 0) this.#show(summarise(batch));
  }

  #show(text: NotificationText): void {
    if (this.#o.isWindowFocused()) return;
    const n = this.#o.create(text);
    this.#live.add(n);
    n.on('click', () => {
      this.#live.delete(n);
      this.#o.focusWindow();
    });
    n.on('close', () => this.#live.delete(n));
    n.show();
  }
}
