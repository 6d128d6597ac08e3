import { EventEmitter } from 'node:events';
import type { ChannelPhase, PathVerdict } from '@tsunagu/protocol';
import {
  answerChannelOffer,
  createChannelOffer,
  type Channel,
  type ChannelSetupOptions,
} from '../channel/index.js';
import {
  CallError,
  type AssertedIdentity,
  type IncomingCall,
  type OutgoingCall,
  type Signalling,
} from '../sip/index.js';

/**
 * A secure channel as a person sees it: the seed's steps 7–13 in one object. The INVITE carries my
 * channel offer, the 200 the peer's answer (both through the authenticated server, which vouches for
 * the peer's identity), then the two terminals connect directly over TLS and check each other's
 * certificate against the signalled fingerprints. The SIP dialog and the TLS channel live and die
 * together: a BYE closes the channel, a closed channel sends a BYE.
 */
export interface SecureChannelEvents {
  phase: [ChannelPhase, string | undefined];
}

/**
 * The channel's setup, or a function that makes it once the end is ready (e.g. once this device holds a
 * certificate from the CA); its rejection fails the channel with its message.
 */
export type ChannelSetup = ChannelSetupOptions | (() => Promise<ChannelSetupOptions>);

const setupOptions = (s: ChannelSetup): Promise<ChannelSetupOptions> | ChannelSetupOptions =>
  typeof s === 'function' ? s() : s;

export class SecureChannel extends EventEmitter<SecureChannelEvents> {
  #phase: ChannelPhase;
  #reason: string | undefined;
  #channel: Channel | undefined;
  /** Abandons the channel setup in progress (listening, connecting). */
  #cancelSetup: (() => void) | undefined;
  /**
   * The signalling path (Route-Security) and whether every hop was secure: from the INVITE on the
   * callee's side, from the answer or the refusal on the caller's. Set before the phase it explains.
   */
  path: PathVerdict | undefined;

  private constructor(
    readonly direction: 'outgoing' | 'incoming',
    /** The peer as the server asserted it (the callee of my INVITE, or the caller of theirs). */
    public peer: AssertedIdentity | undefined,
    private readonly hangUp: () => Promise<void> | void,
    phase: ChannelPhase,
  ) {
    super();
    this.#phase = phase;
  }

  get phase(): ChannelPhase {
    return this.#phase;
  }

  get reason(): string | undefined {
    return this.#reason;
  }

  /** The verified TLS channel, once `phase` is `secure`. */
  get channel(): Channel | undefined {
    return this.#channel;
  }

  get verificationCode(): string | undefined {
    return this.#channel?.verificationCode;
  }

  /** Calls `target` (a user of my domain or `user@domain`) and opens the channel when they accept. */
  static open(signalling: Signalling, target: string, setup: ChannelSetup): SecureChannel {
    let call: OutgoingCall | undefined;
    const sc = new SecureChannel('outgoing', undefined, () => call?.hangUp(), 'ringing');
    void (async () => {
      const offer = await createChannelOffer(await setupOptions(setup));
      // Closed while the offer was being made: no call at all.
      if (sc.#setupStarted(() => offer.cancel())) return;
      call = signalling.invite(target, {
        createOffer: async () => offer.sdp,
        acceptAnswer: async (sdp) => {
          offer.setAnswer(sdp);
        },
      });
      call.on('ended', (e) => sc.#end(e.by === 'remote' ? 'ended by the peer' : 'ended'));
      let accepted;
      try {
        accepted = await call.answered;
      } catch (err) {
        offer.cancel();
        // A call we hung up ourselves (close()) is already 'ended'.
        if (sc.#over) return;
        if (err instanceof CallError && err.path) sc.path = err.path;
        const code = (err as { code?: string }).code;
        sc.#set(code === 'declined' ? 'declined' : 'failed', (err as Error).message);
        return;
      }
      if (sc.#over) return offer.cancel();
      sc.peer = accepted.callee;
      sc.path = accepted.path;
      sc.#set('connecting');
      sc.#attach(await offer.establish());
    })().catch((err: Error) => sc.#fail(err));
    return sc;
  }

  /** Accepts an incoming call: answers its offer and opens the channel. */
  static accept(call: IncomingCall, setup: ChannelSetup): SecureChannel {
    const sc = new SecureChannel('incoming', call.caller, () => call.hangUp(), 'connecting');
    sc.path = call.path;
    call.on('ended', (e) => sc.#end(e.by === 'remote' ? 'ended by the peer' : 'ended'));
    void (async () => {
      let established: Promise<Channel> | undefined;
      await call.accept({
        acceptOffer: async (sdp) => {
          const answer = await answerChannelOffer(sdp, await setupOptions(setup));
          sc.#setupStarted(() => answer.cancel());
          // Start at once: the caller may connect before our 200 has even reached it.
          established = answer.establish();
          established.catch(() => undefined);
          return answer.sdp;
        },
      });
      if (!established) throw new Error('the call was accepted without a channel offer');
      sc.#attach(await established);
    })().catch((err: Error) => sc.#fail(err));
    return sc;
  }

  /** Ends the channel and the call. */
  close(reason = 'closed'): void {
    this.#end(reason);
  }

  /** Ended, failed or declined: nothing more happens. */
  get #over(): boolean {
    return this.#phase === 'ended' || this.#phase === 'failed' || this.#phase === 'declined';
  }

  /** Remembers how to abandon the setup; abandons it at once (and says so) when already over. */
  #setupStarted(cancel: () => void): boolean {
    this.#cancelSetup = cancel;
    if (this.#over) cancel();
    return this.#over;
  }

  #attach(channel: Channel): void {
    if (this.#over) {
      channel.destroy();
      return;
    }
    this.#channel = channel;
    channel.on('close', (info) => this.#end(info.by === 'peer' ? 'closed by the peer' : info.reason));
    this.#set('secure');
  }

  #fail(err: Error): void {
    if (this.#over) return;
    this.#set('failed', err.message);
    this.#teardown();
  }

  #end(reason: string): void {
    if (this.#over) return;
    this.#set('ended', reason);
    this.#teardown();
  }

  #teardown(): void {
    this.#cancelSetup?.();
    this.#channel?.close(this.#reason ?? 'closed');
    void Promise.resolve(this.hangUp()).catch(() => undefined);
  }

  #set(phase: ChannelPhase, reason?: string): void {
    this.#phase = phase;
    this.#reason = reason;
    this.emit('phase', phase, reason);
  }
}
