import type { CertificateAuthority } from '../ca/index.js';
import { CLOCK_SKEW_MS } from '../ca/index.js';
import type { Logger } from '../log/logger.js';
import type { RevokedCertificate, Store } from '../store/index.js';

/** A CRL is signed again at most this often while nothing changes (its nextUpdate is 24 h out). */
const CRL_REFRESH_MS = 3_600_000;

/**
 * The revocation list in force: revoked certificates that could still be accepted somewhere (not past
 * their expiry plus the tolerated clock skew). Terminals get it pushed with every contact list; outside
 * hosts get it as an X.509 CRL signed by the CA (`GET /ca.crl`, `tsunagu-server ca crl`).
 */
export class RevocationList {
  #list: RevokedCertificate[] = [];
  /** The fingerprints, as every contact-list NOTIFY sends them (made once per change, not per NOTIFY). */
  #fingerprints: string[] = [];
  #set = new Set<string>();
  #crl: { pem: Promise<string>; at: number } | undefined;

  constructor(
    private readonly store: Pick<Store, 'certificates'>,
    private readonly authority: Pick<CertificateAuthority, 'crl'>,
    private readonly log: Logger,
  ) {
    this.reload();
  }

  /** Reads the list again (after the database changed). */
  reload(now = Date.now()): void {
    const list = this.store.certificates.revoked(now - CLOCK_SKEW_MS);
    const changed =
      list.length !== this.#list.length || list.some((r, i) => r.fingerprint !== this.#fingerprints[i]);
    this.#list = list;
    this.#fingerprints = list.map((r) => r.fingerprint);
    this.#set = new Set(this.#fingerprints);
    if (changed) {
      this.#crl = undefined;
      this.log.info({ revoked: list.length }, 'revocation list changed');
    }
  }

  has(fingerprint: string): boolean {
    return this.#set.has(fingerprint);
  }

  /** `sha256:AB:…` of each revoked certificate. */
  fingerprints(): readonly string[] {
    return this.#fingerprints;
  }

  /** The current CRL (PEM), signed by the CA; cached until the list changes or an hour passes. */
  crl(now = Date.now()): Promise<string> {
    if (!this.#crl || now - this.#crl.at > CRL_REFRESH_MS) {
      const pem = this.authority.crl(
        this.#list.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) })),
        // Increases with every CRL this CA signs (RFC 5280 §5.2.3) without keeping a counter.
        Math.floor(now / 1000),
        new Date(now),
      );
      this.#crl = { pem, at: now };
      pem.catch(() => {
        if (this.#crl?.pem === pem) this.#crl = undefined;
      });
    }
    return this.#crl.pem;
  }
}
