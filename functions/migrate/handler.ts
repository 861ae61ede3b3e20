import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { resolvePoolConfig } from '../shared/db.ts';
import { numberEnv } from '../shared/env.ts';
import { isTransientInfraError } from '../shared/errors.ts';
import { loadMigrations, migrate } from '../shared/migrate.ts';
import { type Log, observabilityFromEnv } from '../shared/observability.ts';

/**
 * Deploy-time migration function, invoked once per deploy by a CDK trigger (`infra/stack.ts`) before
 * the ingest function exists. It applies the same numbered `sql/` files as `npm run migrate`; the
 * bundle carries them in `sql/` next to `index.mjs`. A thrown error fails the deployment.
 */

/** Result returned to the trigger (visible in the CloudFormation custom resource's logs). */
export interface MigrateResult {
  applied: string[];
  total: number;
}

/** Where the migrations are and how long to wait for the database. */
export interface MigrateConfig {
  migrationsDir: string;
  /** Keep retrying a database that is not reachable yet for this long (ms) after the start. */
  connectDeadlineMs: number;
}

/** Everything the migrate handler works with. */
export interface MigrateHandlerDeps {
  logger: Log;
  clock: () => number;
  /** Connection settings, resolved per invocation (on AWS a secret is read). */
  connection: () => Promise<pg.ClientConfig>;
  config: MigrateConfig;
}

/** Apply pending migrations and report what was applied. */
export type MigrateHandler = () => Promise<MigrateResult>;

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
 * The migrate configuration of a deployed function: {@link migrationsDir} and
 * `MIGRATE_CONNECT_DEADLINE_MS` (default 90 s, a margin before the function's 180 s timeout).
 */
export function readMigrateConfig(env: NodeJS.ProcessEnv): MigrateConfig {
  return {
    migrationsDir: migrationsDir(env),
    connectDeadlineMs: numberEnv('MIGRATE_CONNECT_DEADLINE_MS', 90_000, env),
  };
}

/**
 * Connect, retrying transient failures until `deadlineMs`: on a first deploy the RDS Proxy can
 * accept TCP before its target is registered, and the first connections are refused.
 */
async function connectWithRetry(
  deps: Pick<MigrateHandlerDeps, 'logger' | 'clock'>,
  config: pg.ClientConfig,
  deadlineMs: number,
): Promise<pg.Client> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client(config);
    try {
      await client.connect();
      return client;
    } catch (e: unknown) {
      await client.end().catch(() => undefined);
      const waitMs = Math.min(1000 * 2 ** (attempt - 1), 10_000);
      if (!isTransientInfraError(e) || deps.clock() + waitMs > deadlineMs) throw e;
      deps.logger.warn('database not reachable yet, retrying', {
        attempt,
        waitMs,
        error: (e as Error).message,
      });
      await sleep(waitMs);
    }
  }
}

/** The migrate function over the given dependencies. */
export function createMigrateHandler(deps: MigrateHandlerDeps): MigrateHandler {
  const { logger, clock, config } = deps;
  return async () => {
    const started = clock();
    const migrations = await loadMigrations(config.migrationsDir);
    const client = await connectWithRetry(deps, await deps.connection(), started + config.connectDeadlineMs);
    try {
      const applied = await migrate(client, migrations);
      logger.info('migrations done', {
        dir: config.migrationsDir,
        applied,
        total: migrations.length,
        durationMs: clock() - started,
      });
      return { applied, total: migrations.length };
    } finally {
      await client.end();
    }
  };
}

let logger: Log | undefined;

/**
 * The Lambda entry point: {@link createMigrateHandler} over the environment the CDK stack sets
 * ({@link readMigrateConfig}; `DATABASE_URL` or `DB_SECRET_ARN`/`DB_HOST`/`DB_NAME`, see
 * `resolvePoolConfig`; `POWERTOOLS_SERVICE_NAME`). Unlike the long-lived handlers it reads the
 * environment on every invocation: it runs once per deploy, and must see the secret as it is then.
 */
export async function handler(): Promise<MigrateResult> {
  const env = process.env;
  logger ??= observabilityFromEnv(env, 'ecommerce-pipeline-migrate').logger;
  return createMigrateHandler({
    logger,
    clock: Date.now,
    connection: () => resolvePoolConfig(env),
    config: readMigrateConfig(env),
  })();
}
