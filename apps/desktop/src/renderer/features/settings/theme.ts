/**
 * Light and dark themes: the OS preference by default (CSS `prefers-color-scheme`), or the person's
 * choice, kept in localStorage and applied as `data-theme` on <html> (an attribute, so the CSP needs
 * no inline styles).
 */

export type ThemeChoice = 'system' | 'light' | 'dark';
export const THEME_KEY = 'tsunagu.theme';

export function loadTheme(storage: Pick<Storage, 'getItem'> = localStorage): ThemeChoice {
  try {
    const v = storage.getItem(THEME_KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system'; // storage disabled: follow the OS
  }
}

export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): void {
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
}

export function saveTheme(
  choice: ThemeChoice,
  storage: Pick<Storage, 'setItem' | 'removeItem'> = localStorage,
): void {
  try {
    if (choice === 'system') storage.removeItem(THEME_KEY);
    else storage.setItem(THEME_KEY, choice);
  } catch {
    /* not kept across restarts; still applied now */
  }
  applyTheme(choice);
}
