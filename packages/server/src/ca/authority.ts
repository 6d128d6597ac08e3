import { X509Certificate, type KeyObject } from 'node:crypto';
import { assertKeyMatchesCertificate } from './ca.js';
import { createCrl, type RevokedCertificate } from './crl.js';
import {
  checkRequestedIdentity,
  issueDeviceCertificate,
  parseCertificateRequest,
  type DeviceSubject,
  type IssuedCertificate,
} from './device.js';
import { readCaFile, readPrivateKey } from './files.js';
import { CaError } from './x509.js';

export interface IssueRequest {
  /** The PKCS#10 request as it arrived: base64 of the DER, PEM, or DER bytes. */
  csr: string | Buffer;
  /** Who the certificate is for, as the server authenticated it (never taken from the request). */
  subject: DeviceSubject;
  validityDays: number;
  now?: Date;
}

/**
 * What the session server needs of its certificate authority. In-process by default
 * ({@link LocalAuthority}); the same interface can front a separate CA process that alone holds the key.
 */
export interface CertificateAuthority {
  readonly caCertPem: string;
  /** Parses and checks the request (CsrError on bad input) and issues. */
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  /**
   * A CRL listing `revoked` (see `createCrl`), valid for 24 hours, dated `now` (default: the CA's
   * clock; a CA in its own process always uses its own).
   */
  crl(revoked: readonly RevokedCertificate[], crlNumber: number, now?: Date): Promise<string>;
  /** Forgets the key; later calls fail with a CaError. */
  close(): Promise<void>;
}

/** The CA in this process, holding the CA key as a native KeyObject. */
export class LocalAuthority implements CertificateAuthority {
  readonly caCertPem: string;
  #caKey: KeyObject | undefined;

  /** Throws a CaError unless `caKey` is the private key of `caCertPem` and that is a CA certificate. */
  constructor(caKey: KeyObject, caCertPem: string) {
    assertKeyMatchesCertificate(caKey, caCertPem);
    if (!new X509Certificate(caCertPem).ca) {
      throw new CaError('the CA certificate is not a CA certificate (basicConstraints CA:false)');
    }
    this.#caKey = caKey;
    this.caCertPem = caCertPem;
  }

  /**
   * Opens the CA of a data folder: `paths.caKey` (0600, encrypted or not; see `readPrivateKey`) and
   * `paths.caCert`. CaError when a file is missing or too open, the passphrase is missing or wrong, or
   * the key does not belong to the certificate.
   */
  static open(paths: { caKey: string; caCert: string }, passphrase?: string): LocalAuthority {
    const certPem = readCaFile(paths.caCert);
    const key = readPrivateKey(paths.caKey, passphrase);
    assertKeyMatchesCertificate(key, certPem, paths);
    return new LocalAuthority(key, certPem);
  }

  #key(): KeyObject {
    if (!this.#caKey) throw new CaError('the certificate authority is closed');
    return this.#caKey;
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const caKey = this.#key();
    const csr = parseCertificateRequest(req.csr);
    checkRequestedIdentity(csr, req.subject);
    return issueDeviceCertificate({
      caKey,
      caCertPem: this.caCertPem,
      csr,
      subject: req.subject,
      validityDays: req.validityDays,
      ...(req.now ? { now: req.now } : {}),
    });
  }

  async crl(revoked: readonly RevokedCertificate[], crlNumber: number, now?: Date): Promise<string> {
    return createCrl({
      caKey: this.#key(),
      caCertPem: this.caCertPem,
      revoked,
      crlNumber,
      ...(now ? { now } : {}),
    });
  }

  async close(): Promise<void> {
    this.#caKey = undefined;
  }

  /** Never shows the key. */
  toJSON(): { caCertPem: string; closed: boolean } {
    return { caCertPem: this.caCertPem, closed: this.#caKey === undefined };
  }
}
