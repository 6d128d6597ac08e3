import type { Logger } from 'pino';
import {
  API_VERSION,
  CommandError,
  type AccountView,
  type CommandName,
  type Commands,
  type Snapshot,
  type TerminalApi,
  type TerminalEvent,
} from '@tsunagu/protocol';
import { openProfile, type Profile } from '../identity/index.js';
import { credentialsOf, enrolProfile } from './account.js';
import { readHistory } from './history.js';
import { LocalServer } from './local-server.js';
import { effectiveSettings, Terminal, type TerminalOptions } from './terminal.js';

/**
 * What a long-running face (the daemon and its web GUI, the desktop app) runs: the profile through its
 * whole life. Before the device has joined a server it answers `account.join` and
 * `account.startLocalServer`; afterwards it runs a {@link Terminal} and passes everything to it. Its
 * event stream has its own sequence numbers, so it stays one ordered stream across joining.
 */
export interface HostOptions {
  profileDir: string;
  /** Where the host reports what it does (never secrets). */
  log?: Logger;
  /** Overrides of the saved settings for this run (the daemon's flags). */
  downloadDir?: string;
  acceptFrom?: readonly string[];
  /** Accept files offered on channels from `acceptFrom` peers without asking (the daemon does). */
  autoAcceptFiles?: boolean;
  /** Test seams: loopback channel addresses, quicker signalling. */
  terminal?: Pick<TerminalOptions, 'channel' | 'signalling'>;
  /** Where "start a server on this computer" listens; default loopback, ports chosen once. */
  localServer?: { host?: string };
}

export class TerminalHost implements TerminalApi {
  #terminal: Terminal | undefined;
  #local: LocalServer | undefined;
  #joining: Promise<unknown> | undefined;
  #seq = 0;
  readonly #listeners = new Set<(e: TerminalEvent) => void>();

  private constructor(
    private readonly o: HostOptions,
    private profile: Profile,
  ) {}

  /** Opens (creating if needed) the profile and, when it has joined a server, starts the terminal. */
  static async open(o: HostOptions): Promise<TerminalHost> {
    const profile = await openProfile(o.profileDir, { create: true });
    const host = new TerminalHost(o, profile);
    if (LocalServer.configured(profile)) host.#local = await LocalServer.resume(profile, o.localServer);
    const credentials = await credentialsOf(profile);
    if (credentials) host.#run(profile, credentials);
    return host;
  }

  /** The running terminal, once the device has joined (for the CLI's daemon loop and tests). */
  get terminal(): Terminal | undefined {
    return this.#terminal;
  }

  async stop(): Promise<void> {
    await this.#terminal?.stop();
    await this.#local?.close();
  }

  subscribe(listener: (event: TerminalEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): Snapshot {
    const inner = this.#terminal?.snapshot();
    return {
      seq: this.#seq,
      version: API_VERSION,
      account: this.#account(inner?.account),
      connection: inner?.connection ?? { state: 'unenrolled' },
      contacts: inner?.contacts ?? [],
      channels: inner?.channels ?? [],
      transfers: inner?.transfers ?? [],
    };
  }

  isReceivedFile(path: string): boolean {
    return this.#terminal?.isReceivedFile(path) ?? false;
  }

  async call<N extends CommandName>(
    command: N,
    params: Commands[N]['params'],
  ): Promise<Commands[N]['result']> {
    if (command === 'snapshot') return this.snapshot() as Commands[N]['result'];
    if (this.#terminal) return this.#terminal.call(command, params);
    switch (command) {
      case 'account.join':
        return (await this.#join(() =>
          enrolProfile(this.o.profileDir, (params as Commands['account.join']['params']).link),
        )) as Commands[N]['result'];
      case 'account.startLocalServer':
        return (await this.#join(async () => {
          // A server set up by an earlier, unfinished attempt is already running (resumed by open()).
          this.#local ??= await LocalServer.create(this.profile, this.o.localServer);
          return enrolProfile(this.o.profileDir, await this.#local.inviteOwner());
        })) as Commands[N]['result'];
      case 'history.list':
        // Transfers of an earlier run stay listed even when the credentials are gone.
        return { entries: await readHistory(this.o.profileDir) } as Commands[N]['result'];
      default:
        throw new CommandError(
          'not-joined',
          'this device has not joined a server yet: join with an invite link first',
        );
    }
  }

  /** One join at a time; on success the terminal starts and the new account is announced. */
  async #join(enrol: () => Promise<Profile>): Promise<{ aor: string; server: string }> {
    if (this.#joining) throw new CommandError('busy', 'already joining a server');
    const joining = (async () => {
      let profile: Profile;
      try {
        profile = await enrol();
      } catch (e) {
        this.o.log?.warn({ err: (e as Error).message }, 'joining a server failed');
        await this.#local?.close();
        this.#local = undefined;
        throw new CommandError('join-failed', (e as Error).message);
      }
      const credentials = await credentialsOf(profile);
      if (!credentials) throw new CommandError('join-failed', 'the server gave no usable credentials');
      this.profile = profile;
      this.o.log?.info({ aor: credentials.aor, server: credentials.server }, 'joined a server');
      this.#run(profile, credentials);
      return { aor: credentials.aor, server: credentials.server };
    })();
    this.#joining = joining;
    try {
      return await joining;
    } finally {
      this.#joining = undefined;
    }
  }

  #run(profile: Profile, credentials: TerminalOptions['credentials']): void {
    const t = Terminal.launch({
      profile,
      credentials,
      ...(this.o.downloadDir ? { downloadDir: this.o.downloadDir } : {}),
      ...(this.o.acceptFrom ? { acceptFrom: this.o.acceptFrom } : {}),
      autoAcceptFiles: this.o.autoAcceptFiles ?? false,
      ...this.o.terminal,
    });
    this.#terminal = t;
    t.subscribe((e) => {
      const { seq: _inner, ...rest } = e;
      if (rest.type === 'account') this.#emit({ type: 'account', data: this.#account(rest.data) });
      else this.#emit(rest);
    });
    this.#emit({ type: 'account', data: this.#account(t.account()) });
    const s = t.snapshot();
    this.#emit({ type: 'connection', data: s.connection });
  }

  #account(inner: AccountView | undefined): AccountView {
    return {
      ...(inner?.device ? { device: inner.device } : {}),
      settings: inner?.settings ?? effectiveSettings(this.profile, this.o),
      localServer: this.#local !== undefined,
    };
  }

  #emit(e: Omit<TerminalEvent, 'seq'>): void {
    const event = { ...e, seq: ++this.#seq } as TerminalEvent;
    for (const l of this.#listeners) l(event);
  }
}
