import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Integration tests talk to real PostgreSQL and a real S3/SQS endpoint; give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more workers only add contention on the shared PostgreSQL.
    maxWorkers: 2,
  },
});
