import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { numberEnv, optionalEnv } from './env.ts';

/** Pool settings that do not say where the database is. */
export interface PoolOptions {
  /** Connections at most (default 4). */
  max?: number;
  /** How long to wait for a connection before failing (default 5000 ms). */
  connectTimeoutMs?: number;
  /** `application_name` of the connections, shown in `pg_stat_activity` (default `ecommerce-pipeline`). */
  applicationName?: string;
}

/** A pool configuration: where (`connection`) plus the pipeline's settings for every pool. */
export function poolConfig(connection: pg.PoolConfig, options: PoolOptions = {}): pg.PoolConfig {
  return {
    max: options.max ?? 4,
    // Fail fast when the database is down so the record is retried by SQS, not by a hung Lambda.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'ecommerce-pipeline',
    ...connection,
  };
}

/**
 * Connection settings of a deployed function, from `DATABASE_URL` (local, LocalStack, an external
 * database) or, on AWS, from the RDS secret named by `DB_SECRET_ARN` with `DB_HOST` pointing at the
 * RDS Proxy. `DB_POOL_MAX` and `DB_CONNECT_TIMEOUT_MS` tune the pool; the connections are named
 * after `POWERTOOLS_SERVICE_NAME`.
 */
export async function resolvePoolConfig(env: NodeJS.ProcessEnv = process.env): Promise<pg.PoolConfig> {
  const options: PoolOptions = {
    max: numberEnv('DB_POOL_MAX', 4, env),
    connectTimeoutMs: numberEnv('DB_CONNECT_TIMEOUT_MS', 5000, env),
    applicationName: env.POWERTOOLS_SERVICE_NAME ?? 'ecommerce-pipeline',
  };
  const url = optionalEnv('DATABASE_URL', env);
  if (url) return poolConfig({ connectionString: url }, options);
  const secretArn = optionalEnv('DB_SECRET_ARN', env);
  if (!secretArn) throw new Error('Set DATABASE_URL, or DB_SECRET_ARN (with DB_HOST) to reach PostgreSQL');
  const secrets = new SecretsManagerClient({});
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  const secret = JSON.parse(out.SecretString ?? '{}') as Record<string, unknown>;
  return poolConfig(
    {
      host: optionalEnv('DB_HOST', env) ?? String(secret.host),
      port: Number(secret.port ?? 5432),
      user: String(secret.username),
      password: String(secret.password),
      database: optionalEnv('DB_NAME', env) ?? String(secret.dbname ?? 'postgres'),
      // RDS Proxy requires TLS; the Lambda runtime trusts the Amazon root CAs.
      ssl: { rejectUnauthorized: true },
    },
    options,
  );
}

/** Create a pool; errors on idle clients (e.g. the server restarted) must not crash the process. */
export function createPool(config: pg.PoolConfig, onIdleError?: (e: Error) => void): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', (e) => onIdleError?.(e));
  return pool;
}

/** A database URL with its password removed, safe to print or log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database url>';
  }
}
