// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/*.tmp.ts',
      '**/dist/**',
      '**/node_modules/**',
      'apps/desktop/out/**',
      'bench/out/**',
      'test-results/**',
      'e2e/playwright-report/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      // Rejecting control characters in names and headers is the point of those expressions.
      'no-control-regex': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'Only apps/desktop main and preload may import electron.' }] },
      ],
    },
  },
  {
    // The Electron shell may use electron's types everywhere, but only its two entry points import it as a
    // value: every other module takes Electron objects as arguments and is tested in plain Node, where a
    // value import would try to download the binary.
    files: ['apps/desktop/src/main/**', 'apps/desktop/src/preload/**'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              allowTypeImports: true,
              message:
                'Only main/index.ts and preload/index.ts import electron as a value; pass Electron objects in.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['apps/desktop/src/main/index.ts', 'apps/desktop/src/preload/index.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
  {
    // Playwright reads a test's fixtures from its first parameter: `async ({}, testInfo)` is its idiom.
    files: ['e2e/**/*.ts'],
    rules: { 'no-empty-pattern': 'off' },
  },
);
