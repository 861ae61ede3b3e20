import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { numberEnv, optionalEnv } from './env.ts';

/**
 * Connection settings, from `DATABASE_URL` (local, LocalStack, an external database) or, on AWS,
 * from the RDS secret named by `DB_SECRET_ARN` with `DB_HOST` pointing at the RDS Proxy.
 */
export async function resolvePoolConfig(env: NodeJS.ProcessEnv = process.env): Promise<pg.PoolConfig> {
  const max = numberEnv('DB_POOL_MAX', 4, env);
  const base: pg.PoolConfig = {
    max,
    // Fail fast when the database is down so the record is retried by SQS, not by a hung Lambda.
    connectionTimeoutMillis: numberEnv('DB_CONNECT_TIMEOUT_MS', 5000, env),
    idleTimeoutMillis: 30_000,
    application_name: env.POWERTOOLS_SERVICE_NAME ?? 'ecommerce-pipeline',
  };
  const url = optionalEnv('DATABASE_URL', env);
  if (url) return { ...base, connectionString: url };
  const secretArn = optionalEnv('DB_SECRET_ARN', env);
  if (!secretArn) throw new Error('Set DATABASE_URL, or DB_SECRET_ARN (with DB_HOST) to reach PostgreSQL');
  const secrets = new SecretsManagerClient({});
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  const secret = JSON.parse(out.SecretString ?? '{}') as Record<string, unknown>;
  return {
    ...base,
    host: optionalEnv('DB_HOST', env) ?? String(secret.host),
    port: Number(secret.port ?? 5432),
    user: String(secret.username),
    password: String(secret.password),
    database: optionalEnv('DB_NAME', env) ?? String(secret.dbname ?? 'postgres'),
    // RDS Proxy requires TLS; the Lambda runtime trusts the Amazon root CAs.
    ssl: { rejectUnauthorized: true },
  };
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
