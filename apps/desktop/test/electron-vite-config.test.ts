// @vitest-environment node
import type { UserConfig } from 'electron-vite';
import { describe, expect, it } from 'vitest';
import config from '../electron.vite.config.js';

const { main, preload, renderer } = config as UserConfig;

describe('electron.vite.config', () => {
  it('emits the preload as CommonJS index.cjs and bundles everything but electron into it', () => {
    expect(preload?.build?.rolldownOptions?.output).toMatchObject({
      format: 'cjs',
      entryFileNames: '[name].cjs',
    });
    expect(preload?.build?.externalizeDeps).toBe(false);
  });

  it('keeps the terminal, native modules and pino out of the main bundle', () => {
    expect(main?.build?.externalizeDeps).toEqual({ include: ['pino'] });
  });

  it('reuses the renderer build of the web GUI', async () => {
    const { default: web } = await import('../vite.renderer.config.js');
    expect(renderer).toBe(web);
  });
});
