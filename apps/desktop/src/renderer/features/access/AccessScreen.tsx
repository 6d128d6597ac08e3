import { useState, type FormEvent } from 'react';
import { readAccessInput } from '../../bridge/access';
import { useBridge } from '../../app/context';
import { ErrorMessage } from '../../components/Notice';

/**
 * Web GUI only: the page has no access token, or the daemon refused it (it restarted, and tokens live
 * for one daemon run).
 *
 * Test hooks: heading "Access link needed" / "Access link expired"; field labelled "Access link";
 * button "Connect".
 */
export function AccessScreen({ reason }: { reason: 'missing' | 'rejected' }) {
  const bridge = useBridge();
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const input = readAccessInput(text, window.location.origin);
    if ('error' in input) setError(input.error);
    else if ('navigate' in input) window.location.assign(input.navigate);
    else bridge.useAccessToken?.(input.token);
  };

  return (
    <main className="centered-screen">
      <div className="card">
        <h1>{reason === 'rejected' ? 'Access link expired' : 'Access link needed'}</h1>
        {reason === 'rejected' ? (
          <p role="alert">
            The access link expired or is wrong — the daemon restarted? Get a new link with{' '}
            <code>tsunagu gui</code>.
          </p>
        ) : (
          <p>
            This page needs its access link. Run <code>tsunagu gui --profile DIR</code> on the computer
            running the daemon and open the link it prints.
          </p>
        )}
        <form onSubmit={submit} className="stack">
          <label htmlFor="access-link">Access link</label>
          <input
            id="access-link"
            type="text"
            autoComplete="off"
            spellCheck={false}
            placeholder="http://127.0.0.1:PORT/#token=…"
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setError(undefined);
            }}
          />
          {error ? <ErrorMessage>{error}</ErrorMessage> : null}
          <button type="submit" className="button-primary">
            Connect
          </button>
        </form>
      </div>
    </main>
  );
}
