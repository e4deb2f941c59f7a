import { defineConfig } from 'vitest/config';

// Tests drive real processes (ptrace, chDB, Jupyter, compilers, Chromium): generous timeouts,
// forked workers rather than threads (ptrace and chDB belong to a process, not a worker thread),
// and one test file at a time: Chromium and Jupyter beside ptrace-heavy tests on two cores change
// timings more than any user's machine would, and serially the suite takes no longer.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
