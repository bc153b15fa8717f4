// Lint with zero warnings. Module boundaries are enforced by Nx project tags:
//   libs (type:lib) import only libs, never @nestjs/*, @prisma/client, bullmq, ioredis or tfjs-node;
//   apps never import apps; the agent imports no Redis, database or server package.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const forbiddenInLibs = [
  '@nestjs/*',
  '@prisma/client',
  'bullmq',
  'ioredis',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'express',
  'pg',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '.nx/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          enforceBuildableLibDependency: false,
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'], bannedExternalImports: forbiddenInLibs },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            // An agent reaches the coordinator over HTTP(S) only: no broker, no database, no server framework.
            { sourceTag: 'scope:agent', bannedExternalImports: ['bullmq', 'ioredis', '@prisma/client', 'pg', '@nestjs/*', 'express'] },
            // The people's CLI is an HTTP client of the API, like the agent.
            { sourceTag: 'scope:cli', bannedExternalImports: ['bullmq', 'ioredis', '@prisma/client', 'pg', '@nestjs/*', 'express'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
