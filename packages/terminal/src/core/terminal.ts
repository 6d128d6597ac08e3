import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  API_VERSION,
  CommandError,
  type AccountView,
  type ChannelView,
  type CommandName,
  type Commands,
  type ConnectionView,
  type ContactView,
  type KeysView,
  type SettingsView,
  type Snapshot,
  type TerminalApi,
  type TerminalEvent,
  type TransferView,
} from '@tsunagu/protocol';
import {
  caIssuedPeerCheck,
  channelCredentials,
  type ChannelCredentials,
  type ChannelSetupOptions,
} from '../channel/index.js';
import type { DeviceCredentials } from '../enroll/index.js';
import type { Profile } from '../identity/index.js';
import { CertificateKeeper, type CertificateState } from '../identity/renewal.js';
import { SecureChannel } from '../session/secure-channel.js';
import { appendHistory, readHistory } from './history.js';
import {
  Signalling,
  type IncomingCall,
  type InsecureCall,
  type SignallingOptions,
  type SignallingStatus,
} from '../sip/index.js';
import {
  TransferSession,
  type IncomingTransfer,
  type OutgoingTransfer,
  type Transfer,
  type TransferOutcome,
  type TransferState as EngineState,
} from '../transfer/index.js';

/**
 * The terminal: one object behind every face (CLI, daemon web GUI, Electron). It owns the signalling,
 * the channels and their state, and publishes every change as one ordered event stream.
 */
export interface TerminalOptions {
  profile: Profile;
  credentials: DeviceCredentials;
  /** Users (`bob`) or AORs (`sip:bob@example.org`) whose channel requests are accepted without asking. */
  acceptFrom?: readonly string[];
  /** Where received files go (default: the profile's setting, else ~/Downloads). */
  downloadDir?: string;
  /** Accept offered files without asking (from peers in acceptFrom only). */
  autoAcceptFiles?: boolean;
  /**
   * How many finished channels and finished transfers the snapshot keeps (default 200 each): a daemon
   * runs for months, and everything older is in the history file.
   */
  keepFinished?: number;
  /** Channel setup overrides (tests pass loopback addresses). */
  channel?: Partial<Omit<ChannelSetupOptions, 'credentials'>>;
  signalling?: Omit<Partial<SignallingOptions>, 'server' | 'ca' | 'caFingerprint' | 'domain' | 'user'>;
}

interface ChannelEntry {
  view: ChannelView;
  secure: SecureChannel | undefined;
  /** An incoming request waiting for the person's decision. */
  pending: IncomingCall | undefined;
  /** The file-transfer session over the channel, once it is secure. */
  files: TransferSession | undefined;
  trusted: boolean;
  /** The domain whose CA the peer's certificate is checked against (see ChannelView.issuer). */
  issuer?: string;
}

interface TransferEntry {
  view: TransferView;
  transfer: Transfer;
}

/** The engine's detailed states, as the API's coarser ones. */
const VIEW_STATE: Record<EngineState, TransferView['state']> = {
  opening: 'waiting',
  offered: 'waiting',
  pending: 'offered',
  preparing: 'active',
  sending: 'active',
  receiving: 'active',
  finishing: 'active',
  verifying: 'active',
  verified: 'done',
  declined: 'declined',
  cancelled: 'cancelled',
  failed: 'failed',
  interrupted: 'failed',
};

/** The settings in force: this run's overrides, else the profile's saved ones, else the defaults. */
export function effectiveSettings(
  profile: Profile,
  overrides: Pick<TerminalOptions, 'downloadDir' | 'acceptFrom'>,
): SettingsView {
  const saved = profile.data.settings;
  return {
    downloadDir: overrides.downloadDir ?? saved.downloadDir ?? join(homedir(), 'Downloads'),
    acceptFrom: [...(overrides.acceptFrom ?? saved.acceptFrom ?? [])],
  };
}

