import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../scripts/local/runtime.ts';

/** A database of its own for one test file, migrated, dropped at the end. */
export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** Create a fresh database on the test server (see global-setup.ts) and apply `sql/` to it. */
export async function freshDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 6 });
  pool.on('error', () => {});
  if (options.migrate !== false) {
    const client = await pool.connect();
    try {
      await migrate(client, await loadMigrations(path.join(ROOT, 'sql')));
    } finally {
      client.release();
    }
  }
  return {
    url: url.toString(),
    pool,
    drop: async () => {
      await pool.end();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
