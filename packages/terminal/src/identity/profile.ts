import { X509Certificate, randomUUID } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { ProfileError } from './errors.js';
import { PRIVATE_DIR_MODE, errorCode, readOptional, tightenMode, writeFileAtomic } from './files.js';
import { DeviceIdentity } from './identity.js';
import { silentLog, type Log } from './log.js';

/**
 * The profile folder of one device (issue 3, "Identity and enrolment"):
 *
 * ```
 * profile.json   0600  what the device needs to find and trust its server, who it is, settings
 * secret.json    0600  the SIP Digest secret (kept apart so profile.json can be shown or copied)
 * key.pem        0600  the device's private key (PKCS#8), created on first use, never rewritten
 * cert.pem       0600  its certificate: self-signed until the CA issues one
 * ca.pem         0600  the deployment CA's certificate, checked against the pinned fingerprint
 * ```
 *
 * Every write goes to a temporary file that is then renamed into place, so a crash leaves the old or
 * the new file, never half of one. Several processes (daemon and CLI) may open the same profile; the
 * key is created exactly once, and {@link Profile.update} re-reads profile.json before it changes it
 * (last writer wins per call, no lost fields).
 */

export const PROFILE_FILE = 'profile.json';
export const SECRET_FILE = 'secret.json';
export const CA_FILE = 'ca.pem';
export const PROFILE_VERSION = 1;

/** `auto`: decide from the server-observed address; `never`: accept no inbound channel connections; `reachable`: the user says inbound works (a forwarded port, a public address). */
export type InboundPolicy = 'auto' | 'never' | 'reachable';

export interface ServerAddress {
  /** SIP over TLS, `host:port` (`[2001:db8::1]:5061` for IPv6). */
  readonly sip: string;
  /** Enrolment over HTTPS, `host:port`. */
  readonly https?: string;
}

export interface ProfileUser {
  /** `sip:alice@example.org` */
  readonly aor: string;
  /** The device name the server knows this device by. */
  readonly device?: string;
}

export interface DigestAccount {
  /** The Digest username (`alice/laptop`). The secret is in secret.json. */
  readonly username: string;
  readonly realm?: string;
}

export interface ProfileSettings {
  readonly deviceName?: string;
  readonly downloadDir?: string;
  /** AORs whose channels are accepted without asking. */
  readonly acceptFrom?: readonly string[];
  readonly inbound?: InboundPolicy;
  /** Preferred listening port for channels; 0 or absent: any free port. */
  readonly channelPort?: number;
}

export interface ProfileData {
  readonly version: typeof PROFILE_VERSION;
  /** The device instance id (`+sip.instance`, RFC 5626): `urn:uuid:…`, made once. */
  readonly instanceId: string;
  readonly createdAt: string;
  readonly server?: ServerAddress;
  /** The pinned deployment CA: `sha256:AB:CD:…` (as in the join link). */
  readonly caFingerprint?: string;
  readonly user?: ProfileUser;
  readonly digest?: DigestAccount;
  readonly settings: ProfileSettings;
}

/** A change to the profile; a field given as `undefined` is removed. `settings` is merged key by key. */
export interface ProfileUpdate {
  server?: ServerAddress | undefined;
  caFingerprint?: string | undefined;
  user?: ProfileUser | undefined;
  digest?: DigestAccount | undefined;
  settings?: { [K in keyof ProfileSettings]?: ProfileSettings[K] | undefined };
}

export interface OpenProfileOptions {
  /** Create the folder, profile.json and the key pair if they do not exist. Default false: a missing profile is an error. */
  create?: boolean;
  log?: Log;
  now?: () => Date;
}

