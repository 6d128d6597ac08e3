import {
  API_VERSION,
  type CommandName,
  type Commands,
  type Snapshot,
  type TerminalEvent,
} from '@tsunagu/protocol';
import { BridgeError, type Bridge, type BridgeStatus, type DroppedItem } from './types';

/**
 * An in-memory terminal behind the Bridge interface, for tests and for looking at the UI without a
 * daemon. It keeps its own snapshot up to date with what it emits, so a resync sees the same world.
 */

type Handler<N extends CommandName> = (
  params: Commands[N]['params'],
) => Commands[N]['result'] | Promise<Commands[N]['result']>;

export interface RecordedCall {
  command: CommandName;
  params: unknown;
}

export interface FakeBridge extends Bridge {
  readonly calls: RecordedCall[];
  /** The world as the fake terminal sees it; `snapshot` returns a copy. */
  state: Snapshot;
  /** Answers `command` with `fn` (throw a BridgeError to fail it). */
  handle<N extends CommandName>(command: N, fn: Handler<N>): void;
  /** Emits the next event (and records it in `state`); `{ lost: true }` advances seq without delivering. */
  emit(event: Omit<TerminalEvent, 'seq'>, o?: { lost?: boolean }): TerminalEvent;
  /** Delivers an event as it is (a replay, a duplicate) without touching `state`. */
  deliver(event: TerminalEvent): void;
  setStatus(status: BridgeStatus): void;
  /** Calls of the Electron-only members (`pickFiles`, `showInFolder`) with their argument. */
  readonly nativeCalls: Array<[action: string, arg: string]>;
  /** Items given to sendDropped, per call. */
  readonly dropped: Array<{ channelId: string; items: DroppedItem[] }>;
  /** Delivers a deep link to onJoinLink listeners. */
  joinLink(link: string): void;
  callsOf<N extends CommandName>(command: N): Array<Commands[N]['params']>;
}

export const CA_FINGERPRINT = `sha256:${Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase().padStart(2, '0')).join(':')}`;

export function makeSnapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    seq: 0,
    version: API_VERSION,
    account: {
      device: {
        aor: 'sip:alice@example.org',
        device: 'alice-laptop',
        server: 'sip.example.org:5061',
        fingerprint: 'AB:CD:EF:01',
        certificateExpires: '2026-12-24T10:00:00.000Z',
        certificate: { state: 'ca-issued', renewAt: '2026-12-14T10:00:00.000Z' },
        caFingerprint: CA_FINGERPRINT,
      },
      settings: { downloadDir: '/home/alice/Downloads', acceptFrom: [] },
      localServer: false,
    },
    connection: { state: 'registered', server: 'sip.example.org:5061', aor: 'sip:alice@example.org' },
    contacts: [],
    channels: [],
    transfers: [],
    ...over,
  };
}

function upsert<T extends { id: string }>(list: T[], item: T): T[] {
  const i = list.findIndex((x) => x.id === item.id);
  return i < 0 ? [...list, item] : list.map((x, j) => (j === i ? item : x));
}

export function createFakeBridge(
  o: { host?: 'electron' | 'web'; snapshot?: Snapshot; status?: BridgeStatus; native?: boolean } = {},
): FakeBridge {
  const listeners = new Set<(e: TerminalEvent) => void>();
  const statusListeners = new Set<(s: BridgeStatus) => void>();
  const linkListeners = new Set<(l: string) => void>();
  const handlers = new Map<CommandName, Handler<CommandName>>();
  const calls: RecordedCall[] = [];
  const dropped: FakeBridge['dropped'] = [];
  const nativeCalls: FakeBridge['nativeCalls'] = [];
  let status: BridgeStatus = o.status ?? { state: 'open' };

  const bridge: FakeBridge = {
    host: o.host ?? 'web',
    state: o.snapshot ?? makeSnapshot(),
    calls,
    dropped,
    nativeCalls,
    get status() {
      return status;
    },
    onStatus(l) {
      statusListeners.add(l);
      return () => statusListeners.delete(l);
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async call(command, params) {
      calls.push({ command, params });
      await Promise.resolve(); // answers are never synchronous on a real host either
      if (status.state !== 'open') throw new BridgeError('disconnected', 'not connected to the daemon');
      const h = handlers.get(command);
      if (h) return (await h(params as never)) as never;
      if (command === 'snapshot') return structuredClone(bridge.state) as never;
      if (command === 'history.list') return { entries: [] } as never;
      return {} as never;
    },
    handle(command, fn) {
      handlers.set(command, fn as unknown as Handler<CommandName>);
    },
    emit(partial, opts = {}) {
      const event = { ...partial, seq: bridge.state.seq + 1 } as TerminalEvent;
      const s = bridge.state;
      bridge.state = { ...s, seq: event.seq };
      if (event.type === 'account') bridge.state.account = event.data;
      if (event.type === 'connection') bridge.state.connection = event.data;
      if (event.type === 'contacts') bridge.state.contacts = event.data;
      if (event.type === 'channel') bridge.state.channels = upsert(s.channels, event.data);
      if (event.type === 'transfer') bridge.state.transfers = upsert(s.transfers, event.data);
      if (!opts.lost) for (const l of [...listeners]) l(event);
      return event;
    },
    deliver(event) {
      for (const l of [...listeners]) l(event);
    },
    setStatus(next) {
      status = next;
      for (const l of [...statusListeners]) l(next);
    },
    async sendDropped(channelId, items) {
      dropped.push({ channelId, items });
      const { transferIds } = await bridge.call('transfer.send', {
        channelId,
        paths: items.map((i) => i.name),
      });
      return transferIds;
    },
    joinLink(link) {
      for (const l of [...linkListeners]) l(link);
    },
    callsOf<N extends CommandName>(command: N) {
      return calls.filter((c) => c.command === command).map((c) => c.params as Commands[N]['params']);
    },
    close: () => undefined,
  };
  if (o.native) {
    bridge.pickFiles = async (kind) => {
      nativeCalls.push(['pickFiles', kind]);
      return kind === 'folder' ? ['/home/alice/photos'] : ['/home/alice/a.txt'];
    };
    bridge.showInFolder = async (path) => {
      nativeCalls.push(['showInFolder', path]);
    };
    bridge.onJoinLink = (l) => {
      linkListeners.add(l);
      return () => linkListeners.delete(l);
    };
  }
  return bridge;
}
