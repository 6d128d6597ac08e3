import type { DeviceInfo, SettingsView } from '@tsunagu/protocol';
import { useEffect, useId, useState, type FormEvent } from 'react';
import { useAppState, useBridge } from '../../app/context';
import { ErrorMessage } from '../../components/Notice';
import { useAction } from '../../components/useAction';
import { selectAccount } from '../../state/selectors';
import { loadTheme, saveTheme, type ThemeChoice } from './theme';

/**
 * Settings: the download folder, whose requests to accept without asking, the theme, and this
 * device's identity (what others verify).
 *
 * Test hooks: field "Download folder" + button "Save folder"; field "Add a name" + button "Add";
 * list "Accepted without asking" with buttons "Remove bob"; radio group "Theme" (System, Light, Dark);
 * `data-testid="device-info"`.
 */
export function SettingsPanel() {
  const account = useAppState(selectAccount);
  if (!account) return null;
  return (
    <section className="settings" aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <Preferences settings={account.settings} />
      <ThemeSetting />
      {account.device ? <DeviceFacts device={account.device} localServer={account.localServer} /> : null}
    </section>
  );
}

const ACCEPT = /^(sip:)?[a-z0-9][a-z0-9._-]{0,63}(@[a-z0-9.-]{1,253})?$/;

