import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { resolvePoolConfig } from '../shared/db.ts';
import { numberEnv } from '../shared/env.ts';
import { isTransientInfraError } from '../shared/errors.ts';
import { loadMigrations, migrate } from '../shared/migrate.ts';
import { observability } from '../shared/observability.ts';

/**
 * Deploy-time migration function, invoked once per deploy by a CDK trigger (`infra/stack.ts`) before
 * the ingest function exists. It applies the same numbered `sql/` files as `npm run migrate`; the
 * bundle carries them in `sql/` next to `index.mjs`. A thrown error fails the deployment.
 */

const { logger } = observability('ecommerce-pipeline-migrate');

/** Result returned to the trigger (visible in the CloudFormation custom resource's logs). */
export interface MigrateResult {
  applied: string[];
  total: number;
}

/**
 * Where the migration files are: `MIGRATIONS_DIR` if set, else `sql/` next to the bundle (Lambda),
 * else the repository's `sql/` (running this file from source).
 */
export function migrationsDir(
  env: NodeJS.ProcessEnv = process.env,
  here: string = path.dirname(fileURLToPath(import.meta.url)),
): string {
  const candidates = [env.MIGRATIONS_DIR, path.join(here, 'sql'), path.resolve(here, '../../sql')];
  for (const dir of candidates) if (dir && existsSync(dir)) return dir;
  throw new Error(`No migrations directory found (tried ${candidates.filter(Boolean).join(', ')})`);
}

/**
 * Connect, retrying transient failures until `deadlineMs`: on a first deploy the RDS Proxy can
 * accept TCP before its target is registered, and the first connections are refused.
 */
async function connectWithRetry(config: pg.ClientConfig, deadlineMs: number): Promise<pg.Client> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client(config);
    try {
      await client.connect();
      return client;
    } catch (e: unknown) {
      await client.end().catch(() => undefined);
      const waitMs = Math.min(1000 * 2 ** (attempt - 1), 10_000);
      if (!isTransientInfraError(e) || Date.now() + waitMs > deadlineMs) throw e;
      logger.warn('database not reachable yet, retrying', { attempt, waitMs, error: (e as Error).message });
      await sleep(waitMs);
    }
  }
}

/** Lambda entry point: apply pending migrations and report what was applied. */
export async function handler(): Promise<MigrateResult> {
  const started = Date.now();
  const dir = migrationsDir();
  const migrations = await loadMigrations(dir);
  const config = await resolvePoolConfig();
  // How long to keep retrying the connection; leaves a margin before the Lambda timeout (180 s).
  const client = await connectWithRetry(config, started + numberEnv('MIGRATE_CONNECT_DEADLINE_MS', 90_000));
  try {
    const applied = await migrate(client, migrations);
    logger.info('migrations done', {
      dir,
      applied,
      total: migrations.length,
      durationMs: Date.now() - started,
    });
    return { applied, total: migrations.length };
  } finally {
    await client.end();
  }
}
