import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type pg from 'pg';
import { s3Client, sqsClient } from '../shared/aws.ts';
import { createPool, resolvePoolConfig } from '../shared/db.ts';
import { observabilityFromEnv } from '../shared/observability.ts';
import { type ReconcileConfig, readReconcileConfig } from './config.ts';
import { readCursor, saveCursor } from './ledger.ts';
import { type ReconcileSummary, reconcile } from './reconcile.ts';

export { type ReconcileConfig, readReconcileConfig };

/** Everything the reconcile handler works with; the caller creates (and owns) each of them. */
export interface ReconcileHandlerDeps {
  s3: S3Client;
  sqs: SQSClient;
  /** The pool the ledger is read through; the caller closes it. */
  db: pg.Pool;
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
  config: ReconcileConfig;
}

/** A scheduled handler: one bounded reconciliation run per invocation. */
export type ReconcileHandler = (event: ScheduledEvent, context: Context) => Promise<ReconcileSummary>;

/**
 * The reconcile function over the given dependencies: each invocation lists the next stretch of the
 * bucket (from where the previous run stopped, see `reconcile_cursors`), sends the ingest queue a
 * notification for every object whose notification was lost, and moves the cursor on. It stops
 * listing well before the invocation's deadline. Metrics: `objectsReconciled` (the alarm watches
 * it: above 0 means notifications were lost) and `objectsListed`.
 */
export function createReconcileHandler(deps: ReconcileHandlerDeps): ReconcileHandler {
  const { config } = deps;
  return async (_event, context) => {
    deps.logger.addContext(context);
    const startAfter = await readCursor(deps.db, config.bucket, config.prefix);
    const total = context.getRemainingTimeInMillis();
    const summary = await reconcile(deps, {
      ...config,
      startAfter,
      remainingMs: () => context.getRemainingTimeInMillis(),
      reserveMs: Math.min(30_000, total / 4),
    });
    await saveCursor(
      deps.db,
      config.bucket,
      config.prefix,
      summary.complete ? undefined : summary.nextStartAfter,
    );
    deps.metrics.addMetric('objectsReconciled', MetricUnit.Count, summary.reconciled);
    deps.metrics.addMetric('objectsListed', MetricUnit.Count, summary.listed);
    deps.metrics.publishStoredMetrics();
    const line = { bucket: config.bucket, prefix: config.prefix, startAfter: startAfter ?? null, ...summary };
    // Lost notifications are a fault worth seeing: the objects are ingested now, but something dropped them.
    if (summary.reconciled > 0)
      deps.logger.warn('notifications were lost: objects sent to ingest again', line);
    else deps.logger.info('reconcile run', line);
    return summary;
  };
}

/** What a deployed function builds once from its environment: all but the pool, and how to make it. */
export interface ReconcileEnvironment {
  deps: Omit<ReconcileHandlerDeps, 'db'>;
  /** A new pool as the environment describes it (on AWS this reads a secret); the caller owns it. */
  pool(): Promise<pg.Pool>;
}

/**
 * The reconcile dependencies as the deployed function reads them, from the variables the CDK stack
 * sets: `BUCKET_NAME`, `QUEUE_URL`, `KEY_PREFIX`, `KEY_SUFFIXES`, `RECONCILE_*` (see
 * {@link readReconcileConfig}); `DATABASE_URL`, or `DB_SECRET_ARN` with `DB_HOST` and `DB_NAME`
 * (see `resolvePoolConfig`); `POWERTOOLS_SERVICE_NAME` and `POWERTOOLS_METRICS_NAMESPACE`;
 * `AWS_ENDPOINT_URL` for an emulator. Throws an error naming a variable that is set wrong.
 */
export function readReconcileEnvironment(env: NodeJS.ProcessEnv): ReconcileEnvironment {
  const config = readReconcileConfig(env);
  const { logger, metrics } = observabilityFromEnv(env, 'ecommerce-pipeline-reconcile');
  return {
    deps: { s3: s3Client(env), sqs: sqsClient(env), logger, metrics, clock: Date.now, config },
    pool: async () =>
      createPool(await resolvePoolConfig(env), (e) =>
        logger.warn('idle database connection lost', { error: e.message }),
      ),
  };
}

let container: ReconcileEnvironment | undefined;
let pool: Promise<pg.Pool> | undefined;
let deployed: ReconcileHandler | undefined;

/**
 * The Lambda entry point: {@link createReconcileHandler} applied once per container to dependencies
 * read from the environment; the pool is made on first use, and made again after a failure.
 */
export const handler: ReconcileHandler = async (event, context) => {
  container ??= readReconcileEnvironment(process.env);
  const start = container;
  pool ??= start.pool().catch((e: unknown) => {
    pool = undefined;
    throw e;
  });
  const db = await pool;
  deployed ??= createReconcileHandler({ ...start.deps, db });
  return deployed(event, context);
};
