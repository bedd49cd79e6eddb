import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Stand-ins fail the test on any unexpected call or unconsumed script.
    setupFiles: ['test/setup/strict-stand-ins.ts'],
    // src/ compiled once for the tests that start the CLI as a child process (run-cli.ts).
    globalSetup: ['test/setup/compile-cli.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Integration tests mostly wait on child processes, sockets and timers: one test file per
    // core (vitest's default is one fewer, so a single file at a time on two cores) leaves the
    // machine two-thirds idle. Three files at a time on two cores keep both busy.
    maxWorkers: Math.max(3, availableParallelism()),
  },
});
