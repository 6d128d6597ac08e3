import react from '@vitejs/plugin-react';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * Two projects: the renderer's tests run in happy-dom (a file may still opt into node with a
 * `// @vitest-environment node` comment, as the web bridge tests do to use real sockets); the
 * Electron main/preload tests and `test/` run in node.
 */
const shared = {
  plugins: [react()],
  resolve: { conditions: ['tsunagu-source', ...defaultClientConditions] },
  ssr: { resolve: { conditions: ['tsunagu-source', ...defaultServerConditions] } },
};

export default defineConfig({
  ...shared,
  test: {
    projects: [
      {
        ...shared,
        test: {
          name: 'renderer',
          environment: 'happy-dom',
          include: ['src/renderer/**/*.test.{ts,tsx}'],
          setupFiles: ['src/renderer/app/test-setup.ts'],
        },
      },
      {
        ...shared,
        test: {
          name: 'node',
          environment: 'node',
          include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.ts'],
          exclude: ['src/renderer/**', '**/node_modules/**'],
        },
      },
    ],
  },
});
