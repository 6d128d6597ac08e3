/**
 * The terminal's API as every face sees it — the CLI, the daemon's web GUI (over a WebSocket) and the
 * Electron renderer (over IPC): commands with answers, and one ordered event stream whose sequence
 * numbers let a client that missed events notice the gap and resync from a snapshot (the Syncthing
 * rule). Plain JSON only, so the same values cross `contextBridge` and a WebSocket unchanged.
 */

import { MAX_JOIN_LINK_LENGTH } from '../join-link.js';
import type { PathVerdict } from '../route-security/route-security.js';
import type { KeysView } from '../signalling/events.js';

export const API_VERSION = 1;

export type ConnectionState = 'unenrolled' | 'connecting' | 'registered' | 'reconnecting' | 'failed';

export interface ConnectionView {
  state: ConnectionState;
  /** Why it is not registered (shown to the person as it is). */
  reason?: string;
  server?: string;
  aor?: string;
}

export interface DeviceView {
  id: string;
  name: string;
  online: boolean;
}

export interface ContactView {
  user: string;
  aor: string;
  online: boolean;
  devices: DeviceView[];
}

export type ChannelPhase = 'ringing' | 'connecting' | 'secure' | 'failed' | 'declined' | 'ended';

export interface ChannelView {
  id: string;
  direction: 'outgoing' | 'incoming';
  /** The peer as the server asserted it (P-Asserted-Identity), never as the peer claimed. */
  peer: string;
  phase: ChannelPhase;
  /** Short code derived from both certificate fingerprints, the same on both ends. */
  verificationCode?: string;
  reason?: string;
  /**
   * The path the call's signalling took, as the Route-Security header showed it (caller first, then
   * each server), and whether every hop of it was secure. Known from the request on the callee's side
   * and from the answer (or the refusal) on the caller's.
   */
  path?: PathVerdict;
  /**
   * Once secure: the domain whose CA the peer's certificate was checked against (issued by it, naming
   * the peer, not revoked) besides its signalled fingerprint — our own, or a peer domain's fetched
   * through the path and vouched for by our server. Absent when the fingerprint alone pinned it.
   */
  issuer?: string;
}

export type TransferState = 'offered' | 'waiting' | 'active' | 'done' | 'failed' | 'cancelled' | 'declined';

export interface TransferView {
  id: string;
  channelId: string;
  direction: 'send' | 'receive';
  /** Relative path (folders) or file name. */
  name: string;
  size: number;
  bytesDone: number;
  /** Bytes per second, smoothed. */
  rate: number;
  /** Seconds left at the current rate; null when unknown. */
  etaSeconds: number | null;
  state: TransferState;
  reason?: string;
  /** Where the received file was written, once verified. */
  savedAs?: string;
}

/** This device, once it has joined a server. */
export interface DeviceInfo {
  aor: string;
  /** The device name the server knows it by. */
  device?: string;
  server: string;
  /** SHA-256 fingerprint of the device's certificate (RFC 8122 form), what peers check. */
  fingerprint: string;
  /** ISO 8601 expiry of the device's certificate. */
  certificateExpires: string;
  /**
   * Whether the certificate is one the deployment CA issued (`ca-issued`), is being asked for
   * (`issuing`), is still to be asked for (`needed`), or the last request failed (`failed`, with why).
   */
  certificate?: { state: 'ca-issued' | 'needed' | 'issuing' | 'failed'; renewAt?: string; error?: string };
  /** The pinned deployment CA, `sha256:AB:…`. */
  caFingerprint: string;
}

export interface SettingsView {
  /** Where received files are written. */
  downloadDir: string;
  /** Users (`bob`) or AORs whose channel requests (and files) are accepted without asking. */
  acceptFrom: string[];
}

export interface AccountView {
  /** Absent until the device joins a server. */
  device?: DeviceInfo;
  settings: SettingsView;
  /** True when this host runs a session server of its own ("start a server on this computer"). */
  localServer: boolean;
}

/** One finished transfer, as kept in the history. */
export interface HistoryEntry {
  at: string;
  direction: 'send' | 'receive';
  peer: string;
  name: string;
  size: number;
  state: 'done' | 'failed' | 'cancelled' | 'declined';
  reason?: string;
  savedAs?: string;
}

export interface Snapshot {
  /** The sequence number of the last event the snapshot includes. */
  seq: number;
  version: typeof API_VERSION;
  account: AccountView;
  connection: ConnectionView;
  contacts: ContactView[];
  channels: ChannelView[];
  transfers: TransferView[];
}

export type TerminalEvent =
  | { seq: number; type: 'account'; data: AccountView }
  | { seq: number; type: 'connection'; data: ConnectionView }
  | { seq: number; type: 'contacts'; data: ContactView[] }
  | { seq: number; type: 'channel'; data: ChannelView }
  | { seq: number; type: 'transfer'; data: TransferView };

/** Commands and their answers. */
export interface Commands {
  snapshot: { params: Record<string, never>; result: Snapshot };
  /** Joins a server with an invite link (`tsunagu://join?…`); the server is checked against its CA pin. */
  'account.join': { params: { link: string }; result: { aor: string; server: string } };
  /** Starts a session server on this computer and joins it as its first user (a quick trial). */
  'account.startLocalServer': { params: Record<string, never>; result: { aor: string; server: string } };
  'settings.update': {
    params: { downloadDir?: string; acceptFrom?: string[] };
    result: SettingsView;
  };
  /** Finished transfers, newest first. */
  'history.list': { params: Record<string, never>; result: { entries: HistoryEntry[] } };
  /**
   * The key directory: a member's current certificates and public keys, fetched through the signalling
   * and checked against the CA. Someone hidden by the policy is `not-found`, exactly like nobody.
   */
  'keys.get': { params: { user: string }; result: KeysView };
  'channel.open': { params: { user: string }; result: { channelId: string } };
  'channel.accept': { params: { channelId: string }; result: Record<string, never> };
  'channel.decline': { params: { channelId: string }; result: Record<string, never> };
  'channel.close': { params: { channelId: string }; result: Record<string, never> };
  'transfer.send': { params: { channelId: string; paths: string[] }; result: { transferIds: string[] } };
  'transfer.accept': { params: { transferId: string }; result: Record<string, never> };
  'transfer.decline': { params: { transferId: string }; result: Record<string, never> };
  'transfer.cancel': { params: { transferId: string }; result: Record<string, never> };
}

