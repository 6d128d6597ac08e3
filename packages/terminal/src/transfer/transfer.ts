/** One file going one way over a data channel, as the terminal core and the UIs see it. */
import { EventEmitter } from 'node:events';
import type { OfferGroup, TransferErrorCode } from '@tsunagu/protocol';
import { ProgressMeter } from './progress.js';
import type { TransferProgress } from './progress.js';

export type TransferDirection = 'send' | 'receive';

/**
 * - send:    opening → offered → sending → finishing (END sent, waiting for the receiver's report) → verified
 * - receive: pending (waiting for accept/decline) → preparing → receiving → verifying → verified
 * - either, at any point: declined | cancelled | failed | interrupted (connection lost; resumable)
 */
export type TransferState =
  | 'opening'
  | 'offered'
  | 'sending'
  | 'finishing'
  | 'pending'
  | 'preparing'
  | 'receiving'
  | 'verifying'
  | 'verified'
  | 'declined'
  | 'cancelled'
  | 'failed'
  | 'interrupted';

export const FINAL_STATES: ReadonlySet<TransferState> = new Set([
  'verified',
  'declined',
  'cancelled',
  'failed',
  'interrupted',
]);

export interface TransferProblem {
  /** A TransferErrorCode; a peer may send codes this version does not know. */
  code: TransferErrorCode | string;
  message: string;
  /** Which side gave up (or found the problem). */
  by: 'local' | 'peer';
  /** A partial file was kept: offering the same transfer id again resumes where it stopped. */
  resumable: boolean;
}

export type TransferOutcome =
  | {
      status: 'verified';
      sha256: string;
      /** Receiver: where the file now is. */
      savedAs?: string;
      /** Bytes that were already there from an earlier connection and not sent again. */
      resumedFrom: number;
    }
  | { status: 'declined' | 'cancelled' | 'failed' | 'interrupted'; problem: TransferProblem };

export type TransferEvents = {
  state: [state: TransferState];
  progress: [progress: TransferProgress];
  end: [outcome: TransferOutcome];
};

/** What a Transfer needs from its session. */
export interface TransferOwner {
  cancelTransfer(t: Transfer, message: string): void;
  acceptTransfer(t: Transfer): void;
  declineTransfer(t: Transfer, message: string): void;
  progressInterval: number;
  onProgress(t: Transfer, p: TransferProgress): void;
}

export abstract class Transfer extends EventEmitter<TransferEvents> {
  abstract readonly direction: TransferDirection;
  state: TransferState;
  /** Set once the transfer is final. */
  outcome: TransferOutcome | undefined;
  /** SHA-256 of the whole file, once known. */
  sha256: string | undefined;
  resumedFrom = 0;
  /** Resolves once the transfer is final and its files are closed (never rejects). */
  readonly done: Promise<TransferOutcome>;
  private resolveDone!: (o: TransferOutcome) => void;
  protected meter: ProgressMeter;

  constructor(
    protected readonly owner: TransferOwner,
    /** This connection's id for the file (the sender's numbering). */
    readonly id: number,
    /** Stable across connections (resume). */
    readonly transferId: string,
    /** Relative path, last segment = file name (the receiver's is the neutralised one). */
    public path: string[],
    size: number,
    readonly group: OfferGroup | undefined,
    initial: TransferState,
  ) {
    super();
    this.state = initial;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.meter = new ProgressMeter(size, owner.progressInterval, (p) => {
      this.emit('progress', p);
      owner.onProgress(this, p);
    });
  }

  /** The file's size in bytes: a sender learns it once the file is open (0 until then). */
  get size(): number {
    return this.meter.total;
  }

  set size(bytes: number) {
    this.meter.total = bytes;
  }

  get name(): string {
    return this.path[this.path.length - 1] ?? '';
  }

  get final(): boolean {
    return FINAL_STATES.has(this.state);
  }

  get progress(): TransferProgress {
    return this.meter.snapshot();
  }

  /** Cancels from this side; the peer is told, and a receiver's partial file is removed. */
  cancel(message = 'cancelled by the user'): void {
    if (!this.final) this.owner.cancelTransfer(this, message);
  }

  /** @internal */
  setState(state: TransferState): void {
    if (this.final || this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** @internal */
  startProgress(bytes: number): void {
    this.meter.start(bytes);
  }

  /** @internal */
  reportProgress(bytes: number, force = false): void {
    this.meter.update(bytes, force);
  }

  /** @internal Marks the transfer final; `done` resolves once `settled` has. */
  finish(outcome: TransferOutcome, settled: Promise<unknown> = Promise.resolve()): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.state = outcome.status;
    this.emit('state', this.state);
    void settled
      .catch(() => undefined)
      .then(() => {
        this.emit('end', outcome);
        this.resolveDone(outcome);
      });
  }
}

export class OutgoingTransfer extends Transfer {
  readonly direction = 'send' as const;
  constructor(
    owner: TransferOwner,
    id: number,
    transferId: string,
    path: string[],
    readonly source: string,
    group: OfferGroup | undefined,
  ) {
    super(owner, id, transferId, path, 0, group, 'opening');
  }
}

export class IncomingTransfer extends Transfer {
  readonly direction = 'receive' as const;
  /** Where the verified file was saved. */
  savedAs: string | undefined;
  constructor(
    owner: TransferOwner,
    id: number,
    transferId: string,
    path: string[],
    size: number,
    group: OfferGroup | undefined,
    /** The path exactly as offered, before neutralisation (for display and logs). */
    readonly offeredPath: readonly string[],
    /** A partial file of an earlier connection exists: accepting resumes it. */
    public resumable: boolean,
  ) {
    super(owner, id, transferId, path, size, group, 'pending');
  }

  /** Accepts the offer (no-op unless pending). */
  accept(): void {
    if (this.state === 'pending') this.owner.acceptTransfer(this);
  }

  /** Declines the offer (no-op unless pending). */
  decline(message = 'declined by the user'): void {
    if (this.state === 'pending') this.owner.declineTransfer(this, message);
  }
}
