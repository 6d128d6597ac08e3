/**
 * The web GUI's access token. `tsunagu gui` prints `http://127.0.0.1:PORT/#token=…`: the fragment never
 * reaches a server log or a Referer. The page keeps the token for this tab only (sessionStorage) and
 * removes it from the address bar so it is not bookmarked or shared by accident.
 */

export const TOKEN_KEY = 'tsunagu.token';
const TOKEN = /^[A-Za-z0-9_-]{16,512}$/;

interface PageAccess {
  location: Pick<Location, 'hash' | 'pathname' | 'search'>;
  history: Pick<History, 'replaceState'>;
  sessionStorage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
}

function fromFragment(hash: string): string | undefined {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('token') ?? undefined;
  return token !== undefined && TOKEN.test(token) ? token : undefined;
}

/** The token from the URL fragment (then stored, and the fragment removed) or from this tab's storage. */
export function takeAccessToken(page: PageAccess): string | undefined {
  const fromUrl = fromFragment(page.location.hash);
  if (page.location.hash !== '') {
    page.history.replaceState(null, '', `${page.location.pathname}${page.location.search}`);
  }
  if (fromUrl) {
    page.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    return fromUrl;
  }
  const stored = page.sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  return stored !== undefined && TOKEN.test(stored) ? stored : undefined;
}

export function storeAccessToken(page: Pick<PageAccess, 'sessionStorage'>, token: string | undefined): void {
  if (token) page.sessionStorage.setItem(TOKEN_KEY, token);
  else page.sessionStorage.removeItem(TOKEN_KEY);
}

export type AccessInput = { token: string } | { navigate: string } | { error: string };

/**
 * What the person pasted on the access screen: the whole link or just the token. A link to another
 * daemon (another port) is followed rather than its token tried here.
 */
export function readAccessInput(text: string, currentOrigin: string): AccessInput {
  const s = text.trim();
  if (s === '') return { error: 'Paste the link that `tsunagu gui` printed.' };
  if (TOKEN.test(s)) return { token: s };
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return { error: 'That is neither an access link (http://127.0.0.1:PORT/#token=…) nor a token.' };
  }
  const token = fromFragment(url.hash);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !token) {
    return { error: 'That link has no access token: expected http://127.0.0.1:PORT/#token=…' };
  }
  return url.origin === currentOrigin ? { token } : { navigate: url.href };
}