/** Opens (or with `create`, creates) the profile in `dir`. Throws ProfileError with a message for people. */
export async function openProfile(dir: string, options: OpenProfileOptions = {}): Promise<Profile> {
  const root = resolve(dir);
  const log = options.log ?? silentLog;
  const now = options.now ?? (() => new Date());
  const file = join(root, PROFILE_FILE);
  let text = await readProfileText(root, file, options.create === true);
  if (text === undefined) {
    await mkdir(root, { recursive: true, mode: PRIVATE_DIR_MODE });
    const fresh: ProfileData = {
      version: PROFILE_VERSION,
      instanceId: `urn:uuid:${randomUUID()}`,
      createdAt: now().toISOString(),
      settings: {},
    };
    text = serialise(fresh);
    try {
      await writeFileAtomic(file, text, { exclusive: true });
      log.info({ dir: root, instanceId: fresh.instanceId }, 'profile created');
    } catch (e) {
      if (errorCode(e) !== 'EEXIST') throw e;
      text = (await readOptional(file)) ?? text; // created by another process meanwhile
    }
  } else if (await tightenMode(file)) {
    log.warn({ file }, 'profile.json was readable by other users; permissions set to 0600');
  }
  const data = parseProfile(text, file);
  const identity = await DeviceIdentity.load(root, {
    instanceId: data.instanceId,
    aor: data.user?.aor,
    now,
    log,
  });
  return new Profile(root, data, identity, log);
}

async function readProfileText(root: string, file: string, create: boolean): Promise<string | undefined> {
  try {
    const st = await stat(root);
    if (!st.isDirectory()) throw new ProfileError('invalid', `${root} is not a folder`);
  } catch (e) {
    if (e instanceof ProfileError) throw e;
    if (errorCode(e) !== 'ENOENT') throw e;
    if (!create)
      throw new ProfileError(
        'missing',
        `no Tsunagu profile at ${root}: the folder does not exist. Enrol this device first (tsunagu enroll LINK --profile ${root}), or pass the right --profile`,
      );
    return undefined;
  }
  const text = await readOptional(file);
  if (text === undefined && !create)
    throw new ProfileError(
      'missing',
      `no Tsunagu profile at ${root}: ${PROFILE_FILE} is missing. Enrol this device first (tsunagu enroll LINK --profile ${root}), or pass the right --profile`,
    );
  return text;
}

export class Profile {
  #data: ProfileData;

  constructor(
    readonly dir: string,
    data: ProfileData,
    readonly identity: DeviceIdentity,
    readonly log: Log,
  ) {
    this.#data = data;
  }

  /** The profile as last read or written (frozen). */
  get data(): ProfileData {
    return this.#data;
  }

  get file(): string {
    return join(this.dir, PROFILE_FILE);
  }

  /**
   * Applies `change` to the profile as it is on disk now, validates the result and writes it
   * atomically. When the user's AOR changes, the self-signed certificate is re-issued to name it.
   */
  async update(change: ProfileUpdate | ((current: ProfileData) => ProfileUpdate)): Promise<ProfileData> {
    const text = await readOptional(this.file);
    if (text === undefined) throw new ProfileError('missing', `${this.file} has disappeared`);
    const current = parseProfile(text, this.file);
    const patch = typeof change === 'function' ? change(current) : change;
    const next: Record<string, unknown> = { ...current };
    for (const key of ['server', 'caFingerprint', 'user', 'digest'] as const) {
      if (!(key in patch)) continue;
      if (patch[key] === undefined) delete next[key];
      else next[key] = patch[key];
    }
    if (patch.settings) {
      const settings: Record<string, unknown> = { ...current.settings };
      for (const [k, v] of Object.entries(patch.settings)) {
        if (v === undefined) delete settings[k];
        else settings[k] = v;
      }
      next['settings'] = settings;
    }
    let data: ProfileData;
    try {
      data = validateProfile(next);
    } catch (e) {
      if (e instanceof ProfileError)
        throw new ProfileError('invalid', e.message.replace(/^profile\.json: /, ''));
      throw e;
    }
    await writeFileAtomic(this.file, serialise(data));
    this.#data = data;
    if (data.user?.aor !== current.user?.aor) await this.identity.refresh({ aor: data.user?.aor });
    this.log.debug({ file: this.file }, 'profile saved');
    return data;
  }

