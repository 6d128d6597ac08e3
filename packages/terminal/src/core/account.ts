import { hostname } from 'node:os';
import { enroll, login, type DeviceCredentials, type LoginOptions } from '../enroll/index.js';
import { openProfile, type Profile } from '../identity/index.js';

/**
 * The device's account in its profile: what enrolment (an invite link) or a password login gives,
 * stored so the device can authenticate from then on.
 */

const uuidOf = (instanceId: string): string => instanceId.replace(/^urn:uuid:/i, '');

/** Redeems an invite link and stores the device's credentials in the profile (created if needed). */
export async function enrolProfile(profileDir: string, link: string): Promise<Profile> {
  const profile = await openProfile(profileDir, { create: true });
  const name = profile.data.settings.deviceName ?? hostname().slice(0, 64);
  const creds = await enroll(link, { instanceId: uuidOf(profile.data.instanceId), name });
  await saveCredentials(profile, creds);
  return profile;
}

/** Logs in with an account's password (a user made with `user add --password-stdin`). */
export async function loginProfile(
  profileDir: string,
  o: Omit<LoginOptions, 'instanceId' | 'timeoutMs'>,
): Promise<Profile> {
  const profile = await openProfile(profileDir, { create: true });
  const creds = await login({ ...o, instanceId: uuidOf(profile.data.instanceId) });
  await saveCredentials(profile, creds);
  return profile;
}

export async function saveCredentials(profile: Profile, c: DeviceCredentials): Promise<void> {
  await profile.writeDigestSecret(c.secret);
  // The pin first: the profile accepts only a CA certificate with the pinned fingerprint.
  await profile.update({
    server: { sip: c.server, https: c.https },
    caFingerprint: c.caFingerprint,
    user: c.device ? { aor: c.aor, device: c.device } : { aor: c.aor },
    digest: { username: c.username, realm: c.realm },
  });
  await profile.saveCaCertificate(c.caPem);
}

/** The credentials stored in a profile, or undefined when the device has not joined a server yet. */
export async function credentialsOf(profile: Profile): Promise<DeviceCredentials | undefined> {
  const d = profile.data;
  const [secret, caPem] = await Promise.all([profile.readDigestSecret(), profile.readCaCertificate()]);
  if (!d.server || !d.caFingerprint || !d.user || !d.digest || !secret || !caPem) return undefined;
  const m = /^sip:([^@]+)@(.+)$/.exec(d.user.aor);
  if (!m) return undefined;
  return {
    user: m[1]!,
    domain: m[2]!,
    aor: d.user.aor,
    realm: d.digest.realm ?? m[2]!,
    username: d.digest.username,
    secret,
    ...(d.user.device ? { device: d.user.device } : {}),
    instanceId: uuidOf(d.instanceId),
    server: d.server.sip,
    https: d.server.https ?? d.server.sip,
    caFingerprint: d.caFingerprint,
    caPem,
  };
}
