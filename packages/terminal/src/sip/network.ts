import os from 'node:os';

/** What `os.networkInterfaces()` returns; injectable so tests can pretend the network changed. */
export type NetworkInterfacesFn = () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;

/** Every address of the machine (internal ones included), in the form `socket.localAddress` uses. */
export function addressesOf(fn: NetworkInterfacesFn): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(fn())) {
    for (const info of list ?? []) out.add(info.address.toLowerCase());
  }
  return out;
}

/** The external addresses, sorted: what "the machine's addresses changed" compares. */
function signature(fn: NetworkInterfacesFn): string {
  const external: string[] = [];
  for (const list of Object.values(fn())) {
    for (const info of list ?? []) if (!info.internal) external.push(info.address.toLowerCase());
  }
  return external.sort().join(' ');
}

/**
 * Polls the machine's network addresses (there is no portable change notification in Node) and calls
 * `onChange` when the set of external addresses differs from the last poll.
 */
export class AddressWatcher {
  #timer: NodeJS.Timeout | undefined;
  #last: string | undefined;

  constructor(
    private readonly fn: NetworkInterfacesFn,
    private readonly intervalMs: number,
    private readonly onChange: () => void,
  ) {}

  start(): void {
    if (this.#timer) return;
    this.#last = this.#read();
    this.#timer = setInterval(() => this.poll(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Checks now (also called by the timer). */
  poll(): void {
    const now = this.#read();
    if (now === undefined || now === this.#last) return;
    this.#last = now;
    this.onChange();
  }

  #read(): string | undefined {
    try {
      return signature(this.fn);
    } catch {
      return undefined; // a transient failure to list interfaces is not a change
    }
  }
}