const newId = (): string => randomBytes(6).toString('base64url');
const RESUME_ATTEMPTS = 4;
const FINAL_PHASES: ReadonlySet<ChannelView['phase']> = new Set(['failed', 'declined', 'ended']);
const RESUME_DELAY_MS = 250;
/** How long a peer domain's CA, once fetched, is used without asking again. */
const PEER_CA_TTL_MS = 10 * 60_000;

export class Terminal implements TerminalApi {
  readonly signalling: Signalling;
  /** Keeps this device's certificate one the deployment CA issued. */
  readonly certificates: CertificateKeeper;
  #credentials: ChannelCredentials;
  /**
   * Fingerprints (RFC 8122 form) each domain's CA revoked, pushed with that domain's contact list; a
   * domain's list applies to its own members only.
   */
  readonly #revoked = new Map<string, ReadonlySet<string>>();
  /** Peer domains' CA certificates (PEM) as the key directory delivered them, for a while. */
  readonly #peerCas = new Map<string, { pem: string; until: number }>();
  readonly #channels = new Map<string, ChannelEntry>();
  readonly #transfers = new Map<string, TransferEntry>();
  /** Interrupted outgoing transfers waiting for a new channel to their peer, by peer user. */
  readonly #toResume = new Map<string, { transfers: OutgoingTransfer[]; attempt: number }>();
  #stopped = false;
  /** History lines being written; stop() waits for them. */
  readonly #writes = new Set<Promise<void>>();
  readonly #listeners = new Set<(e: TerminalEvent) => void>();
  #seq = 0;
  #connection: ConnectionView = { state: 'connecting' };
  #contacts: ContactView[] = [];
  #settings: SettingsView;

