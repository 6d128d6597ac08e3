import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
} from 'node:crypto';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { inspect, promisify } from 'node:util';
import {
  caIssuedProblem,
  createCertificateRequest,
  createSelfSignedCertificate,
  isSelfSigned,
  uriSans,
} from './certificate.js';
import { CLOCK_SKEW_MS } from '@tsunagu/server/ca';
import { ProfileError } from './errors.js';
import { errorCode, readOptional, tightenMode, writeFileAtomic } from './files.js';
import type { Log } from './log.js';

export const KEY_FILE = 'key.pem';
export const CERT_FILE = 'cert.pem';
export const RSA_BITS = 2048;

/** A self-signed certificate is re-issued once two thirds of its life have passed (as DESIGN's CA does). */
const RENEW_AT = 2 / 3;

/** TLS options the caller may choose; the key and certificate are always this device's. */
export type IdentityTlsOptions = Omit<
  SecureContextOptions,
  'key' | 'cert' | 'pfx' | 'passphrase' | 'privateKeyEngine' | 'privateKeyIdentifier' | 'sigalgs'
>;

const generateRsa = promisify(generateKeyPair);

/**
 * The device's key pair and certificate (DESIGN.md "Certificate authority", first bullet).
 *
 * The private key lives in `key.pem` (PKCS#8, mode 0600) and, once loaded, only as a native KeyObject
 * in a private field. Nothing this class returns contains it: TLS gets an opaque SecureContext,
 * certificate requests and certificates carry the public key only, and `toJSON`/`inspect` show a
 * summary.
 */
export class DeviceIdentity {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #dir: string;
  #certPem: string;
  #cert: X509Certificate;
  readonly #log: Log;

  private constructor(
    dir: string,
    privateKey: KeyObject,
    certPem: string,
    readonly instanceId: string,
    log: Log,
  ) {
    this.#dir = dir;
    this.#privateKey = privateKey;
    this.#publicKey = createPublicKey(privateKey);
    this.#certPem = certPem;
    this.#cert = new X509Certificate(certPem);
    this.#log = log;
  }

