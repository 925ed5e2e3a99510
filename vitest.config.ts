import { defineConfig } from 'vitest/config';

/**
 * Two projects, run in this order by `npm test` (see docs/testing.md):
 * - unit: in-process tests beside the code and in test/unit; a short
 *   timeout, so a broken unit shows in seconds, before any process starts;
 * - integration: the real SBC process, sipp, baresip, sipvicious, the bench.
 * `npx vitest run` without --project still runs both.
 */
export default defineConfig({
  test: {
    // Integration tests start real processes and bind real sockets; two cores
    // are all CI has, so keep the number of concurrently running files small.
    maxWorkers: 2,
    fileParallelism: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 10_000,
          hookTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'bench/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
