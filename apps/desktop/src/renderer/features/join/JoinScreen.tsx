import { parseJoinLink, type JoinLink } from '@tsunagu/protocol';
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useBridge } from '../../app/context';
import { ErrorMessage } from '../../components/Notice';
import { useAction } from '../../components/useAction';

/**
 * First run: this device has not joined a server yet. Join with the invite link an administrator
 * gave (checked here first, so a mistyped link never reaches the terminal), or start a server on this
 * computer for a quick trial.
 *
 * Test hooks: field labelled "Invite link"; buttons "Join" and "Start a server on this computer";
 * the pin preview `data-testid="join-check"`; errors have role "alert".
 */
export function JoinScreen() {
  const bridge = useBridge();
  const [link, setLink] = useState('');
  const [invalid, setInvalid] = useState<string>();
  const join = useAction();
  const local = useAction();

  // Deep links (`tsunagu://join?…` opened from a mail) prefill the field (Electron).
  useEffect(() => bridge.onJoinLink?.((l) => setLink(l)), [bridge]);

  const parsed = useMemo((): JoinLink | Error | undefined => {
    if (link.trim() === '') return undefined;
    try {
      return parseJoinLink(link);
    } catch (e) {
      return e as Error;
    }
  }, [link]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (parsed === undefined) return setInvalid('Paste the invite link your administrator sent you.');
    if (parsed instanceof Error) return setInvalid(parsed.message);
    void join.run(() => bridge.call('account.join', { link: link.trim() }));
  };

  const busy = join.busy || local.busy;
  return (
    <main className="centered-screen" aria-labelledby="join-title">
      <div className="card join-card">
        <h1 id="join-title">Welcome to Tsunagu</h1>
        <p className="muted">Secure channels and file transfer with the people in your organisation.</p>

        <form onSubmit={submit} className="stack">
          <h2>Join with an invite link</h2>
          <label htmlFor="invite-link">Invite link</label>
          <textarea
            id="invite-link"
            rows={3}
            spellCheck={false}
            autoComplete="off"
            placeholder="tsunagu://join?v=1&domain=…"
            value={link}
            aria-describedby="join-hint"
            onChange={(e) => {
              setLink(e.target.value);
              setInvalid(undefined);
              join.clear();
            }}
          />
          <div id="join-hint" aria-live="polite">
            {parsed && !(parsed instanceof Error) ? (
              <p className="join-check" data-testid="join-check">
                You will join as <strong>{`${parsed.user}@${parsed.domain}`}</strong>. Checking server{' '}
                <strong>{parsed.server}</strong> against CA fingerprint{' '}
                <code className="fingerprint">{parsed.caFingerprint}</code>
              </p>
            ) : parsed instanceof Error && !invalid ? (
              <p className="muted">{parsed.message}</p>
            ) : null}
          </div>
          {invalid ? <ErrorMessage>{invalid}</ErrorMessage> : null}
          {join.error ? <ErrorMessage>{join.error}</ErrorMessage> : null}
          <button type="submit" className="button-primary" disabled={busy}>
            {join.busy ? 'Joining…' : 'Join'}
          </button>
        </form>

        <div className="divider" role="separator" />

        <section className="stack" aria-labelledby="local-title">
          <h2 id="local-title">Just trying it out?</h2>
          <p className="muted">
            Run a session server on this computer and join it as its first user. It listens on this computer
            only; for a team, run <code>tsunagu-server</code> on a machine everyone can reach.
          </p>
          {local.error ? <ErrorMessage>{local.error}</ErrorMessage> : null}
          <button
            type="button"
            disabled={busy}
            onClick={() => void local.run(() => bridge.call('account.startLocalServer', {}))}
          >
            {local.busy ? 'Starting the server…' : 'Start a server on this computer'}
          </button>
        </section>
      </div>
    </main>
  );
}