  /**
   * Loads the identity in `dir`, creating what is missing: the key pair on first use (RSA-2048 by
   * Node's native generator, off the main thread), and a self-signed certificate whenever there is
   * none, it does not belong to the key, it has lived two thirds of its life, or it names another AOR.
   */
  static async load(
    dir: string,
    options: { instanceId: string; aor?: string | undefined; now: () => Date; log: Log },
  ): Promise<DeviceIdentity> {
    const { log } = options;
    const keyPath = join(dir, KEY_FILE);
    const certPath = join(dir, CERT_FILE);
    let keyPem = await readOptional(keyPath);
    if (keyPem === undefined) {
      const started = performance.now();
      const { privateKey } = await generateRsa('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      try {
        await writeFileAtomic(keyPath, pem, { exclusive: true });
        log.info(
          { file: keyPath, algorithm: 'RSA', bits: RSA_BITS, ms: Math.round(performance.now() - started) },
          'device key pair generated',
        );
        keyPem = pem;
      } catch (e) {
        if (errorCode(e) !== 'EEXIST') throw e;
        // Another process created it first: theirs is the device's key.
        keyPem = await readOptional(keyPath);
        if (keyPem === undefined)
          throw new ProfileError('corrupt', `${keyPath} vanished while it was being created`);
      }
    } else if (await tightenMode(keyPath)) {
      log.warn({ file: keyPath }, 'private key file was readable by other users; permissions set to 0600');
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(keyPem);
    } catch {
      // Not the parser's message: it could quote the file.
      throw new ProfileError(
        'corrupt',
        `${keyPath} is not a valid private key. Restore it from a backup, or remove the profile folder and enrol again`,
      );
    }
    if (
      privateKey.asymmetricKeyType !== 'rsa' ||
      (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < RSA_BITS
    )
      throw new ProfileError('corrupt', `${keyPath} must hold an RSA key of at least ${RSA_BITS} bits`);

    let certPem = await loadCertificate(certPath, privateKey);
    if (certPem === undefined) {
      certPem = createSelfSignedCertificate(privateKey, createPublicKey(privateKey), {
        instanceId: options.instanceId,
        ...(options.aor ? { aor: options.aor } : {}),
        now: options.now(),
      });
      await writeFileAtomic(certPath, certPem);
      log.info(
        { file: certPath, fingerprint: new X509Certificate(certPem).fingerprint256 },
        'self-signed certificate issued',
      );
    }
    const identity = new DeviceIdentity(dir, privateKey, certPem, options.instanceId, log);
    await identity.refresh({ aor: options.aor, now: options.now() });
    return identity;
  }

  /** The certificate presented in every TLS handshake, PEM. */
  get certificatePem(): string {
    return this.#certPem;
  }

  get certificate(): X509Certificate {
    return this.#cert;
  }

  /** SHA-256 of the certificate's DER, RFC 8122 form (`AB:CD:…`, upper case): what `a=fingerprint` carries. */
  get fingerprint(): string {
    return this.#cert.fingerprint256;
  }

  get notAfter(): Date {
    return new Date(this.#cert.validTo);
  }

  get selfSigned(): boolean {
    return isSelfSigned(this.#cert);
  }

  /** The AOR the certificate names (its `sip:`/`sips:` URI SAN), if any. */
  get aor(): string | undefined {
    return uriSans(this.#cert).find((u) => /^sips?:/.test(u));
  }

  /**
   * A TLS context holding this device's key and certificate, e.g. `{ minVersion: 'TLSv1.3' }` for the
   * peer-to-peer channel. The key goes straight into the native context.
   */
  secureContext(options: IdentityTlsOptions = {}): SecureContext {
    return createSecureContext({
      ...options,
      key: this.#privateKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: this.#certPem,
    });
  }

  /** A PKCS#10 request for the CA naming `aor` and this device (PEM). */
  createCertificateRequest(aor: string): string {
    return createCertificateRequest(this.#privateKey, this.#publicKey, { aor, instanceId: this.instanceId });
  }

  /** Whether the certificate is one `caPem` issued, names `aor`, and is valid at `now` (give or take the skew). */
  isIssuedBy(caPem: string, aor: string, now = new Date()): boolean {
    return caIssuedProblem(this.#cert, new X509Certificate(caPem), aor, now) === undefined;
  }

  /**
   * When the certificate should be replaced by a new one from `caPem`: at two thirds of its life if
   * that CA issued it for `aor`, else now (self-signed, another CA's, another AOR's).
   */
  renewalTime(caPem: string, aor: string, now = new Date()): Date {
    if (!this.isIssuedBy(caPem, aor, now)) return now;
    const from = new Date(this.#cert.validFrom).getTime();
    const to = new Date(this.#cert.validTo).getTime();
    return new Date(from + (to - from) * RENEW_AT);
  }

  /**
   * Installs a chain the CA sent (PEM, leaf first): the leaf must be issued and signed by `caPem`, name
   * `aor` and this device's instance, certify this device's key, and be valid now give or take the
   * tolerated clock skew.
   */
  async installChain(chainPem: string, caPem: string, aor: string, now = new Date()): Promise<void> {
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(chainPem)?.[0];
    if (!leaf) throw new ProfileError('invalid', 'the CA sent no certificate');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(leaf);
    } catch {
      throw new ProfileError('invalid', 'the issued certificate is not a valid X.509 certificate');
    }
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      throw new ProfileError('invalid', 'the issued certificate is not signed by the pinned CA');
    const names = uriSans(cert).map((u) => u.toLowerCase());
    if (!names.includes(aor.toLowerCase()) || !names.includes(this.instanceId.toLowerCase()))
      throw new ProfileError('invalid', `the issued certificate does not name ${aor} and this device`);
    await this.installCertificate(cert.toString(), now);
  }

  /**
   * Replaces the certificate with one issued by the CA. It must certify this device's key and be
   * within its validity (give or take the tolerated clock skew); the caller has checked that it chains
   * to the pinned CA.
   */
  async installCertificate(pem: string, now = new Date()): Promise<void> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      throw new ProfileError('invalid', 'the issued certificate is not a valid X.509 certificate');
    }
    if (!cert.checkPrivateKey(this.#privateKey))
      throw new ProfileError('invalid', "the issued certificate is not for this device's key");
    const t = now.getTime();
    if (
      t < new Date(cert.validFrom).getTime() - CLOCK_SKEW_MS ||
      t > new Date(cert.validTo).getTime() + CLOCK_SKEW_MS
    )
      throw new ProfileError(
        'invalid',
        `the issued certificate is not valid now (${cert.validFrom} – ${cert.validTo}); check this computer's clock`,
      );
    await this.#store(cert.toString());
    this.#log.info(
      { fingerprint: this.fingerprint, notAfter: cert.validTo },
      'CA-issued certificate installed',
    );
  }

  /**
   * Re-issues the self-signed certificate when it is due (two thirds of its life), names another AOR
   * than `aor`, or `force` is set. A CA-issued certificate is left alone unless it has expired.
   */
  async refresh(options: { aor?: string | undefined; now?: Date; force?: boolean } = {}): Promise<boolean> {
    const now = options.now ?? new Date();
    const from = new Date(this.#cert.validFrom).getTime();
    const to = new Date(this.#cert.validTo).getTime();
    const expired = now.getTime() >= to;
    const due = now.getTime() >= from + (to - from) * RENEW_AT;
    const wrongAor = options.aor !== undefined && this.aor !== options.aor;
    const reissue = options.force || expired || (this.selfSigned && (due || wrongAor));
    if (!reissue) return false;
    const aor = options.aor ?? this.aor;
    const pem = createSelfSignedCertificate(this.#privateKey, this.#publicKey, {
      instanceId: this.instanceId,
      ...(aor ? { aor } : {}),
      now,
    });
    await this.#store(pem);
    this.#log.info(
      { fingerprint: this.fingerprint, notAfter: this.#cert.validTo },
      'self-signed certificate issued',
    );
    return true;
  }

  async #store(pem: string): Promise<void> {
    await writeFileAtomic(join(this.#dir, CERT_FILE), pem);
    this.#certPem = pem;
    this.#cert = new X509Certificate(pem);
  }

  /** What logging or serialising an identity shows: public facts only. */
  toJSON(): {
    instanceId: string;
    fingerprint: string;
    aor: string | undefined;
    notAfter: string;
    selfSigned: boolean;
  } {
    return {
      instanceId: this.instanceId,
      fingerprint: this.fingerprint,
      aor: this.aor,
      notAfter: this.notAfter.toISOString(),
      selfSigned: this.selfSigned,
    };
  }

  [inspect.custom](): string {
    return `DeviceIdentity ${inspect(this.toJSON())}`;
  }
}

/** The stored certificate if it parses and belongs to `key`; undefined otherwise (it is then re-issued). */
async function loadCertificate(path: string, key: KeyObject): Promise<string | undefined> {
  const pem = await readOptional(path);
  if (pem === undefined) return undefined;
  try {
    const cert = new X509Certificate(pem);
    return cert.checkPrivateKey(key) ? pem : undefined;
  } catch {
    return undefined;
  }
}
