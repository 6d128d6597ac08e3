import { EventEmitter } from 'node:events';
import { derFromPem } from '@tsunagu/server/ca';
import type { DeviceIdentity } from './identity.js';
import type { Log } from './log.js';

/**
 * Keeps the device's certificate one the deployment CA issued (DESIGN.md "Certificate authority"):
 * asks for one when there is none (self-signed, expired, another CA's) on the next registration, and
 * again at two thirds of its life — automatically, online, without a person. Refusals are not retried
 * in a loop: a refused request waits an hour, a failed one backs off.
 */

/** Where certificates come from: the signalling's PUBLISH (Signalling.requestCertificate). */
export interface CertificateSource {
  requestCertificate(csrDer: Buffer): Promise<string>;
}

export type CertificateState =
  | { state: 'ca-issued'; notAfter: Date; renewAt: Date }
  | { state: 'needed' }
  | { state: 'issuing' }
  | { state: 'failed'; error: Error; retryAt: Date };

export interface CertificateKeeperOptions {
  identity: DeviceIdentity;
  caPem: string;
  aor: string;
  source: CertificateSource;
  log: Log;
  now?: () => Date;
  /** First retry delay after a failure (default 30 s), doubling to an hour. */
  retryMs?: number;
}

/** setTimeout's limit (about 24.8 days); a later renewal is re-checked when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const REFUSED_RETRY_MS = 3_600_000;

export class CertificateKeeper extends EventEmitter<{ state: [CertificateState] }> {
  #state: CertificateState;
  #timer: NodeJS.Timeout | undefined;
  #issuing: Promise<void> | undefined;
  #failures = 0;
  #retryAt = 0;
  #stopped = false;
  readonly #now: () => Date;

  constructor(private readonly o: CertificateKeeperOptions) {
    super();
    this.#now = o.now ?? (() => new Date());
    this.#state = this.#current();
  }

  get state(): CertificateState {
    return this.#state;
  }

  /** The certificate is the CA's, for our AOR, and valid now: channels may use it. */
  get usable(): boolean {
    return this.o.identity.isIssuedBy(this.o.caPem, this.o.aor, this.#now());
  }

  /** Call on every registration: asks for a certificate when one is due, else waits for its time. */
  registered(): void {
    if (this.#stopped || this.#issuing) return;
    const now = this.#now();
    if (now.getTime() < this.#retryAt) return;
    // A failure is reported through the state (and logged); nothing waits on this promise.
    if (this.o.identity.renewalTime(this.o.caPem, this.o.aor, now) <= now)
      this.renew().catch(() => undefined);
    else this.#schedule();
  }

  /** Asks for a new certificate now (one request at a time); resolves when it is installed. */
  renew(): Promise<void> {
    this.#issuing ??= this.#issue().finally(() => (this.#issuing = undefined));
    return this.#issuing;
  }

  /**
   * Resolves once the certificate is usable (at once if it is); rejects when the request fails or
   * `timeoutMs` passes first, saying why.
   */
  ready(timeoutMs = 15_000): Promise<void> {
    if (this.usable) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // Not usable (none yet, or it expired while we ran): ask now rather than at the next registration.
      if (!this.#issuing && this.#now().getTime() >= this.#retryAt) this.renew().catch(() => undefined);
      const timer = setTimeout(() => {
        this.off('state', check);
        reject(
          new Error('this device has no certificate from the deployment CA yet (the request timed out)'),
        );
      }, timeoutMs);
      const check = (s: CertificateState) => {
        if (s.state !== 'ca-issued' && s.state !== 'failed') return;
        clearTimeout(timer);
        this.off('state', check);
        if (s.state === 'ca-issued') resolve();
        else reject(new Error(`this device has no certificate from the deployment CA: ${s.error.message}`));
      };
      this.on('state', check);
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #issue(): Promise<void> {
    const { identity, aor, log } = this.o;
    this.#set({ state: 'issuing' });
    try {
      const chain = await this.o.source.requestCertificate(
        derFromPem(identity.createCertificateRequest(aor)),
      );
      await identity.installChain(chain, this.o.caPem, aor, this.#now());
      this.#failures = 0;
      this.#retryAt = 0;
      this.#set(this.#current());
      this.#schedule();
    } catch (e) {
      const error = e as Error & { final?: boolean; retryAfter?: number };
      this.#failures++;
      const backoff = Math.min(REFUSED_RETRY_MS, (this.o.retryMs ?? 30_000) * 2 ** (this.#failures - 1));
      const delay = error.final ? REFUSED_RETRY_MS : Math.max(backoff, (error.retryAfter ?? 0) * 1000);
      this.#retryAt = this.#now().getTime() + delay;
      log.warn({ err: error.message, retryInMs: delay }, 'certificate request failed');
      this.#set({ state: 'failed', error, retryAt: new Date(this.#retryAt) });
      if (!error.final) this.#arm(delay);
      throw error;
    }
  }

  #schedule(): void {
    const now = this.#now();
    const at = this.o.identity.renewalTime(this.o.caPem, this.o.aor, now);
    this.#arm(at.getTime() - now.getTime());
  }

  /** Looks again in `ms` (as a registration would). */
  #arm(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.registered(), Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    this.#timer.unref();
  }

  #current(): CertificateState {
    const { identity, caPem, aor } = this.o;
    const now = this.#now();
    if (!identity.isIssuedBy(caPem, aor, now)) return { state: 'needed' };
    return {
      state: 'ca-issued',
      notAfter: identity.notAfter,
      renewAt: identity.renewalTime(caPem, aor, now),
    };
  }

  #set(s: CertificateState): void {
    this.#state = s;
    this.emit('state', s);
  }
}