  /** The SIP Digest secret, or undefined when none is stored. */
  async readDigestSecret(): Promise<string | undefined> {
    const file = join(this.dir, SECRET_FILE);
    const text = await readOptional(file);
    if (text === undefined) return undefined;
    if (await tightenMode(file))
      this.log.warn({ file }, 'secret file was readable by other users; permissions set to 0600');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ProfileError('corrupt', `${file} is not valid JSON; log in again to store a new secret`);
    }
    const secret = isRecord(parsed) ? parsed['digestSecret'] : undefined;
    if (typeof secret !== 'string' || secret === '')
      throw new ProfileError('corrupt', `${file} has no digest secret; log in again to store a new one`);
    return secret;
  }

  /** Stores the SIP Digest secret (0600, atomic). */
  async writeDigestSecret(secret: string): Promise<void> {
    if (
      typeof secret !== 'string' ||
      secret.length === 0 ||
      secret.length > 1024 ||
      /[\x00-\x1f\x7f]/.test(secret)
    )
      throw new ProfileError('invalid', 'the digest secret must be 1 to 1024 printable characters');
    await writeFileAtomic(
      join(this.dir, SECRET_FILE),
      JSON.stringify({ version: 1, digestSecret: secret }) + '\n',
    );
    this.log.info({ file: join(this.dir, SECRET_FILE) }, 'digest secret stored');
  }

  /**
   * Stores the deployment CA's certificate. It must be the pinned one: its SHA-256 fingerprint equal
   * to `caFingerprint` (set that first, from the invite link).
   */
  async saveCaCertificate(pem: string): Promise<void> {
    const pin = this.#data.caFingerprint;
    if (!pin)
      throw new ProfileError(
        'invalid',
        'pin the CA fingerprint (caFingerprint) before storing its certificate',
      );
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      throw new ProfileError('invalid', 'the CA certificate is not a valid X.509 certificate');
    }
    if (`sha256:${cert.fingerprint256}` !== pin)
      throw new ProfileError('invalid', `the CA certificate is not the pinned one (${pin})`);
    await writeFileAtomic(join(this.dir, CA_FILE), cert.toString());
  }

  /** The pinned CA's certificate (PEM), or undefined when none is stored; checked against the pin on every read. */
  async readCaCertificate(): Promise<string | undefined> {
    const file = join(this.dir, CA_FILE);
    const pem = await readOptional(file);
    if (pem === undefined) return undefined;
    let fingerprint: string;
    try {
      fingerprint = new X509Certificate(pem).fingerprint256;
    } catch {
      throw new ProfileError('corrupt', `${file} is not a valid certificate; enrol again to fetch it`);
    }
    if (`sha256:${fingerprint}` !== this.#data.caFingerprint)
      throw new ProfileError(
        'corrupt',
        `${file} is not the pinned CA (${this.#data.caFingerprint ?? 'no pin'}): the file was replaced. Enrol again`,
      );
    return pem;
  }

  toJSON(): { dir: string; data: ProfileData; identity: ReturnType<DeviceIdentity['toJSON']> } {
    return { dir: this.dir, data: this.#data, identity: this.identity.toJSON() };
  }

  [inspect.custom](): string {
    return `Profile ${inspect(this.toJSON(), { depth: 4 })}`;
  }
}

function serialise(data: ProfileData): string {
  return JSON.stringify(data, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Validation: every field checked, with the field's path in the message. Unknown fields are kept
// (a newer version may have written them) but not typed.

const INSTANCE_ID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;
const CA_FINGERPRINT = /^sha256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/;
const AOR = /^sips?:[^\s@<>"]{1,64}@[^\s@<>"]{1,253}$/;
const PRINTABLE = /^[^\x00-\x1f\x7f]+$/;

function parseProfile(text: string, file: string): ProfileData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ProfileError(
      'corrupt',
      `${file} is not valid JSON (${(e as Error).message}). Restore it from a backup, or enrol again into a new profile folder`,
    );
  }
  try {
    return validateProfile(parsed);
  } catch (e) {
    if (e instanceof ProfileError && e.code === 'corrupt')
      throw new ProfileError('corrupt', `${file}: ${e.message.replace(/^profile\.json: /, '')}`);
    if (e instanceof ProfileError) throw new ProfileError(e.code, `${file}: ${e.message}`);
    throw e;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validateProfile(v: unknown): ProfileData {
  const bad = (path: string, what: string): never => {
    throw new ProfileError('corrupt', `profile.json: ${path} ${what}`);
  };
  if (!isRecord(v)) return bad('the content', 'must be a JSON object');
  if (typeof v['version'] !== 'number') return bad('version', 'is missing');
  if (v['version'] > PROFILE_VERSION)
    throw new ProfileError(
      'unsupported-version',
      `written by a newer Tsunagu (profile version ${v['version']}; this one reads version ${PROFILE_VERSION}). Update Tsunagu`,
    );
  if (v['version'] !== PROFILE_VERSION) bad('version', `must be ${PROFILE_VERSION}`);
  const str = (path: string, x: unknown, re: RegExp, what: string): string => {
    if (typeof x !== 'string' || !re.test(x)) bad(path, `must be ${what}`);
    return x as string;
  };
  str('instanceId', v['instanceId'], INSTANCE_ID, 'urn:uuid:<uuid>');
  if (typeof v['createdAt'] !== 'string' || Number.isNaN(Date.parse(v['createdAt'])))
    bad('createdAt', 'must be an ISO date');
  const hostPort = (path: string, x: unknown) => {
    const s = str(path, x, HOST_PORT, 'HOST:PORT');
    const port = Number(HOST_PORT.exec(s)![1]);
    if (port < 1 || port > 65535) bad(path, 'has a port outside 1–65535');
  };
  if (v['server'] !== undefined) {
    const s = v['server'];
    if (!isRecord(s)) bad('server', 'must be an object');
    hostPort('server.sip', (s as Record<string, unknown>)['sip']);
    if ((s as Record<string, unknown>)['https'] !== undefined)
      hostPort('server.https', (s as Record<string, unknown>)['https']);
  }
  if (v['caFingerprint'] !== undefined)
    str(
      'caFingerprint',
      v['caFingerprint'],
      CA_FINGERPRINT,
      'sha256: and 32 upper-case hex bytes separated by colons',
    );
  if (v['user'] !== undefined) {
    const u = v['user'];
    if (!isRecord(u)) bad('user', 'must be an object');
    str('user.aor', (u as Record<string, unknown>)['aor'], AOR, 'an AOR such as sip:alice@example.org');
    if ((u as Record<string, unknown>)['device'] !== undefined)
      str(
        'user.device',
        (u as Record<string, unknown>)['device'],
        /^[^\x00-\x1f\x7f]{1,200}$/,
        'a device name',
      );
  }
  if (v['digest'] !== undefined) {
    const d = v['digest'];
    if (!isRecord(d)) bad('digest', 'must be an object');
    str(
      'digest.username',
      (d as Record<string, unknown>)['username'],
      /^[\x21-\x7e]{1,200}$/,
      'a Digest username',
    );
    if ((d as Record<string, unknown>)['realm'] !== undefined)
      str('digest.realm', (d as Record<string, unknown>)['realm'], /^[\x20-\x7e]{1,200}$/, 'a realm');
    if ('secret' in (d as Record<string, unknown>) || 'password' in (d as Record<string, unknown>))
      bad('digest', 'must not hold the secret (it belongs in secret.json)');
  }
  const settings = v['settings'] ?? {};
  if (!isRecord(settings)) return bad('settings', 'must be an object');
  if (settings['deviceName'] !== undefined)
    str('settings.deviceName', settings['deviceName'], PRINTABLE, 'text');
  if (settings['downloadDir'] !== undefined)
    str('settings.downloadDir', settings['downloadDir'], PRINTABLE, 'a path');
  if (settings['acceptFrom'] !== undefined) {
    const list = settings['acceptFrom'];
    if (!Array.isArray(list) || list.length > 10_000) bad('settings.acceptFrom', 'must be a list of names');
    (list as unknown[]).forEach((x, i) => str(`settings.acceptFrom[${i}]`, x, PRINTABLE, 'a name'));
  }
  if (
    settings['inbound'] !== undefined &&
    !['auto', 'never', 'reachable'].includes(settings['inbound'] as string)
  )
    bad('settings.inbound', 'must be auto, never or reachable');
  if (settings['channelPort'] !== undefined) {
    const p = settings['channelPort'];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535)
      bad('settings.channelPort', 'must be a port number (0–65535)');
  }
  return deepFreeze({ ...v, settings }) as unknown as ProfileData;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
