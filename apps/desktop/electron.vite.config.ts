import { defineConfig } from 'electron-vite';
import renderer from './vite.renderer.config.js';

/**
 * Builds the desktop app into `out/`: `main/index.js` (ESM), `preload/index.cjs` and `renderer/`.
 * Needs no Electron binary.
 */
export default defineConfig({
  main: {
    build: {
      // Dependencies are loaded from node_modules at run time, never bundled: the terminal (with the
      // native better-sqlite3 below it) and pino, which the terminal brings along.
      externalizeDeps: { include: ['pino'] },
    },
  },
  preload: {
    build: {
      // A sandboxed preload can require only `electron` and a few builtins: bundle everything else,
      // and emit CommonJS, because sandboxed preloads are run as plain scripts, without ESM.
      externalizeDeps: false,
      rolldownOptions: { output: { format: 'cjs', entryFileNames: '[name].cjs' } },
    },
  },
  renderer,
});
