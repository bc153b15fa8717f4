/**
 * Three tiers share one config: unit specs live next to the code (including bench/, deploy/ and scripts/, whose specs check
 * that docs/results/*.md are the renderings of their committed JSON), integration and e2e under test/.
 */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
  },
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@flotilla/algorithms$': '<rootDir>/libs/algorithms/src/index.ts',
    '^@flotilla/contracts$': '<rootDir>/libs/contracts/src/index.ts',
    '^@flotilla/dataset-files$': '<rootDir>/libs/dataset-files/src/index.ts',
  },
};
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/apps/**/*.spec.ts',
        '<rootDir>/bench/**/*.spec.ts',
        '<rootDir>/scripts/**/*.spec.ts',
        '<rootDir>/deploy/**/*.spec.ts',
      ],
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
    },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'] },
  ],
};
