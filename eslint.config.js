import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'client/dist/', 'node_modules/', 'data/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['test/**', 'bench/**', 'scripts/**', 'client/test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The client package ships alone: of the server it may use only the pure dispatch strategies,
    // which its build bundles (one source of truth, no copy).
    files: ['client/src/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./\\.\\./(?!src/dispatcher/)',
              message: 'client/src may import only src/dispatcher from the server.',
            },
          ],
        },
      ],
    },
  },
);