function Preferences({ settings }: { settings: SettingsView }) {
  const bridge = useBridge();
  // What the terminal last said; its `account` event and the command's answer both update it.
  const [saved, setSaved] = useState(settings);
  useEffect(() => setSaved(settings), [settings]);
  const [folder, setFolder] = useState(settings.downloadDir);
  const [folderDirty, setFolderDirty] = useState(false);
  useEffect(() => {
    if (!folderDirty) setFolder(settings.downloadDir);
  }, [settings.downloadDir, folderDirty]);
  const [name, setName] = useState('');
  const [invalid, setInvalid] = useState<string>();
  const saveFolder = useAction();
  const acceptList = useAction();
  const [done, setDone] = useState(false);

  const update = (change: { downloadDir?: string; acceptFrom?: string[] }) =>
    bridge.call('settings.update', change).then(setSaved);

  const submitFolder = (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    void saveFolder
      .run(() => update({ downloadDir: folder.trim() }))
      .then((ok) => {
        if (!ok) return;
        setFolderDirty(false);
        setDone(true);
      });
  };

  const add = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim().toLowerCase();
    if (!ACCEPT.test(n)) return setInvalid('Enter a user name (bob) or an address (sip:bob@example.org).');
    if (saved.acceptFrom.includes(n)) return setName('');
    void acceptList
      .run(() => update({ acceptFrom: [...saved.acceptFrom, n] }))
      .then((ok) => ok && setName(''));
  };
  const remove = (n: string) =>
    void acceptList.run(() => update({ acceptFrom: saved.acceptFrom.filter((x) => x !== n) }));

  return (
    <>
      <form className="stack setting" onSubmit={submitFolder}>
        <h3>Downloads</h3>
        <label htmlFor="download-dir">Download folder</label>
        <div className="input-row">
          <input
            id="download-dir"
            type="text"
            spellCheck={false}
            value={folder}
            onChange={(e) => {
              setFolder(e.target.value);
              setFolderDirty(true);
              setDone(false);
            }}
          />
          <button type="submit" disabled={saveFolder.busy || folder.trim() === ''}>
            Save folder
          </button>
        </div>
        <p className="muted" aria-live="polite">
          {done
            ? 'Saved. New files go there.'
            : 'Received files are written here, never over an existing file.'}
        </p>
        {saveFolder.error ? <ErrorMessage>{saveFolder.error}</ErrorMessage> : null}
      </form>

      <div className="stack setting">
        <h3 id="accept-title">Accept without asking</h3>
        <p className="muted">Channel requests from these people are accepted automatically.</p>
        {saved.acceptFrom.length === 0 ? (
          <p className="muted">Nobody yet: every request asks you first.</p>
        ) : (
          <ul className="chip-list" aria-label="Accepted without asking">
            {saved.acceptFrom.map((n) => (
              <li key={n} className="chip">
                <span>{n}</span>
                <button
                  type="button"
                  className="button-quiet"
                  aria-label={`Remove ${n}`}
                  disabled={acceptList.busy}
                  onClick={() => remove(n)}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        <form className="input-row" onSubmit={add}>
          <label htmlFor="accept-name" className="visually-hidden">
            Add a name
          </label>
          <input
            id="accept-name"
            type="text"
            spellCheck={false}
            autoComplete="off"
            placeholder="bob or sip:bob@example.org"
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setInvalid(undefined);
            }}
          />
          <button type="submit" disabled={acceptList.busy || name.trim() === ''}>
            Add
          </button>
        </form>
        {invalid ? <ErrorMessage>{invalid}</ErrorMessage> : null}
        {acceptList.error ? <ErrorMessage>{acceptList.error}</ErrorMessage> : null}
      </div>
    </>
  );
}

function ThemeSetting() {
  const [theme, setTheme] = useState<ThemeChoice>(() => loadTheme());
  const group = useId();
  const choose = (t: ThemeChoice) => {
    setTheme(t);
    saveTheme(t);
  };
  return (
    <fieldset className="setting theme-setting">
      <legend>Theme</legend>
      {(['system', 'light', 'dark'] as const).map((t) => (
        <label key={t} className="radio">
          <input type="radio" name={group} value={t} checked={theme === t} onChange={() => choose(t)} />
          {t === 'system' ? 'System' : t === 'light' ? 'Light' : 'Dark'}
        </label>
      ))}
    </fieldset>
  );
}

function DeviceFacts({ device, localServer }: { device: DeviceInfo; localServer: boolean }) {
  const expires = new Date(device.certificateExpires);
  const days = Math.round((expires.getTime() - Date.now()) / 86_400_000);
  return (
    <div className="setting" data-testid="device-info">
      <h3>This device</h3>
      <dl className="facts">
        <dt>Address</dt>
        <dd>
          <code>{device.aor}</code>
        </dd>
        <dt>Device name</dt>
        <dd>{device.device ?? '—'}</dd>
        <dt>Certificate fingerprint</dt>
        <dd>
          <code className="fingerprint">{device.fingerprint}</code>
        </dd>
        <dt>Certificate expires</dt>
        <dd>
          <time dateTime={device.certificateExpires}>{expires.toLocaleString()}</time>
          {Number.isFinite(days) ? ` (${days >= 0 ? `in ${days} days` : 'expired'})` : ''}
        </dd>
        <dt>Certificate issued by</dt>
        <dd data-testid="certificate-state" data-state={device.certificate?.state ?? 'needed'}>
          {certificateText(device.certificate)}
        </dd>
        <dt>Server</dt>
        <dd>
          <code>{device.server}</code>
          {localServer ? ' (running on this computer)' : ''}
        </dd>
        <dt>CA fingerprint</dt>
        <dd>
          <code className="fingerprint">{device.caFingerprint}</code>
        </dd>
      </dl>
    </div>
  );
}

/** Where the certificate stands, in words: renewal is automatic, so only a failure asks anything of the person. */
function certificateText(c: DeviceInfo['certificate']): string {
  switch (c?.state) {
    case 'ca-issued':
      return `the deployment CA; renewed automatically${c.renewAt ? ` from ${new Date(c.renewAt).toLocaleDateString()}` : ''}`;
    case 'issuing':
      return 'asking the deployment CA…';
    case 'failed':
      return `not the deployment CA yet: ${c.error ?? 'the request failed'} (retried automatically)`;
    default:
      return 'not the deployment CA yet (asked for on the next connection)';
  }
}