export type CommandName = keyof Commands;

export interface CommandRequest<N extends CommandName = CommandName> {
  id: number;
  command: N;
  params: Commands[N]['params'];
}

export type CommandReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string; message: string } };

/** What a host implements and what every face calls. */
export interface TerminalApi {
  call<N extends CommandName>(command: N, params: Commands[N]['params']): Promise<Commands[N]['result']>;
  /** Every event from now on, in order; returns an unsubscribe function. */
  subscribe(listener: (event: TerminalEvent) => void): () => void;
}

export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const USER = /^[a-z0-9][a-z0-9._-]{0,63}(@[a-z0-9.-]{1,253})?$/;
const ACCEPT = /^(sip:)?[a-z0-9][a-z0-9._-]{0,63}(@[a-z0-9.-]{1,253})?$/;
const MAX_PATHS = 1000;
const MAX_PATH_LENGTH = 4096;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function str(params: Record<string, unknown>, key: string, pattern: RegExp): string {
  const v = params[key];
  if (typeof v !== 'string' || !pattern.test(v))
    throw new CommandError('bad-params', `"${key}" is missing or malformed`);
  return v;
}

/**
 * Validates a command that arrived from outside the process (a WebSocket message, an IPC call):
 * unknown commands and malformed parameters get a precise error instead of reaching the core.
 */
export function parseCommand(input: unknown): CommandRequest {
  if (!isRecord(input)) throw new CommandError('bad-request', 'a command must be a JSON object');
  const { id, command, params = {} } = input;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new CommandError('bad-request', '"id" must be a non-negative integer');
  }
  if (!isRecord(params)) throw new CommandError('bad-request', '"params" must be an object');
  const p = params;
  switch (command) {
    case 'snapshot':
    case 'account.startLocalServer':
    case 'history.list':
      return { id, command, params: {} };
    case 'account.join': {
      const link = p.link;
      if (
        typeof link !== 'string' ||
        link.length > MAX_JOIN_LINK_LENGTH ||
        !link.startsWith('tsunagu://join?')
      ) {
        throw new CommandError('bad-params', '"link" must be a tsunagu://join?… invite link');
      }
      return { id, command, params: { link } };
    }
    case 'settings.update': {
      const out: Commands['settings.update']['params'] = {};
      if (p.downloadDir !== undefined) {
        const d = p.downloadDir;
        if (typeof d !== 'string' || d.length === 0 || d.length > MAX_PATH_LENGTH || d.includes('\0')) {
          throw new CommandError('bad-params', '"downloadDir" must be a folder path');
        }
        out.downloadDir = d;
      }
      if (p.acceptFrom !== undefined) {
        const a = p.acceptFrom;
        if (
          !Array.isArray(a) ||
          a.length > MAX_PATHS ||
          !a.every((x) => typeof x === 'string' && ACCEPT.test(x))
        ) {
          throw new CommandError('bad-params', '"acceptFrom" must be a list of user names or sip: addresses');
        }
        out.acceptFrom = [...new Set(a as string[])];
      }
      return { id, command, params: out };
    }
    case 'channel.open':
    case 'keys.get':
      return { id, command, params: { user: str(p, 'user', USER) } };
    case 'channel.accept':
    case 'channel.decline':
    case 'channel.close':
      return { id, command, params: { channelId: str(p, 'channelId', ID) } };
    case 'transfer.accept':
    case 'transfer.decline':
    case 'transfer.cancel':
      return { id, command, params: { transferId: str(p, 'transferId', ID) } };
    case 'transfer.send': {
      const paths = p.paths;
      if (
        !Array.isArray(paths) ||
        paths.length === 0 ||
        paths.length > MAX_PATHS ||
        !paths.every(
          (x) => typeof x === 'string' && x.length > 0 && x.length <= MAX_PATH_LENGTH && !x.includes('\0'),
        )
      ) {
        throw new CommandError('bad-params', `"paths" must be 1 to ${MAX_PATHS} non-empty paths`);
      }
      return { id, command, params: { channelId: str(p, 'channelId', ID), paths: paths as string[] } };
    }
    default:
      throw new CommandError(
        'unknown-command',
        `unknown command ${JSON.stringify(String(command)).slice(0, 80)}`,
      );
  }
}

/**
 * Tracks the event stream on the receiving side: says when an event was missed (a gap in `seq`), so
 * the client fetches a snapshot and continues from its `seq`.
 */
export class EventSequence {
  #last: number | undefined;

  /** Starts (or restarts) from a snapshot. */
  reset(snapshotSeq: number): void {
    this.#last = snapshotSeq;
  }

  /** 'apply' the event, 'skip' one already covered by the snapshot, or 'resync' after a gap. */
  accept(event: { seq: number }): 'apply' | 'skip' | 'resync' {
    if (this.#last === undefined) return 'resync';
    if (event.seq <= this.#last) return 'skip';
    if (event.seq !== this.#last + 1) return 'resync';
    this.#last = event.seq;
    return 'apply';
  }
}
