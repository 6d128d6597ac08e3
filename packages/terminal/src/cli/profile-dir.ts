import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `--profile DIR`, else `$TSUNAGU_PROFILE`, else the platform's per-user application-data folder. */
export function resolveProfileDir(
  option?: string,
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
): string {
  if (option) return resolve(option);
  if (env.TSUNAGU_PROFILE) return resolve(env.TSUNAGU_PROFILE);
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Tsunagu');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Tsunagu');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'tsunagu');
}
