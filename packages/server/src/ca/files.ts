import { randomBytes } from 'node:crypto';
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

/** Writes a private key readable by the owner only (0600; created with that mode, never widened). */
export function writePrivateKeyFile(file: string, keyPem: string, options: WriteOptions = {}): void {
  writeNew(file, keyPem, PRIVATE_KEY_MODE, options.overwrite ?? false);
}

/** Writes a certificate (0644 minus the umask). */
export function writeCertificateFile(file: string, certPem: string, options: WriteOptions = {}): void {
  writeNew(file, certPem, CERTIFICATE_MODE, options.overwrite ?? false);
}

/** Writes a key (0600) and its certificate (0644). */
export function writeKeyAndCertificate(
  keyFile: string,
  certFile: string,
  kc: KeyAndCertificate,
  options: WriteOptions = {},
): void {
  writePrivateKeyFile(keyFile, kc.keyPem, options);
  writeCertificateFile(certFile, kc.certPem, options);
}

/**
 * Reads a key and certificate pair. Refuses a private key that group or others may read, the way ssh
 * does, because the key of the deployment CA lets anyone impersonate the server.
 */
export function readKeyAndCertificate(keyFile: string, certFile: string): KeyAndCertificate {
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CaError(`${file} is missing`);
      throw new CaError(`cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const keyPem = read(keyFile);
  const mode = fs.statSync(keyFile).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new CaError(
      `${keyFile} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${keyFile}`,
    );
  }
  return { keyPem, certPem: read(certFile) };
}
