import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyAndCertificate } from './ca.js';
import { CaError } from './ca.js';

export const PRIVATE_KEY_MODE = 0o600;
export const CERTIFICATE_MODE = 0o644;

export interface WriteOptions {
  /** Replace an existing file atomically (temp file + rename). Without it an existing file is an error. */
  overwrite?: boolean;
}

function writeNew(file: string, data: string, mode: number, overwrite: boolean): void {
  if (!overwrite) {
    try {
      fs.writeFileSync(file, data, { mode, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CaError(`${file} already exists`);
      throw e;
    }
    return;
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(tmp, data, { mode, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export interface PrivateKeyWriteOptions extends WriteOptions {
  /**
   * Encrypt the key with this passphrase: PKCS#8 with AES-256-CBC (PBES2, the key derived by OpenSSL's
   * default PBKDF2), readable by `openssl pkey -passin`.
   */
  passphrase?: string;
}

/** The environment variable that carries the CA key's passphrase. */
export const CA_PASSPHRASE_ENV = 'TSUNAGU_CA_PASSPHRASE';

/**
 * Writes a private key readable by the owner only (0600; created with that mode, never widened);
 * encrypted when a passphrase is given.
 */
export function writePrivateKeyFile(
  file: string,
  keyPem: string,
  options: PrivateKeyWriteOptions = {},
): void {
  let data = keyPem;
  if (options.passphrase !== undefined) {
    if (options.passphrase === '') throw new CaError('the passphrase for the CA key is empty');
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: keyPem, format: 'pem' });
    } catch {
      throw new CaError(`cannot encrypt the key for ${file}: not an unencrypted private key in PEM`);
    }
    data = key
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase })
      .toString();
  }
  writeNew(file, data, PRIVATE_KEY_MODE, options.overwrite ?? false);
}

/** Writes a certificate (0644 minus the umask). */
export function writeCertificateFile(file: string, certPem: string, options: WriteOptions = {}): void {
  writeNew(file, certPem, CERTIFICATE_MODE, options.overwrite ?? false);
}

/** Writes a key (0600, encrypted when `options.passphrase` is given) and its certificate (0644). */
export function writeKeyAndCertificate(
  keyFile: string,
  certFile: string,
  kc: KeyAndCertificate,
  options: PrivateKeyWriteOptions = {},
): void {
  writePrivateKeyFile(keyFile, kc.keyPem, options);
  const { passphrase: _passphrase, ...certOptions } = options;
  writeCertificateFile(certFile, kc.certPem, certOptions);
}

/** Reads a file of the CA (a certificate, key or passphrase); a CaError names the file. */
export function readCaFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CaError(`${file} is missing`);
    throw new CaError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Refuses a secret file that group or others may read, the way ssh does. */
function assertPrivateMode(file: string): void {
  if (process.platform === 'win32') return;
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CaError(
      `${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${file}`,
    );
  }
}

/**
 * Reads a key and certificate pair. Refuses a private key that group or others may read, the way ssh
 * does, because the key of the deployment CA lets anyone impersonate the server.
 */
export function readKeyAndCertificate(keyFile: string, certFile: string): KeyAndCertificate {
  const keyPem = readCaFile(keyFile);
  assertPrivateMode(keyFile);
  return { keyPem, certPem: readCaFile(certFile) };
}

const ENCRYPTED_PEM = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

/**
 * Reads a private key file (0600 or stricter) as a native KeyObject, decrypting it with `passphrase`
 * when it is encrypted. Errors name the file, never the key's bytes or the passphrase.
 */
export function readPrivateKey(file: string, passphrase?: string): KeyObject {
  return readPrivateKeyFile(file, passphrase).key;
}

/** As {@link readPrivateKey}, and whether the file holds the key encrypted (PKCS#8 or traditional PEM). */
export function readPrivateKeyFile(
  file: string,
  passphrase?: string,
): { key: KeyObject; encrypted: boolean } {
  const pem = readCaFile(file);
  assertPrivateMode(file);
  const encrypted = ENCRYPTED_PEM.test(pem);
  if (encrypted && (passphrase === undefined || passphrase === '')) {
    throw new CaError(
      `the CA key ${file} is encrypted: give its passphrase (${CA_PASSPHRASE_ENV} or --ca-passphrase-file)`,
    );
  }
  try {
    const key = createPrivateKey(
      encrypted ? { key: pem, format: 'pem', passphrase: passphrase! } : { key: pem, format: 'pem' },
    );
    return { key, encrypted };
  } catch {
    // OpenSSL cannot tell a wrong passphrase from damaged ciphertext; the first is what happens.
    if (encrypted) throw new CaError(`wrong passphrase for ${file}`);
    throw new CaError(`${file} is not a private key in PEM`);
  }
}

/**
 * The CA key's passphrase: the first line of `options.file` (which, like a key, must not be readable
 * by others), else the environment variable TSUNAGU_CA_PASSPHRASE, else undefined.
 */
export function readPassphrase(options: { file?: string; env?: NodeJS.ProcessEnv }): string | undefined {
  if (options.file !== undefined) {
    const text = readCaFile(options.file);
    assertPrivateMode(options.file);
    const line = (text.split('\n', 1)[0] ?? '').replace(/\r$/, '');
    if (line === '') throw new CaError(`${options.file} is empty: write the passphrase on its first line`);
    return line;
  }
  const value = (options.env ?? process.env)[CA_PASSPHRASE_ENV];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A folder for secrets that must start empty: refuses `dir` unless it is missing or an empty folder
 * (CaError, the message ending with `hint`), before anything is written. `create()` makes it 0700
 * (with any missing parents), or narrows the empty folder to 0700; `remove()` undoes that: it empties
 * a folder that existed, or removes the highest folder `create()` made.
 */
export function newPrivateFolder(dir: string, hint: string): { create(): void; remove(): void } {
  let existed = false;
  try {
    const st = fs.statSync(dir);
    if (!st.isDirectory()) throw new CaError(`${dir} exists and is not a folder`);
    if (fs.readdirSync(dir).length > 0) throw new CaError(`${dir} exists and is not empty; ${hint}`);
    existed = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let firstCreated: string | undefined;
  return {
    create() {
      if (existed) fs.chmodSync(dir, 0o700);
      else firstCreated = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    },
    remove() {
      if (existed) {
        for (const entry of fs.readdirSync(dir))
          fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
      } else if (firstCreated !== undefined) {
        fs.rmSync(firstCreated, { recursive: true, force: true });
      }
    },
  };
}
