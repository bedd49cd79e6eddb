import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Stand-ins fail the test on any unexpected call or unconsumed script.
    setupFiles: ['test/setup/strict-stand-ins.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
