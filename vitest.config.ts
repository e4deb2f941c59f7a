import { defineConfig } from 'vitest/config';

// Tests drive real processes (ptrace, chDB, Jupyter, compilers, Chromium): generous timeouts,
// forked workers rather than threads (ptrace and chDB belong to a process, not a worker thread),
// and one test file at a time: the multi-threaded replays were seen to stall when Chromium and
// Jupyter loaded the same two cores (see README, Limits).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
