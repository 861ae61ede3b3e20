import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../infra/paths.ts';

/** A throwaway database of its own on a shared server (tests, benchmark repetitions). */
export interface ScratchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  /** Close the pool and drop the database. */
  drop(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const SQL_DIR = path.join(ROOT, 'sql');

/**
 * Create a database named `<prefix>_<random hex>` on the server of `adminUrl` (a user that may
 * create databases), optionally as a copy of `template`, and apply `sql/` unless told not to.
 */
export async function createScratchDatabase(
  adminUrl: string,
  options: { prefix: string; template?: string; migrate?: boolean; poolMax?: number },
): Promise<ScratchDatabase> {
  const name = `${options.prefix}_${randomBytes(6).toString('hex')}`;
  const template = options.template;
  // Identifiers cannot be bind parameters: the name is generated here, the template is checked.
  if (!IDENTIFIER.test(name) || (template !== undefined && !IDENTIFIER.test(template))) {
    throw new Error(`Not a plain identifier: ${name} / ${template}`);
  }
  await withAdmin(adminUrl, (admin) =>
    admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`),
  );
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: options.poolMax ?? 4 });
  // Tests and benchmarks kill connections on purpose; an idle client's error must not crash them.
  pool.on('error', () => {});
  if (options.migrate !== false) {
    const client = await pool.connect();
    try {
      await migrate(client, await loadMigrations(SQL_DIR));
    } finally {
      client.release();
    }
  }
  return {
    name,
    url: url.toString(),
    pool,
    drop: async () => {
      await pool.end();
      await dropDatabase(adminUrl, name);
    },
  };
}

/** Drop a database made by {@link createScratchDatabase}, closing any connections it still has. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (!IDENTIFIER.test(name)) throw new Error(`Not a plain identifier: ${name}`);
  await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
