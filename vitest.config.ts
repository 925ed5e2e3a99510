import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real processes and bind real sockets; two cores
    // are all CI has, so keep the number of concurrently running files small.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
