import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';

/** One numbered migration file from `sql/`. */
export interface Migration {
  /** Numeric prefix of the file name, e.g. 1 for `0001_init.sql`. */
  version: number;
  name: string;
  sql: string;
}

/**
 * Read `NNNN_name.sql` files from a directory, sorted by number; rejects duplicate numbers. A gap is
 * allowed: a number may be reserved for a migration still on another branch, and `migrate` applies
 * whatever is not recorded yet, in order, when it arrives.
 */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const version = Number(file.slice(0, 4));
    const previous = migrations.at(-1);
    if (version < 1 || (previous && version === previous.version))
      throw new Error(
        `Migration ${file}: number ${version} is taken by ${previous?.name ?? 'nothing'}; fix the numbering`,
      );
    migrations.push({ version, name: file, sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return migrations;
}

/**
 * Arbitrary but fixed key for the migration advisory lock. Two processes migrating at once (two
 * `npm start`s, a deploy and a local run) serialize on it; the second finds everything applied.
 */
const MIGRATION_LOCK_KEY = 726_354_001;

/**
 * Apply every migration not yet recorded in `schema_migrations`, each in its own transaction, in
 * order, under a session advisory lock. Returns the names applied by this call.
 */
export async function migrate(client: pg.ClientBase, migrations: Migration[]): Promise<string[]> {
  const applied: string[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
      } catch (e: unknown) {
        await client.query('ROLLBACK');
        throw new Error(`Migration ${m.name} failed and was rolled back: ${(e as Error).message}`, {
          cause: e,
        });
      }
      applied.push(m.name);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
  return applied;
}
