import { numberEnv, optionalEnv, optionalUrlEnv, requireEnv } from '../shared/env.ts';

/** The reconcile function's own settings (its clients, pool and logger are passed separately). */
export interface ReconcileConfig {
  /** The bucket whose objects are checked against the ledger. */
  bucket: string;
  /** Only keys under this prefix ending with one of the suffixes: what the bucket notifies for. */
  prefix: string;
  suffixes: readonly string[];
  /** The ingest queue the notifications go to. */
  queueUrl: string;
  /** Only objects in the bucket at least this long are reconciled (seconds). */
  graceSeconds: number;
  /** An `in_progress` object without a commit for this long has lost its continuation (seconds). */
  staleSeconds: number;
  /** Keys listed per run, at most. */
  maxObjects: number;
  /** Notifications sent per run, at most. */
  maxNotifications: number;
  /** The bucket's region, written into the notifications (default `us-east-1`). */
  region?: string;
}

/** Defaults when the environment says nothing (the topology's values; a test keeps them equal). */
export const RECONCILE_DEFAULTS = {
  prefix: 'events/',
  suffixes: ['.csv', '.csv.gz', '.csv.zst'],
  graceSeconds: 300,
  staleSeconds: 2 * (6 * 60 + 1),
  maxObjects: 50_000,
  maxNotifications: 5_000,
} as const;

function positive(name: string, fallback: number, env: NodeJS.ProcessEnv, min = 1): number {
  const value = numberEnv(name, fallback, env);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`Environment variable ${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

/**
 * The reconcile configuration of a deployed function: `BUCKET_NAME` and `QUEUE_URL` (required),
 * `KEY_PREFIX`, `KEY_SUFFIXES` (comma-separated), `RECONCILE_GRACE_SECONDS`,
 * `RECONCILE_STALE_SECONDS`, `RECONCILE_MAX_OBJECTS`, `RECONCILE_MAX_NOTIFICATIONS`, and
 * `AWS_REGION` (set by Lambda). Throws an error naming the variable that is missing or wrong.
 */
export function readReconcileConfig(env: NodeJS.ProcessEnv): ReconcileConfig {
  const queueUrl = optionalUrlEnv('QUEUE_URL', env);
  if (!queueUrl) requireEnv('QUEUE_URL', env);
  const suffixes = (optionalEnv('KEY_SUFFIXES', env) ?? RECONCILE_DEFAULTS.suffixes.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (suffixes.length === 0)
    throw new Error('Environment variable KEY_SUFFIXES must name at least one suffix');
  const region = optionalEnv('AWS_REGION', env);
  return {
    bucket: requireEnv('BUCKET_NAME', env),
    prefix: optionalEnv('KEY_PREFIX', env) ?? RECONCILE_DEFAULTS.prefix,
    suffixes,
    queueUrl: queueUrl as string,
    graceSeconds: positive('RECONCILE_GRACE_SECONDS', RECONCILE_DEFAULTS.graceSeconds, env, 0),
    staleSeconds: positive('RECONCILE_STALE_SECONDS', RECONCILE_DEFAULTS.staleSeconds, env),
    maxObjects: positive('RECONCILE_MAX_OBJECTS', RECONCILE_DEFAULTS.maxObjects, env),
    maxNotifications: positive('RECONCILE_MAX_NOTIFICATIONS', RECONCILE_DEFAULTS.maxNotifications, env),
    ...(region ? { region } : {}),
  };
}
