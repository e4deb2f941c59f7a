import { defineConfig } from 'vitest/config';

// Tests drive real processes (ptrace, chDB, Jupyter, compilers): generous timeouts, and forked
// workers rather than threads (ptrace and chDB belong to a process, not a worker thread).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
