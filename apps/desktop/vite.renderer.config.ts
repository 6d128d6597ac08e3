import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

/** The dev server's React Refresh preamble is an inline script, which the page's CSP forbids. */
const devWithoutCsp: Plugin = {
  name: 'tsunagu-dev-without-csp',
  apply: 'serve',
  transformIndexHtml: (html) => html.replace(/<meta\s+http-equiv="Content-Security-Policy"[^>]*>/, ''),
};

/**
 * The renderer bundle: one static page that runs both inside Electron (served from app://) and in a
 * browser from the daemon's web GUI. Relative asset URLs (`base: './'`) so either host can serve it from
 * any path; nothing inlined, so the page works under a CSP without `unsafe-inline` or `data:` scripts.
 * No Electron specifics here: electron-vite imports this object for its renderer section.
 */
export default defineConfig({
  root: fileURLToPath(new URL('./src/renderer', import.meta.url)),
  base: './',
  plugins: [react(), devWithoutCsp],
  resolve: {
    // Workspace packages are consumed from their TypeScript sources (as tsc's customConditions do).
    conditions: ['tsunagu-source', ...defaultClientConditions],
  },
  build: {
    outDir: fileURLToPath(new URL('./out/renderer', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
