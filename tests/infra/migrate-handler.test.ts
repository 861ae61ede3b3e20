import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler, migrationsDir } from '../../functions/migrate/handler.ts';
import { ROOT } from '../../infra/paths.ts';
import { startPostgres, type TestPostgres } from './postgres.ts';

describe('migrationsDir', () => {
  it('prefers MIGRATIONS_DIR, then sql/ next to the bundle, then the repository', () => {
    const repoSql = path.join(ROOT, 'sql');
    expect(migrationsDir({ MIGRATIONS_DIR: repoSql }, '/nowhere')).toBe(repoSql);
    // A bundle lives in a directory with sql/ beside index.mjs (here: the repo root plays the bundle).
    expect(migrationsDir({}, ROOT)).toBe(repoSql);
    // From source: functions/migrate → ../../sql.
    expect(migrationsDir({}, path.join(ROOT, 'functions', 'migrate'))).toBe(repoSql);
    expect(() => migrationsDir({}, '/nowhere/at/all')).toThrow(/No migrations directory/);
  });
});

/** The deploy-time migration against a real PostgreSQL (embedded; no Docker, no network). */
describe('migrate handler', { timeout: 60_000 }, () => {
  let db: TestPostgres;
  const saved = process.env.DATABASE_URL;
  beforeAll(async () => {
    db = await startPostgres();
    process.env.DATABASE_URL = db.url;
  }, 60_000);
  afterAll(async () => {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
    await db?.stop();
  });

  it('applies every migration once, and nothing on the next deploy', async () => {
    const first = await handler();
    expect(first.applied.length).toBe(first.total);
    expect(first.applied[0]).toMatch(/^0001_/);
    const second = await handler();
    expect(second).toEqual({ applied: [], total: first.total });

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      expect(rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(['user_events', 'rejected_events', 'ingested_objects', 'schema_migrations']),
      );
    } finally {
      await client.end();
    }
  });

  it('fails at once (and so fails the deploy) on a permanent error such as bad credentials', async () => {
    await withEnv({ DATABASE_URL: db.url.replace('postgres:postgres@', 'postgres:wrong@') }, async () => {
      const started = Date.now();
      await expect(handler()).rejects.toThrow(/password/);
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  });

  it('retries an unreachable database until its deadline, then fails', async () => {
    const env = {
      DATABASE_URL: 'postgres://postgres:x@127.0.0.1:1/none',
      MIGRATE_CONNECT_DEADLINE_MS: '2500',
    };
    await withEnv(env, async () => {
      const started = Date.now();
      await expect(handler()).rejects.toThrow(/ECONNREFUSED/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    });
  });
});

/** Run `fn` with some environment variables replaced, restoring them afterwards. */
async function withEnv(vars: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
