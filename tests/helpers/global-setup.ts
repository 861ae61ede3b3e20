import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../../infra/paths.ts';
import { startEmbeddedPostgres } from '../../scripts/local/database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL URL whose user may create databases; each test file makes its own. */
    adminDatabaseUrl: string;
  }
}

/**
 * Tests run against `DATABASE_URL` when set (CI: the machine's PostgreSQL server); otherwise an
 * embedded PostgreSQL is started for the run, so `npm test` works on a fresh machine.
 */
export default async function setup(project: TestProject) {
  const given = process.env.DATABASE_URL;
  if (given) {
    project.provide('adminDatabaseUrl', given);
    return;
  }
  const db = await startEmbeddedPostgres({
    dataDir: path.join(ROOT, '.data', 'test'),
    port: Number(process.env.TEST_PG_PORT ?? 54330),
    database: 'postgres',
  });
  project.provide('adminDatabaseUrl', db.url);
  return () => db.stop();
}
