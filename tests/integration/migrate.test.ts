import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigrateHandler } from '../../functions/migrate/handler.ts';
import { loadMigrations, migrate } from '../../functions/shared/migrate.ts';
import { ROOT } from '../../infra/paths.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { recordingLogger } from '../helpers/factories.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase({ migrate: false });
});
afterAll(async () => {
  await db?.drop();
});

it('applies each migration once, in a transaction, even when several processes migrate at once', async () => {
  const migrations = await loadMigrations(path.join(ROOT, 'sql'));
  const clients = await Promise.all([db.pool.connect(), db.pool.connect(), db.pool.connect()]);
  try {
    const applied = await Promise.all(clients.map((c) => migrate(c, migrations)));
    expect(applied.flat()).toEqual(migrations.map((m) => m.name));
    const again = clients[0];
    expect(again && (await migrate(again, migrations))).toEqual([]);
  } finally {
    for (const c of clients) c.release();
  }
  const { rows } = await db.pool.query('SELECT version, name FROM schema_migrations ORDER BY version');
  expect(rows).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
});

it('rolls back a failing migration completely and reports which one', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mig-'));
  await writeFile(path.join(dir, '0001_ok.sql'), 'CREATE TABLE mig_ok (id int);');
  await writeFile(
    path.join(dir, '0002_bad.sql'),
    'CREATE TABLE mig_half (id int); SELECT no_such_function();',
  );
  // Versions are recorded per database: this one must not have seen sql/0001 already.
  const empty = await freshDatabase({ migrate: false });
  const client = await empty.pool.connect();
  try {
    await expect(migrate(client, await loadMigrations(dir))).rejects.toThrow(
      /0002_bad.sql failed and was rolled back/,
    );
    const tables = await client.query("SELECT to_regclass('mig_ok') AS ok, to_regclass('mig_half') AS half");
    expect(tables.rows[0]).toEqual({ ok: 'mig_ok', half: null });
    const recorded = await client.query('SELECT name FROM schema_migrations');
    expect(recorded.rows).toEqual([{ name: '0001_ok.sql' }]);
  } finally {
    client.release();
    await empty.drop();
  }
});

it('refuses two migrations with one number, and allows a gap (a number reserved for another branch)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mig-'));
  await writeFile(path.join(dir, '0001_a.sql'), 'SELECT 1;');
  await writeFile(path.join(dir, '0003_c.sql'), 'SELECT 1;');
  expect((await loadMigrations(dir)).map((m) => m.version)).toEqual([1, 3]);
  await writeFile(path.join(dir, '0003_d.sql'), 'SELECT 1;');
  await expect(loadMigrations(dir)).rejects.toThrow(/0003_d.sql: number 3 is taken by 0003_c.sql/);
});

it('the migrate function, made by its factory, applies sql/ once and reports what it applied', async () => {
  const target = await freshDatabase({ migrate: false });
  try {
    const logger = recordingLogger();
    const run = createMigrateHandler({
      logger,
      clock: Date.now,
      connection: async () => ({ connectionString: target.url }),
      config: { migrationsDir: path.join(ROOT, 'sql'), connectDeadlineMs: 1000 },
    });
    const first = await run();
    expect(first.applied).toEqual((await loadMigrations(path.join(ROOT, 'sql'))).map((m) => m.name));
    expect(await run()).toEqual({ applied: [], total: first.total });
    expect(logger.lines.filter((l) => l.message === 'migrations done')).toHaveLength(2);
  } finally {
    await target.drop();
  }
});
