import { describe, expect, it, vi } from 'vitest';
import { TOKEN_KEY, readAccessInput, storeAccessToken, takeAccessToken } from './access';

const TOKEN = 'AbCdEfGhIjKlMnOpQrStUv_-0123456789';

function page(hash: string, stored?: string) {
  const storage = new Map<string, string>(stored ? [[TOKEN_KEY, stored]] : []);
  return {
    location: { hash, pathname: '/', search: '' },
    history: { replaceState: vi.fn() },
    sessionStorage: {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => void storage.set(k, v),
      removeItem: (k: string) => void storage.delete(k),
    },
    storage,
  };
}

describe('access token', () => {
  it('takes the token from the fragment, keeps it for the tab and clears the address bar', () => {
    const p = page(`#token=${TOKEN}`);
    expect(takeAccessToken(p)).toBe(TOKEN);
    expect(p.storage.get(TOKEN_KEY)).toBe(TOKEN);
    expect(p.history.replaceState).toHaveBeenCalledWith(null, '', '/');
  });

  it('falls back to the stored token after a reload', () => {
    const p = page('', TOKEN);
    expect(takeAccessToken(p)).toBe(TOKEN);
    expect(p.history.replaceState).not.toHaveBeenCalled();
  });

  it('has none without a fragment or storage, and ignores malformed ones', () => {
    expect(takeAccessToken(page(''))).toBeUndefined();
    expect(takeAccessToken(page('#token=<script>'))).toBeUndefined();
  });

  it('forgets a rejected token', () => {
    const p = page('', TOKEN);
    storeAccessToken(p, undefined);
    expect(p.storage.has(TOKEN_KEY)).toBe(false);
  });

  it('reads a pasted link or bare token', () => {
    const here = 'http://127.0.0.1:8384';
    expect(readAccessInput(`  ${TOKEN} `, here)).toEqual({ token: TOKEN });
    expect(readAccessInput(`${here}/#token=${TOKEN}`, here)).toEqual({ token: TOKEN });
    expect(readAccessInput(`http://127.0.0.1:9999/#token=${TOKEN}`, here)).toEqual({
      navigate: `http://127.0.0.1:9999/#token=${TOKEN}`,
    });
    expect(readAccessInput(`${here}/`, here)).toHaveProperty('error');
    expect(readAccessInput('not a link', here)).toHaveProperty('error');
    expect(readAccessInput('', here)).toHaveProperty('error');
  });
});
