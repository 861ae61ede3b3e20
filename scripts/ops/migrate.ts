/** `npm run migrate`: apply the numbered migrations in sql/ to DATABASE_URL. */
import path from 'node:path';
import pg from 'pg';
import { redactUrl } from '../../functions/shared/db.ts';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../infra/paths.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error(
    'Set DATABASE_URL (for the embedded database of npm start: export DATABASE_URL="$(cat .data/database-url)")',
  );
  process.exit(2);
}
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const applied = await migrate(client, await loadMigrations(path.join(ROOT, 'sql')));
  console.log(
    applied.length ? `applied ${applied.join(', ')} to ${redactUrl(url)}` : `${redactUrl(url)} is up to date`,
  );
} finally {
  await client.end();
}
