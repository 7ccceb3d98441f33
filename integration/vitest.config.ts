import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.build/**'],
    globalSetup: ['./global-setup.ts'],
    // Each file starts its own server on free ports with its own data
    // directory, so files run in parallel safely; tests inside a file run in order.
    fileParallelism: true,
    testTimeout: 15_000,
    // beforeAll starts a server (START_TIMEOUT_MS in server.ts) and afterAll
    // waits for a graceful stop (STOP_TIMEOUT_MS).
    hookTimeout: 30_000,
    teardownTimeout: 15_000,
    pool: 'forks',
  },
});
