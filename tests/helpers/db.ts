import { inject } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../scripts/dev/scratch-db.ts';

/** A database of its own for one test file, migrated, dropped at the end. */
export type TestDatabase = ScratchDatabase;

/** Create a fresh database on the test server (see global-setup.ts) and apply `sql/` to it. */
export function freshDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  return createScratchDatabase(inject('adminDatabaseUrl'), {
    prefix: 't',
    migrate: options.migrate,
    poolMax: 6,
  });
}
