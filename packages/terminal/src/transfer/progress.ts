/** Progress of one transfer: bytes, total, a smoothed rate and the time left, at a bounded rate. */

export interface TransferProgress {
  /** Bytes of the file done: sent (sender) or written (receiver), counting a resumed prefix. */
  bytes: number;
  total: number;
  /** Bytes per second, smoothed (exponentially weighted, time constant 2 s). */
  rate: number;
  /** Seconds left at that rate; undefined until there is a rate. */
  eta: number | undefined;
}

const TIME_CONSTANT_MS = 2000;

export class ProgressMeter {
  private lastAt: number | undefined;
  private lastBytes = 0;
  private lastEmit = -Infinity;
  private rate = 0;
  bytes = 0;

  /** `interval`: least time between two reports (ms); 100 ms is at most 10 per second. */
  constructor(
    /** Bytes in all; a sender sets it once the file is open. */
    public total: number,
    private readonly interval: number,
    private readonly emit: (p: TransferProgress) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Marks where counting starts (a resumed transfer does not count its prefix into the rate). */
  start(bytes: number): void {
    this.bytes = bytes;
    this.lastBytes = bytes;
    this.lastAt = this.now();
  }

  /** Records `bytes` done; reports if the interval has passed, or always when `force` is set. */
  update(bytes: number, force = false): void {
    this.bytes = bytes;
    const now = this.now();
    if (this.lastAt === undefined) this.start(bytes);
    const dt = now - (this.lastAt as number);
    if (dt >= this.interval / 2 && dt > 0) {
      const instant = ((bytes - this.lastBytes) * 1000) / dt;
      const alpha = this.rate === 0 ? 1 : 1 - Math.exp(-dt / TIME_CONSTANT_MS);
      this.rate += alpha * (instant - this.rate);
      this.lastAt = now;
      this.lastBytes = bytes;
    }
    if (force || now - this.lastEmit >= this.interval) {
      this.lastEmit = now;
      this.emit(this.snapshot());
    }
  }

  snapshot(): TransferProgress {
    const left = Math.max(0, this.total - this.bytes);
    const rate = Math.max(0, this.rate);
    return {
      bytes: this.bytes,
      total: this.total,
      rate,
      eta: left === 0 ? 0 : rate > 0 ? left / rate : undefined,
    };
  }
}
