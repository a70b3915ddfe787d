// @ts-check
import tseslint from 'typescript-eslint';

const noVscodeAtRuntime = {
  paths: [{ name: 'vscode', message: 'src/core and src/protocol.ts stay free of vscode at run time (use `import type`).', allowTypeImports: true }],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', '.cache/', '.run/', 'test-results/', 'bench/.tmp/', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './webview/tsconfig.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // The pure core: no vscode, and nothing from the layers above it (protocol, view, adapters, extension).
    files: ['src/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        ...noVscodeAtRuntime,
        patterns: [{ regex: '^(\\.\\./)+(protocol|view/|vscode/|extension)', message: 'src/core/ imports nothing from protocol, view, vscode adapters or extension: those layers build on the core.' }],
      }],
    },
  },
  {
    // The view layer (presentation of session events as protocol messages): pure, no vscode, no adapters.
    files: ['src/view/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'src/view/ is vscode-free: it is unit-tested without VS Code.' }],
        patterns: [{ regex: '^(\\.\\./)+(vscode/|extension)', message: 'src/view/ does not import the vscode adapters.' }],
      }],
    },
  },
  {
    files: ['src/protocol.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        ...noVscodeAtRuntime,
        patterns: [{ regex: '^\\./(view/|vscode/|extension)', message: 'protocol.ts is the shared contract: it may use core types, nothing from the view or adapters.' }],
      }],
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'undici', 'eventsource-parser', 'preact', 'preact/*'], message: 'protocol.ts is shared by host and webview.' }] }],
    },
  },
  {
    files: ['webview/**/*.ts', 'webview/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'The webview has no vscode module; talk to the host through the protocol.' }],
          patterns: [
            { regex: '^\\.\\./(\\.\\./)*src/(?!protocol$|core/chats/chat$|core/chats/chatTree$|core/base/errors$|core/base/ids$|core/base/format$)', message: 'webview/ imports only src/protocol.ts (and the plain data types it uses) from the host.' },
            { group: ['node:*'], message: 'The webview runs in a browser.' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'test/**/*.tsx', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