  private constructor(private readonly o: TerminalOptions) {
    const identity = o.profile.identity;
    this.#credentials = channelCredentials(identity);
    this.#settings = effectiveSettings(o.profile, o);
    this.signalling = Signalling.fromCredentials(o.credentials, {
      // The CA-issued certificate authenticates the connection itself (the secret stays the fallback).
      clientContext: () =>
        this.certificates.usable
          ? identity.secureContext({ ca: o.credentials.caPem, minVersion: 'TLSv1.2' })
          : undefined,
      ...o.signalling,
    });
    this.certificates = new CertificateKeeper({
      identity,
      caPem: o.credentials.caPem,
      aor: o.credentials.aor,
      source: this.signalling,
      log: o.profile.log,
    });
    this.certificates.on('state', (s) => {
      if (s.state === 'ca-issued') this.#credentials = channelCredentials(identity);
      this.#emit({ type: 'account', data: this.account() });
    });
    this.signalling.on('registered', () => this.certificates.registered());
    this.signalling.on('revoked', (list, domain) => this.#onRevoked(list, domain));
    this.#connection = { state: 'connecting', server: o.credentials.server, aor: o.credentials.aor };
    this.signalling.on('state', (s) => this.#onState(s));
    this.signalling.on('contacts', (list) => {
      this.#contacts = list.map((c) => ({
        user: c.user,
        aor: c.aor,
        online: c.online,
        devices: c.devices.map((d) => ({ ...d })),
      }));
      this.#emit({ type: 'contacts', data: this.#contacts });
    });
    this.signalling.on('incoming', (call) => this.#onIncoming(call));
    this.signalling.on('insecure', (call) => this.#onInsecure(call));
  }

  /** Starts signalling; resolves once registered (or rejects when the server refuses for good). */
  static async start(o: TerminalOptions): Promise<Terminal> {
    const t = new Terminal(o);
    await t.signalling.start();
    return t;
  }

  /**
   * Starts signalling without waiting for it: for long-running hosts (daemon, desktop app), which show
   * the connection state from the events and keep retrying while the server is away.
   */
  static launch(o: TerminalOptions): Terminal {
    const t = new Terminal(o);
    t.signalling.start().catch(() => undefined); // reported as a 'failed' connection event
    return t;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.certificates.stop();
    for (const e of this.#channels.values()) e.secure?.close('terminal stopped');
    await Promise.all([this.signalling.stop(), ...this.#writes]);
  }

  subscribe(listener: (event: TerminalEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): Snapshot {
    return {
      seq: this.#seq,
      version: API_VERSION,
      account: this.account(),
      connection: this.#connection,
      contacts: this.#contacts,
      channels: [...this.#channels.values()].map((e) => e.view),
      transfers: [...this.#transfers.values()].map((e) => e.view),
    };
  }

  /** This device and its settings, as the API shows them. */
  account(): AccountView {
    const c = this.o.credentials;
    const identity = this.o.profile.identity;
    return {
      device: {
        aor: c.aor,
        ...(c.device ? { device: c.device } : {}),
        server: c.server,
        fingerprint: identity.fingerprint,
        certificateExpires: identity.notAfter.toISOString(),
        caFingerprint: c.caFingerprint,
        certificate: certificateView(this.certificates.state),
      },
      settings: { downloadDir: this.#settings.downloadDir, acceptFrom: [...this.#settings.acceptFrom] },
      localServer: false,
    };
  }

  /** Changes and saves the settings; they apply to the next channel request and the next file. */
  async updateSettings(change: Commands['settings.update']['params']): Promise<SettingsView> {
    await this.o.profile.update({ settings: change });
    this.#settings = { ...this.#settings, ...change };
    this.#emit({ type: 'account', data: this.account() });
    return this.account().settings;
  }

  /** True when `path` is a file this terminal received and verified (for "show in folder"). */
  isReceivedFile(path: string): boolean {
    for (const { view } of this.#transfers.values()) if (view.savedAs === path) return true;
    return false;
  }

  /** The open SecureChannel behind a channel id (for the transfer engine). */
  secureChannel(channelId: string): SecureChannel | undefined {
    return this.#channels.get(channelId)?.secure;
  }

  async call<N extends CommandName>(
    command: N,
    params: Commands[N]['params'],
  ): Promise<Commands[N]['result']> {
    const p = params as Record<string, string>;
    switch (command) {
      case 'snapshot':
        return this.snapshot() as Commands[N]['result'];
      case 'channel.open':
        return { channelId: this.openChannel(p.user!) } as Commands[N]['result'];
      case 'channel.accept':
        this.#decide(p.channelId!, true);
        return {} as Commands[N]['result'];
      case 'channel.decline':
        this.#decide(p.channelId!, false);
        return {} as Commands[N]['result'];
      case 'channel.close':
        this.#entry(p.channelId!).secure?.close('closed by the user');
        return {} as Commands[N]['result'];
      case 'transfer.send': {
        const { paths } = params as Commands['transfer.send']['params'];
        return { transferIds: await this.sendFiles(p.channelId!, paths) } as Commands[N]['result'];
      }
      case 'transfer.accept':
        this.#incoming(p.transferId!).accept();
        return {} as Commands[N]['result'];
      case 'transfer.decline':
        this.#incoming(p.transferId!).decline();
        return {} as Commands[N]['result'];
      case 'transfer.cancel':
        this.#transfer(p.transferId!).transfer.cancel();
        return {} as Commands[N]['result'];
      case 'settings.update':
        return (await this.updateSettings(
          params as Commands['settings.update']['params'],
        )) as Commands[N]['result'];
      case 'keys.get':
        return (await this.keys(p.user!)) as Commands[N]['result'];
      case 'history.list':
        return { entries: await readHistory(this.o.profile.dir) } as Commands[N]['result'];
      case 'account.join':
      case 'account.startLocalServer':
        throw new CommandError(
          'already-joined',
          `this device has already joined as ${this.o.credentials.aor}`,
        );
      default:
        throw new CommandError('unknown-command', `unknown command ${String(command)}`);
    }
  }

  /** The key directory: `user`'s current certificates and public keys (not-found for hidden and unknown alike). */
  async keys(user: string): Promise<KeysView> {
    try {
      return await this.signalling.fetchKeys(user);
    } catch (e) {
      const err = e as Error & { code?: string };
      throw new CommandError(err.code === 'not-found' ? 'not-found' : 'keys-failed', err.message);
    }
  }

  /** Offers files and folders over a secure channel; returns the transfer ids (one per file). */
  async sendFiles(channelId: string, paths: readonly string[]): Promise<string[]> {
    const files = this.#entry(channelId).files;
    if (!files) throw new CommandError('not-secure', 'the channel is not secure yet');
    const ids: string[] = [];
    for (const path of paths) {
      let info;
      try {
        info = await stat(path);
      } catch {
        throw new CommandError('no-such-file', `cannot read ${path}`);
      }
      if (info.isDirectory()) {
        const { transfers } = await files.sendFolder(path);
        for (const t of transfers) ids.push(this.#trackTransfer(channelId, t));
      } else ids.push(this.#trackTransfer(channelId, files.sendFile(path)));
    }
    return ids;
  }

  /** Rings `user` and opens a verified channel when they accept; returns the channel id at once. */
  openChannel(user: string): string {
    const id = newId();
    const peer = user.includes('@')
      ? `sip:${user.replace(/^sip:/, '')}`
      : `sip:${user}@${this.o.credentials.domain}`;
    const entry: ChannelEntry = {
      view: { id, direction: 'outgoing', peer, phase: 'ringing' },
      secure: undefined,
      pending: undefined,
      files: undefined,
      trusted: true,
    };
    entry.secure = SecureChannel.open(this.signalling, user, () => this.#prepare(peer, entry));
    this.#track(id, entry);
    return id;
  }

  #onIncoming(call: IncomingCall): void {
    const id = newId();
    const entry: ChannelEntry = {
      view: { id, direction: 'incoming', peer: call.caller.aor, phase: 'ringing', path: call.path },
      secure: undefined,
      pending: call,
      files: undefined,
      trusted: false,
    };
    this.#channels.set(id, entry);
    call.on('ended', (e) => {
      if (entry.pending) {
        entry.pending = undefined;
        this.#update(entry, {
          phase: 'ended',
          reason: e.reason === 'canceled' ? 'cancelled by the caller' : e.reason,
        });
      }
    });
    this.#emit({ type: 'channel', data: entry.view });
    // A bare name means a member of our own domain: `alice` never auto-accepts alice of a peer domain.
    const ownDomain = call.caller.domain === this.o.credentials.domain.toLowerCase();
    entry.trusted = this.#settings.acceptFrom.some(
      (a) => a === call.caller.aor || `sip:${a}` === call.caller.aor || (ownDomain && a === call.caller.user),
    );
    if (entry.trusted) this.#decide(id, true);
  }

  /**
   * A request whose signalling path was not secure end to end, already refused (606): shown as a
   * failed channel, with the path and why, so that the person knows someone tried.
   */
  #onInsecure(call: InsecureCall): void {
    const id = newId();
    const entry: ChannelEntry = {
      view: { id, direction: 'incoming', peer: call.caller.aor, phase: 'failed' },
      secure: undefined,
      pending: undefined,
      files: undefined,
      trusted: false,
    };
    this.o.profile.log.warn(
      { peer: call.caller.aor, callId: call.id, path: call.path.hops, why: call.path.reason },
      'refused a channel request: its path is not secure end to end',
    );
    this.#channels.set(id, entry);
    this.#update(entry, {
      reason: `the path is not secure end to end: ${call.path.reason}`,
      path: call.path,
    });
  }

  #decide(channelId: string, accept: boolean): void {
    const entry = this.#entry(channelId);
    const call = entry.pending;
    if (!call) throw new CommandError('not-ringing', 'this channel is not waiting for a decision');
    entry.pending = undefined;
    if (!accept) {
      call.decline();
      this.#update(entry, { phase: 'declined', reason: 'declined' });
      return;
    }
    entry.secure = SecureChannel.accept(call, () => this.#prepare(call.caller.aor, entry));
    this.#track(channelId, entry);
  }

  #track(id: string, entry: ChannelEntry): void {
    // (phase events also start the file session once the channel is secure)
    this.#channels.set(id, entry);
    const secure = entry.secure!;
    const path = () => (secure.path ? { path: secure.path } : {});
    secure.on('phase', (phase, reason) => {
      const peer = secure.peer?.aor ?? entry.view.peer;
      const code = secure.verificationCode;
      if (phase === 'secure' && !entry.files) entry.files = this.#startFiles(id, entry, peer);
      this.#update(entry, {
        phase,
        peer,
        ...(reason ? { reason } : {}),
        ...(code ? { verificationCode: code } : {}),
        ...(phase === 'secure' && entry.issuer ? { issuer: entry.issuer } : {}),
        ...path(),
      });
    });
    this.#update(entry, { phase: secure.phase, ...path() });
  }

  /** The file-transfer session over a freshly verified channel. */
  #startFiles(channelId: string, entry: ChannelEntry, peer: string): TransferSession {
    const session = new TransferSession(entry.secure!.channel!.stream, {
      downloadDir: this.#settings.downloadDir,
      autoAccept: entry.trusted && (this.o.autoAcceptFiles ?? false),
      peer,
    });
    session.on('incoming', (t) => this.#trackTransfer(channelId, t));
    session.ready.catch(() => undefined);
    return session;
  }

  #trackTransfer(channelId: string, t: Transfer): string {
    const id = `${channelId}-${t.direction === 'send' ? 's' : 'r'}${t.id}`;
    const entry: TransferEntry = { transfer: t, view: this.#transferView(id, channelId, t) };
    this.#transfers.set(id, entry);
    const publish = () => {
      entry.view = this.#transferView(id, channelId, t);
      this.#emit({ type: 'transfer', data: entry.view });
    };
    t.on('state', publish);
    t.on('progress', publish);
    t.on('end', (outcome) => {
      publish();
      if (t.direction === 'send' && outcome.status === 'interrupted')
        this.#scheduleResume(channelId, t as OutgoingTransfer);
      const v = entry.view;
      const peer = this.#channels.get(channelId)?.view.peer ?? '';
      const state =
        v.state === 'done' || v.state === 'declined' || v.state === 'cancelled' ? v.state : 'failed';
      const write = appendHistory(this.o.profile.dir, {
        at: new Date().toISOString(),
        direction: v.direction,
        peer,
        name: v.name,
        size: v.size,
        state,
        ...(v.reason ? { reason: v.reason } : {}),
        ...(v.savedAs ? { savedAs: v.savedAs } : {}),
      }).catch(() => undefined);
      this.#writes.add(write);
      void write.finally(() => this.#writes.delete(write));
      this.#prune();
    });
    publish();
    return id;
  }

  /**
   * A broken connection interrupts the files being sent: open a new channel to the same peer and offer
   * them again under their transfer ids, so the receiver continues from its verified prefix. A few
   * attempts, spaced out; then they stay failed (and in the history).
   */
  #scheduleResume(channelId: string, t: OutgoingTransfer): void {
    const peer = this.#channels.get(channelId)?.view.peer;
    // The whole `user@domain`: a peer of another domain must be called there again, not in ours.
    const user = peer ? /^sips?:([^@]+@[^;>]+)/.exec(peer)?.[1] : undefined;
    if (!user || this.#stopped) return;
    let pending = this.#toResume.get(user);
    if (pending) {
      pending.transfers.push(t);
      return;
    }
    pending = { transfers: [t], attempt: 0 };
    this.#toResume.set(user, pending);
    const attempt = (): void => {
      if (this.#stopped) return;
      const p = this.#toResume.get(user)!;
      p.attempt++;
      const id = this.openChannel(user);
      const off = this.subscribe((e) => {
        if (e.type !== 'channel' || e.data.id !== id) return;
        if (e.data.phase === 'secure') {
          off();
          this.#toResume.delete(user);
          const files = this.#channels.get(id)!.files!;
          for (const old of p.transfers) {
            const again = files.sendFile(old.source, {
              path: old.path,
              transferId: old.transferId,
              ...(old.group ? { group: old.group } : {}),
            });
            this.#trackTransfer(id, again);
          }
        } else if (e.data.phase === 'failed' || e.data.phase === 'declined' || e.data.phase === 'ended') {
          off();
          if (p.attempt < RESUME_ATTEMPTS) setTimeout(attempt, RESUME_DELAY_MS * 2 ** p.attempt).unref();
          else this.#toResume.delete(user);
        }
      });
    };
    // Let the other transfers of the broken channel report in first, then go once for all of them.
    setTimeout(attempt, RESUME_DELAY_MS).unref();
  }

  #transferView(id: string, channelId: string, t: Transfer): TransferView {
    const p = t.progress;
    const view: TransferView = {
      id,
      channelId,
      direction: t.direction,
      name: t.path.join('/'),
      size: p.total,
      bytesDone: p.bytes,
      rate: p.rate,
      etaSeconds: p.eta ?? null,
      state: VIEW_STATE[t.state],
    };
    const outcome: TransferOutcome | undefined = t.outcome;
    if (outcome && outcome.status !== 'verified') view.reason = outcome.problem.message;
    if (outcome?.status === 'verified' && outcome.savedAs) view.savedAs = outcome.savedAs;
    return view;
  }

  #transfer(transferId: string): TransferEntry {
    const e = this.#transfers.get(transferId);
    if (!e) throw new CommandError('no-such-transfer', `no transfer ${transferId}`);
    return e;
  }

  #incoming(transferId: string): IncomingTransfer {
    const t = this.#transfer(transferId).transfer;
    if (t.direction !== 'receive' || t.state !== 'pending') {
      throw new CommandError('not-pending', 'this transfer is not waiting for a decision');
    }
    return t as IncomingTransfer;
  }

  /** Forgets the oldest finished transfers and channels beyond `keepFinished` (insertion order). */
  #prune(): void {
    const keep = this.o.keepFinished ?? 200;
    const done = [...this.#transfers].filter(([, e]) => e.transfer.outcome !== undefined);
    for (const [id] of done.slice(0, Math.max(0, done.length - keep))) this.#transfers.delete(id);
    // A channel stays while a transfer it carried is still listed, so every listed transfer has its channel.
    const carrying = new Set([...this.#transfers.values()].map((e) => e.view.channelId));
    const ended = [...this.#channels].filter(
      ([id, e]) => FINAL_PHASES.has(e.view.phase) && !carrying.has(id),
    );
    for (const [id] of ended.slice(0, Math.max(0, ended.length - keep))) this.#channels.delete(id);
  }

  #update(entry: ChannelEntry, change: Partial<ChannelView>): void {
    const next: ChannelView = { ...entry.view, ...change };
    if (!change.reason) delete next.reason;
    if (change.reason) next.reason = change.reason;
    entry.view = next;
    this.#emit({ type: 'channel', data: next });
    if (FINAL_PHASES.has(next.phase)) this.#prune();
  }

  #entry(channelId: string): ChannelEntry {
    const e = this.#channels.get(channelId);
    if (!e) throw new CommandError('no-such-channel', `no channel ${channelId}`);
    return e;
  }

  /**
   * The setup of a channel with `peerAor`, once this device holds its CA-issued certificate. The peer's
   * certificate must match the signalled fingerprint and be issued by its domain's CA for that AOR and
   * not revoked: our CA for our domain; for a peer domain, its CA as the key directory delivers it
   * through the path. If that cannot be had, the fingerprint — signalled over a path that is secure end
   * to end (Route-Security) — pins it alone (logged; the channel shows no issuer).
   */
  async #prepare(peerAor: string, entry: ChannelEntry): Promise<ChannelSetupOptions> {
    const domain = domainOf(peerAor);
    const own = domain === this.o.credentials.domain.toLowerCase();
    const [caPem] = await Promise.all([
      own ? this.o.credentials.caPem : this.#peerCa(peerAor, domain),
      this.certificates.ready(),
    ]);
    const setup = this.#setup();
    const isRevoked = (fingerprint: string) => this.#revoked.get(domain)?.has(fingerprint) ?? false;
    entry.issuer = caPem ? domain : undefined;
    setup.verifyPeer = caPem
      ? caIssuedPeerCheck({ caPem, peerAor, requireCaIssued: true, isRevoked })
      : (cert) => (isRevoked(cert.fingerprint256) ? 'the certificate has been revoked' : undefined);
    return setup;
  }

