// ESLint (flat config): the recommended JavaScript and typescript-eslint rules (without type
// information, so a run stays fast), over the sources Prettier formats. `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '**/*.generated.ts',
      // AssemblyScript (its own types and decorators), compiled by scripts/build-wasm.mjs
      'engine/codec/wasm/**',
      'engine/analysis/wasm/**',
      'test/fixtures/**',
      'test/golden/**',
      'test/e2e/.cache/**',
      'test/e2e/artifacts/**',
      'test/fuzz/.build/**',
      'test/fuzz/.corpus/**',
      'test/fuzz/.crashes/**',
      'test/fuzz/.results/**',
      'test/fuzz/jazzer-native/**',
      'bench/out/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // `require` is how the CommonJS bundles load optional native or wasm files
      '@typescript-eslint/no-require-imports': 'off',
      // ambient declarations for the node-only projects (engine/codec/webassembly.d.ts) are referenced by path
      '@typescript-eslint/triple-slash-reference': ['error', { path: 'always', types: 'prefer-import', lib: 'always' }],
    },
  },
  { files: ['webview/**'], languageOptions: { globals: { ...globals.browser } } },
);