  /** `domain`'s CA, fetched with `peerAor`'s keys (kept 10 minutes); undefined if it cannot be had. */
  async #peerCa(peerAor: string, domain: string): Promise<string | undefined> {
    const cached = this.#peerCas.get(domain);
    if (cached && cached.until > Date.now()) return cached.pem;
    try {
      const { ca } = await this.signalling.fetchKeys(peerAor);
      if (!ca) throw new Error('no CA certificate came with the keys');
      this.#peerCas.set(domain, { pem: ca, until: Date.now() + PEER_CA_TTL_MS });
      return ca;
    } catch (e) {
      this.o.profile.log.warn(
        { peer: peerAor, err: (e as Error).message },
        `could not fetch ${domain}'s CA: the signalled fingerprint alone pins the peer's certificate`,
      );
      return undefined;
    }
  }

  /** `domain`'s CA revoked certificates: a channel whose peer of that domain holds one of them ends now. */
  #onRevoked(list: readonly string[], domain: string): void {
    const revoked = new Set(list);
    this.#revoked.set(domain, revoked);
    for (const entry of this.#channels.values()) {
      const peerFingerprint = entry.secure?.channel?.peerFingerprint;
      if (
        domainOf(entry.view.peer) === domain &&
        peerFingerprint &&
        revoked.has(peerFingerprint.toUpperCase())
      ) {
        this.o.profile.log.warn(
          { peer: entry.view.peer },
          'closing a channel: the peer certificate was revoked',
        );
        entry.secure!.close("the peer's certificate was revoked");
      }
    }
  }

  #setup(): ChannelSetupOptions {
    const inbound = this.o.profile.data.settings.inbound;
    const port = this.o.profile.data.settings.channelPort;
    return {
      credentials: this.#credentials,
      ...(inbound ? { inbound } : {}),
      ...(port ? { port } : {}),
      ...this.o.channel,
    };
  }

  #onState(s: SignallingStatus): void {
    const base = { server: this.o.credentials.server, aor: this.o.credentials.aor };
    const view: ConnectionView =
      s.state === 'registered'
        ? { ...base, state: 'registered' }
        : s.state === 'reconnecting'
          ? { ...base, state: 'reconnecting', reason: s.reason.message }
          : s.state === 'failed'
            ? { ...base, state: 'failed', reason: s.error.message }
            : { ...base, state: 'connecting' };
    this.#connection = view;
    this.#emit({ type: 'connection', data: view });
  }

  #emit(e: Omit<TerminalEvent, 'seq'>): void {
    const event = { ...e, seq: ++this.#seq } as TerminalEvent;
    for (const l of this.#listeners) l(event);
  }
}

/** The domain of `sip:user@domain` (or `user@domain`), lower-cased. */
const domainOf = (aor: string): string => aor.slice(aor.lastIndexOf('@') + 1).toLowerCase();

function certificateView(s: CertificateState): NonNullable<AccountView['device']>['certificate'] {
  if (s.state === 'ca-issued') return { state: s.state, renewAt: s.renewAt.toISOString() };
  if (s.state === 'failed') return { state: s.state, error: s.error.message };
  return { state: s.state };
}
